/**
 * The chaos drill's activities (workflows/chaos.ts), served by the chaos workers (workers/chaos.ts)
 * on their own queue. Each is idempotent and says why:
 *  - beginDrill: the target's lock and the ledger entry are keyed on the drill id (a retry finds its own);
 *  - injectFault: never injects twice — a retry finds the first attempt's mark and reports it interrupted;
 *  - drillGate: reads only;
 *  - rollbackDrill: every undo acts only while the fault's effect is still there;
 *  - recordDrill: sets the entry's final fields, the backlog item by its card's id, releases its own lock.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Db } from 'mongodb';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { DrillBaseline, DrillResult, GateName, GateResult, InjectionResult, RollbackResult } from '../contracts/chaos';
import { CHAOS_LOCKS_COLLECTION, EVIDENCE_COLLECTION, INCIDENTS_COLLECTION } from '../src/clients/collections';
import { cardKernel, targetKey, type ChaosCard } from '../src/chaos/cards/format';
import * as faults from '../src/chaos/faults';
import type { FaultContext, Injected, Undo } from '../src/chaos/faults';
import { declareDrill, endDrill } from '../src/chaos/drills';
import { failingProbes } from '../src/chaos/harness/probes';
import { rollback } from '../src/chaos/harness/rollback';
import { backlogIdOf, closeDrillBacklog, ledger, openDrillBacklog, type JournalEntry } from '../src/chaos/harness/ledger';
import { assertArchiveHolds } from '../src/chaos/verify-bus';
import { immutableLogClient } from '../kernels/registry';
import { connectBus } from '../src/clients/bus';
import { errorText } from '../src/domain/errors';
import { incidentIdOf, type Incident } from '../contracts/incident';
import type { KernelName } from '../src/domain/kernels';
import type { ActivityDeps } from './index';
import { heartbeat, heartbeatWhile } from './actions/context';

const TELEMETRY_STREAM = 'LAYER1_TELEMETRY';
const TELEMETRY_ARCHIVE = 'telemetry_archive';
const CANARY_SUBJECT = 'telemetry.layer1.chaos.canary';
/**
 * A gate asks again after POLL_MS, then half as long again each time up to POLL_MAX_MS. Each ask
 * reads the drill's evidence, a scan of the collection on FerretDB: at 200 ms throughout, a gate of
 * a minute kept the store busy on one of a CI machine's two cores. Detection is timed from the
 * evidence's first sighting, not from the ask; recovery to within POLL_MAX_MS.
 */
const POLL_MS = 200;
const POLL_MAX_MS = 1_000;

/** Injections still held by this process, so a rollback here can also stop what runs in it (timers). */
const held = new Map<string, Injected>();

const sha256Of = (file: string): string | null => {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return null;
  }
};

/** The file an undo is about (a folder's package.json for a moved package), for the before/after hashes. */
function fileOf(u: Undo): string | null {
  if (u.kind === 'unflip' || u.kind === 'write_back') return u.file;
  if (u.kind === 'move_back') return path.join(u.dir, 'package.json');
  return null;
}

async function publishCanary(deps: ActivityDeps, drillId: string, when: string): Promise<number | null> {
  try {
    const nc = await connectBus(deps.config, { name: `layer1-chaos-canary` });
    try {
      const ack = await jetstream(nc).publish(CANARY_SUBJECT, JSON.stringify({ drill: drillId, when }), { msgID: `${drillId}:${when}` });
      return ack.seq;
    } finally {
      await nc.close();
    }
  } catch {
    return null;
  }
}

/** Each canary is still in the stream (to be delivered) or in the archive (discarded by a drain). */
async function canariesKept(deps: ActivityDeps, seqs: readonly number[]): Promise<string | null> {
  if (seqs.length === 0) return null;
  const nc = await connectBus(deps.config, { name: 'layer1-chaos-canary-check' });
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const missing: number[] = [];
    for (const seq of seqs) {
      const found = await jsm.streams.getMessage(TELEMETRY_STREAM, { seq }).then((m) => m !== null, () => false);
      if (!found) missing.push(seq);
    }
    if (missing.length === 0) return null;
    try {
      assertArchiveHolds(deps.config, TELEMETRY_STREAM, TELEMETRY_ARCHIVE, missing);
      return null;
    } catch (err) {
      return `canary message(s) ${missing.join(', ')} neither in ${TELEMETRY_STREAM} nor archived: ${(err as Error).message}`;
    }
  } finally {
    await nc.close();
  }
}

async function acquireTarget(db: Db, key: string, drillId: string, untilMs: number): Promise<string | null> {
  const locks = db.collection<{ _id: string; drillId: string; until: Date }>(CHAOS_LOCKS_COLLECTION);
  // An expired lock (its drill was terminated, not ended) is taken over.
  await locks.deleteOne({ _id: key, until: { $lt: new Date() } });
  try {
    await locks.insertOne({ _id: key, drillId, until: new Date(untilMs) });
    return null;
  } catch (err) {
    if ((err as { code?: number }).code !== 11000) throw err;
    const holder = await locks.findOne({ _id: key });
    return holder && holder.drillId !== drillId ? `a drill of ${key} is running: ${holder.drillId} (until ${holder.until.toISOString()})` : null;
  }
}

export function createChaosActivities(deps: ActivityDeps) {
  const { db } = deps;
  const ctx = { config: deps.config, pm: deps.pm, db: deps.db, temporal: deps.temporal };

  return {
    async beginDrill(input: { card: ChaosCard; drillId: string; trigger: string }): Promise<DrillBaseline> {
      const { card, drillId } = input;
      const fail = (outcome: DrillBaseline['outcome'], reason: string): DrillBaseline => ({ ok: false, reason, outcome, logHead: null, canaries: [], files: [] });
      const busy = await acquireTarget(db, targetKey(card), drillId, Date.now() + 30 * 60_000);
      if (busy) return fail('busy', busy);
      await ledger(db).updateOne(
        { _id: drillId },
        { $setOnInsert: { card: card.id, risk: card.risk, target: targetKey(card), trigger: input.trigger, startedAt: new Date(), endedAt: null, state: 'running', ok: null, result: null, gates: [], rollback: null, timeToDetectMs: null, timeToRecoverMs: null, injection: null, backlog: null, files: [], journal: [] } },
        { upsert: true },
      );
      const failing = await heartbeatWhile(failingProbes(ctx, card.steadyState));
      if (failing.length > 0) {
        await db.collection(CHAOS_LOCKS_COLLECTION).deleteOne({ _id: targetKey(card) as never, drillId });
        return fail('not_steady', `the steady state does not hold: ${failing.join('; ')}`);
      }
      const logHead = await immutableLogClient(deps.config, 10_000).head().then((h) => h.seq, () => null);
      const canary = await publishCanary(deps, drillId, 'before');
      const targetProcess = 'process' in card.target ? card.target.process : null;
      await declareDrill(db, { id: drillId, kernel: cardKernel(card) as KernelName | null, process: targetProcess, card: card.id, durationMs: 30 * 60_000 });
      return { ok: true, reason: null, outcome: null, logHead, canaries: canary === null ? [] : [canary], files: [] };
    },

    /** Never injects twice (see the module comment). */
    async injectFault(input: { card: ChaosCard; drillId: string }): Promise<InjectionResult> {
      return injectOnce(deps, input.card, input.drillId);
    },

    async drillGate(input: { card: ChaosCard; drillId: string; gate: GateName; injectedAt: number; deadline: number; baseline: DrillBaseline; detected: GateResult['evidence'] | null }): Promise<GateResult> {
      let last = 'not checked';
      // Recovery is watched from the injection on: "ready again" counts once the fault has shown,
      // to the probes themselves or as the drill's evidence, not in the instant before it bites.
      let faultShown = input.gate !== 'recovered';
      for (let pause = POLL_MS; ; pause = Math.min(POLL_MAX_MS, Math.round(pause * 1.5))) {
        heartbeat({ gate: input.gate, last });
        // Heartbeats while the round runs: a full verify of a big log can outlast the heartbeat timeout.
        let verdict: Verdict = await heartbeatWhile(gateOnce(deps, input)).catch((err: unknown) => ({ ok: false as const, detail: errorText(err), evidence: undefined }));
        if (!verdict.ok) faultShown = true;
        else if (!faultShown && (await tagged(deps, input.drillId, input.card.expect.evidence)).length > 0) faultShown = true;
        else if (!faultShown) verdict = { ok: false, detail: 'the fault has not shown yet (its probes hold, no evidence)' };
        if (verdict.ok) return { name: input.gate, ok: true, ms: Date.now() - input.injectedAt, detail: verdict.detail, ...(verdict.evidence ? { evidence: verdict.evidence } : {}) };
        last = verdict.detail;
        if (Date.now() >= input.deadline) {
          return { name: input.gate, ok: false, ms: Date.now() - input.injectedAt, detail: `not within ${input.deadline - input.injectedAt} ms of the injection: ${last}`, ...(verdict.evidence ? { evidence: verdict.evidence } : {}) };
        }
        await new Promise((r) => setTimeout(r, pause));
      }
    },

    async rollbackDrill(input: { card: ChaosCard; drillId: string }): Promise<RollbackResult> {
      const local = held.get(input.drillId);
      held.delete(input.drillId);
      const notes: string[] = [];
      if (local) await local.restore().then(() => notes.push('restored in the injecting process'), (err: unknown) => notes.push(`in-process restore failed: ${errorText(err)}`));
      const entry = await ledger(db).findOne({ _id: input.drillId });
      const steps = await heartbeatWhile(rollback(ctx, (entry?.journal ?? []).map((j) => j.undo)));
      await endDrill(db, input.drillId);
      const ok = steps.every((s) => s.ok);
      const detail = [...notes, ...steps.map((s) => `${s.undo}: ${s.detail}`)].join('; ') || 'nothing to undo (the fault leaves nothing to put back)';
      return { ok, detail, steps };
    },

    async recordDrill(input: { card: ChaosCard; result: DrillResult; baseline: DrillBaseline | null }): Promise<{ backlog: DrillResult['backlog']; files: DrillResult['files'] }> {
      return recordEnd(deps, input.card, input.result);
    },
  };
}

async function injectOnce(deps: ActivityDeps, card: ChaosCard, drillId: string): Promise<InjectionResult> {
  const { db } = deps;
  const entry = await ledger(db).findOne({ _id: drillId });
  if (entry?.injection?.startedAt) {
    return { ok: false, interrupted: true, at: null, detail: `interrupted: the worker running this injection (begun ${entry.injection.startedAt.toISOString()}) was lost; not injected again, rolled back from its journal` };
  }
  await ledger(db).updateOne({ _id: drillId }, { $set: { injection: { ok: false, detail: 'injecting', at: null, startedAt: new Date() } } });
  // Written before each act, so any worker can undo what this one did (src/chaos/harness/rollback.ts).
  const journal = async (undo: Undo): Promise<void> => {
    const file = fileOf(undo);
    const j: JournalEntry = { undo, file, before: file ? sha256Of(file) : null };
    await ledger(db).updateOne({ _id: drillId }, { $push: { journal: j } });
  };
  const fctx: FaultContext = { config: deps.config, pm: deps.pm, db, temporal: deps.temporal, journal };
  const injector = faults[card.injection.fault] as (c: FaultContext, p?: object) => Promise<Injected>;
  try {
    const injected = await heartbeatWhile(injector(fctx, card.injection.params));
    // The gates time from the fault in place (a fill or a stress takes seconds to inject).
    const at = Date.now();
    held.set(drillId, injected);
    await ledger(db).updateOne({ _id: drillId }, { $set: { 'injection.ok': true, 'injection.detail': injected.detail, 'injection.at': at } });
    return { ok: true, detail: injected.detail, at };
  } catch (err) {
    const detail = `injection failed: ${errorText(err)}`;
    await ledger(db).updateOne({ _id: drillId }, { $set: { 'injection.detail': detail } });
    return { ok: false, detail, at: null };
  }
}

/** The entry's final fields; the card's backlog item opened (a failed drill) or closed (a passed one); the target's lock released. */
async function recordEnd(deps: ActivityDeps, card: ChaosCard, result: DrillResult): Promise<{ backlog: DrillResult['backlog']; files: DrillResult['files'] }> {
  const { db } = deps;
  const entry = await ledger(db).findOne({ _id: result.drillId });
  const files = (entry?.journal ?? []).filter((j) => j.file).map((j) => ({ file: j.file as string, before: j.before, after: sha256Of(j.file as string) }));
  let backlog: DrillResult['backlog'] = null;
  if (result.result === 'passed') {
    if (await closeDrillBacklog(db, card.id, result.drillId)) backlog = { id: backlogIdOf(card.id), action: 'closed' };
  } else if (result.result !== 'busy' && result.result !== 'not_steady') {
    backlog = { id: await openDrillBacklog(db, card.id, card.risk, result), action: 'opened' };
  }
  const { ok, gates, rollback: rolledBack, timeToDetectMs, timeToRecoverMs, injection } = result;
  await ledger(db).updateOne(
    { _id: result.drillId },
    { $set: { ok, result: result.result, gates, rollback: rolledBack, timeToDetectMs, timeToRecoverMs, injection: injection ? { ...injection, ...(entry?.injection?.startedAt ? { startedAt: entry.injection.startedAt } : {}) } : null, startedAt: new Date(result.startedAt), endedAt: new Date(result.endedAt), state: 'ended', backlog, files } },
  );
  if (result.result !== 'busy') await db.collection(CHAOS_LOCKS_COLLECTION).deleteOne({ _id: targetKey(card) as never, drillId: result.drillId });
  return { backlog, files };
}

export type ChaosActivities = ReturnType<typeof createChaosActivities>;

type Verdict = { ok: boolean; detail: string; evidence?: Record<string, string | number | null> };

interface TaggedEvidence {
  _id: string;
  kind: string;
  signature: string;
  firstSeen: Date;
  dispatch?: { outcome: string; workflowId?: string; runId?: string };
}

function tagged(deps: ActivityDeps, drillId: string, kinds: readonly string[]) {
  return deps.db.collection<TaggedEvidence>(EVIDENCE_COLLECTION).find({ 'data.drill_id': drillId, kind: { $in: [...kinds] } }).sort({ firstSeen: 1 }).toArray();
}

async function incidentGate(deps: ActivityDeps, card: ChaosCard, drillId: string): Promise<Verdict> {
  const seen = await tagged(deps, drillId, card.expect.evidence);
  const runIds = [...new Set(seen.flatMap((e) => (e.dispatch?.outcome === 'incident' && e.dispatch.runId ? [e.dispatch.runId] : [])))];
  if (runIds.length === 0) {
    return { ok: false, detail: `no incident opened for the drill's evidence (${seen.map((e) => `${e.kind}: ${e.dispatch?.outcome ?? 'not dispatched'}`).join(', ') || 'none'})` };
  }
  // By `_id`, one read each: the only filter FerretDB on SQLite does not answer by scanning the
  // collection, and this gate asks every poll.
  const incidents = (await Promise.all(runIds.map((r) => deps.db.collection<Incident & { _id: string }>(INCIDENTS_COLLECTION).findOne({ _id: incidentIdOf(r) })))).filter(
    (i): i is NonNullable<typeof i> => i !== null && runIds.includes(i.runId),
  );
  const [kind, name] = card.expect.remedy.startsWith('fix:') ? ['fix', card.expect.remedy.slice(4)] : ['playbook', card.expect.remedy];
  // Started: the incident records a playbook's run when it ends (a remedy of minutes, as archiving a
  // full log is, would outlast the gate), and is `remedying` with it chosen from the moment it starts.
  const started = (i: Incident): boolean => Boolean(i.remedy?.runId) || i.state === 'remedying';
  const match = incidents.find((i) => i.remedy?.kind === kind && i.remedy.name === name && started(i) && (!card.expect.signature || i.signature === card.expect.signature));
  if (!match) {
    const seenRemedies = incidents.map((i) => `${i.id} (${i.signature}): ${i.remedy ? `${i.remedy.kind} ${i.remedy.name}${started(i) ? '' : ' not started'}` : `no remedy yet, ${i.state}`}`);
    return { ok: false, detail: `no incident with the remedy ${card.expect.remedy} started: ${seenRemedies.join('; ') || 'incident not recorded yet'}` };
  }
  return { ok: true, detail: `incident ${match.id} (${match.signature}): ${match.remedy!.kind} ${match.remedy!.name} started`, evidence: { incident: match.id, signature: match.signature, remedyRun: match.remedy!.runId } };
}

async function gateOnce(deps: ActivityDeps, input: { card: ChaosCard; drillId: string; gate: GateName; injectedAt: number; baseline: DrillBaseline }): Promise<Verdict> {
  const ctx = { config: deps.config, pm: deps.pm, db: deps.db, temporal: deps.temporal };
  const { card } = input;
  switch (input.gate) {
    case 'detected': {
      const [first] = await tagged(deps, input.drillId, card.expect.evidence);
      if (!first) return { ok: false, detail: `no ${card.expect.evidence.join('/')} evidence tagged with the drill` };
      // Seen before the injection ended (a fill crossing the threshold on its way) counts as 0.
      const detectMs = Math.max(0, first.firstSeen.getTime() - input.injectedAt);
      return { ok: true, detail: `${first.kind} (${first.signature}) seen ${detectMs} ms after the injection`, evidence: { evidence: first._id, kind: first.kind, signature: first.signature, detectMs } };
    }
    case 'incident':
      return incidentGate(deps, card, input.drillId);
    case 'recovered': {
      const failing = await failingProbes(ctx, card.recovered);
      return failing.length ? { ok: false, detail: failing.join('; ') } : { ok: true, detail: `${card.recovered.map((p) => p.probe).join(', ')} hold` };
    }
    case 'steady_state': {
      const failing = await failingProbes(ctx, [...card.steadyState, { probe: 'no_process_stopped' }]);
      if (input.baseline.logHead !== null) {
        const v = await immutableLogClient(deps.config, 60_000).verify({ full: true }, 60_000);
        if (!v.ok) failing.push(`the log chain does not verify: ${JSON.stringify(v.failure)}`);
        else if (v.toSeq < input.baseline.logHead) failing.push(`the log holds seq 1..${v.toSeq}, not the ${input.baseline.logHead} acknowledged before the drill`);
      }
      const lost = await canariesKept(deps, input.baseline.canaries);
      if (lost) failing.push(lost);
      return failing.length ? { ok: false, detail: failing.join('; ') } : { ok: true, detail: `steady state holds; log chain verifies through seq ${input.baseline.logHead}; ${input.baseline.canaries.length} canary message(s) kept` };
    }
  }
}

