/**
 * The chaos harness on the real stack (issue 17). Its own tier, run after the integration tests
 * (.mocharc.json): a drill exercises the whole system and what it teaches the knowledge base would
 * change what the coding-agent tests see as "new".
 *  - each of the 12 shipped cards passes its four gates, and the files its injection touched are
 *    as they were (SHA-256 before and after);
 *  - an injection whose target is missing fails the drill with the reason, nothing passes;
 *  - a drill cancelled during its injection, and one whose worker is kill -9ed during it, roll back
 *    (the stalled process is running again, read from /proc) and are in the ledger as such;
 *  - a schedule exists once after boot, however often boot runs, and a triggered one records a drill;
 *  - evidence recorded untagged by one replica is tagged by the other's report;
 *  - `chaos coverage --json` agrees with the ledger.
 */
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { GATES, type DrillResult } from '../../contracts/chaos';
import { loadCards, loadCardSources } from '../../src/chaos/cards/loader';
import type { ChaosCard } from '../../src/chaos/cards/format';
import { failingProbes } from '../../src/chaos/harness/probes';
import { awaitDrill, startDrill } from '../../src/chaos/harness/start';
import { ledger, type Coverage } from '../../src/chaos/harness/ledger';
import { sealedSegmentSnapshotted, type ScenarioContext } from '../../src/chaos/scenarios';
import { BACKLOG_COLLECTION, EVIDENCE_COLLECTION } from '../../src/clients/collections';
import { declareDrill, endDrill } from '../../src/chaos/drills';
import { makeEvidence } from '../../src/healing/evidence';
import { reportEvidence, type StoredEvidence } from '../../src/healing/seam';
import { connectStore, type Store } from '../../src/clients/store';
import { connectClient } from '../../src/clients/temporal';
import { procStatFields } from '../../src/process/manager';
import { allKernelsReady, stackStaysHealthy } from '../../src/stack/kernel-readiness';
import { processManager } from '../../src/stack/stack';
import { runCli } from '../support/cli';
import { stackAvailable, testConfig, TEST_CONFIG_FILE } from '../support/env';
import { incidentsSettled } from '../support/incidents';
import { waitFor } from '../support/kernels';

const SHIPPED = ['acl_violation', 'config_drift', 'cpu_stress', 'disk_full', 'heartbeat_stop', 'import_error', 'kernel_crash', 'log_entry_corruption', 'memory_stress', 'model_corruption', 'queue_flood', 'syntax_error'];

describe('chaos drills: 12 cards, four gates, rollback always, the ledger', function () {
  this.timeout(3_600_000);
  const config = testConfig();
  const pm = processManager(config);
  let client: Client;
  let store: Store;
  let ctx: ScenarioContext;
  const { cards } = loadCards();
  const results: DrillResult[] = [];

  before(async function () {
    if (!stackAvailable()) this.skip();
    client = await connectClient(config);
    store = await connectStore(config);
    ctx = { config, pm, db: store.db, temporal: client };
    await allKernelsReady(ctx, 120_000);
  });

  after(async () => {
    for (const r of results) console.log(`      ${r.card.padEnd(22)} ${r.result.padEnd(8)} detect ${r.timeToDetectMs} ms, recover ${r.timeToRecoverMs} ms`);
    await client?.connection.close();
    await store?.close();
  });

  /** Waits until the card's steady state holds (an earlier test's healing may still be settling). */
  async function steady(card: ChaosCard, timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let failing: string[] = [];
    while (Date.now() < deadline) {
      failing = await failingProbes(ctx, card.steadyState);
      // The integrity repair restores the segment from a snapshot: a sealed one must be in one as it
      // is (the card's sealed_segment_snapshotted). Taken when that probe fails: on a fresh stack, or
      // once the segments the last snapshot held were archived.
      if (failing.some((f) => f.startsWith('sealed_segment_snapshotted'))) {
        await sealedSegmentSnapshotted(ctx);
        failing = await failingProbes(ctx, card.steadyState);
      }
      if (failing.length === 0) return;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    assert.fail(`the steady state of ${card.id} did not hold within ${timeoutMs} ms: ${failing.join('; ')}`);
  }

  const drill = async (card: ChaosCard): Promise<DrillResult> => awaitDrill(await startDrill(config, client, card, 'test'));
  const cardOf = (id: string): ChaosCard => cards.find((c) => c.id === id) ?? assert.fail(`no card ${id}`);

  it('ships exactly the 12 cards of the seed, all valid', () => {
    assert.deepEqual(cards.map((c) => c.id).sort(), SHIPPED);
  });

  for (const id of SHIPPED) {
    it(`${id}: all four gates pass, rolled back, the files it touched as they were`, async () => {
      const card = cardOf(id);
      await steady(card);
      const r = await drill(card);
      results.push(r);
      assert.equal(r.result, 'passed', JSON.stringify(r, null, 1));
      assert.deepEqual(r.gates.map((g) => g.name), [...GATES]);
      assert.ok(r.ok && r.result === 'passed', JSON.stringify(r, null, 1));
      assert.ok(r.rollback.ok, r.rollback.detail);
      for (const f of r.files ?? []) assert.equal(f.after, f.before, `${f.file} is not as it was before the drill`);
      // The record is the ledger's, read back from the store.
      const entry = await ledger(store.db).findOne({ _id: r.drillId });
      assert.equal(entry?.state, 'ended');
      assert.equal(entry?.ok, true);
      assert.deepEqual(entry?.gates.map((g) => [g.name, g.ok]), GATES.map((g) => [g, true]));
      // Independently of the drill's own gates: what "recovered" means for the card holds now. Read
      // again for up to 30 s: on a loaded machine the incident that ends after the gate (its fix
      // promoted) may restart the kernel once more, as one CI run saw for import_error. Said if so.
      let failing = await failingProbes(ctx, card.recovered);
      for (const deadline = Date.now() + 30_000; failing.length > 0 && Date.now() < deadline; ) {
        console.log(`      ${id}: after the gates, not yet recovered again: ${failing.join('; ')}`);
        await new Promise((r) => setTimeout(r, 2_000));
        failing = await failingProbes(ctx, card.recovered);
      }
      assert.deepEqual(failing, []);
    });
  }

  it('an injection whose target is missing fails the drill with the reason; no gate passes', async () => {
    const [yaml] = [`id: ghost_kill\ntitle: kill a process that does not run\nrisk: low\ntarget: { process: runaway-cpu }\ninjection: { fault: killProcess, params: { process: runaway-cpu } }\nsteadyState: [{ probe: all_kernels_ready }]\nrecovered: [{ probe: all_kernels_ready }]\nexpect: { evidence: [exited], remedy: cpu_pressure }\nblastRadius: { processes: [runaway-cpu] }\n`];
    const { cards: [card], problems } = loadCardSources([{ file: 'ghost_kill.yaml', text: yaml }]);
    assert.deepEqual(problems, []);
    // Steady first: a drill on a stack still healing an earlier fault ends not_steady before it injects.
    await steady(card);
    const r = await drill(card);
    assert.equal(r.result, 'injection_failed');
    assert.equal(r.ok, false);
    assert.match(r.injection?.detail ?? '', /injection failed: .*runaway-cpu/);
    assert.ok(r.gates.every((g) => !g.ok));
    const entry = await ledger(store.db).findOne({ _id: r.drillId });
    assert.equal(entry?.result, 'injection_failed');
    const item = await store.db.collection<{ _id: string; status: string }>(BACKLOG_COLLECTION).findOne({ _id: 'chaos-drill-ghost_kill' });
    assert.equal(item?.status, 'open', 'a failed drill opens a backlog item');
  });

  /** A card whose injection holds a while: the coding agent's worker stopped, the injection open for 8 s. */
  function holdCard(id: string): ChaosCard {
    const yaml = `id: ${id}\ntitle: the coding agent stopped, the injection held open\nrisk: low\ntarget: { kernel: coding_agent }\ninjection: { fault: stallProcess, params: { process: coding-agent-1, ms: 600000, holdMs: 8000 } }\nsteadyState: [{ probe: all_kernels_ready }]\nrecovered: [{ probe: kernel_ready, kernel: coding_agent }]\nexpect: { evidence: [liveness_failed], remedy: coding_agent_bootstrap }\nblastRadius: { processes: [coding-agent-1] }\n`;
    const { cards: [card], problems } = loadCardSources([{ file: `${id}.yaml`, text: yaml }]);
    assert.deepEqual(problems, []);
    return card;
  }

  /** Waits until the drill's injection has begun (its mark in the ledger). */
  async function injecting(drillId: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!(await ledger(store.db).findOne({ _id: drillId }))?.injection?.startedAt) {
      if (Date.now() > deadline) assert.fail(`${drillId} did not begin its injection`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }

  /** The process the injection stopped (from the drill's journal) is no longer stopped: continued or gone. */
  async function stallUndone(drillId: string): Promise<void> {
    const entry = await ledger(store.db).findOne({ _id: drillId });
    const resume = entry?.journal.find((j) => j.undo.kind === 'resume')?.undo;
    assert.ok(resume && resume.kind === 'resume', `the journal holds the stop: ${JSON.stringify(entry?.journal)}`);
    const state = procStatFields(resume.pid)?.[0];
    assert.ok(state !== 'T' && state !== 't', `pid ${resume.pid} (${resume.process}) is still stopped`);
  }

  it('a drill cancelled during its injection rolls back and is recorded as cancelled', async () => {
    const card = holdCard('hold_cancel');
    await steady(card);
    const handle = await startDrill(config, client, card, 'test');
    await injecting(handle.workflowId);
    await handle.cancel();
    const r = await handle.result();
    assert.equal(r.result, 'cancelled');
    assert.ok(r.rollback.ok, r.rollback.detail);
    await stallUndone(r.drillId);
    assert.equal((await ledger(store.db).findOne({ _id: r.drillId }))?.result, 'cancelled');
    await allKernelsReady(ctx, 120_000);
  });

  it('a drill whose worker is kill -9ed during its injection is rolled back by the other worker and recorded as interrupted', async () => {
    const card = holdCard('hold_kill');
    await steady(card);
    const handle = await startDrill(config, client, card, 'test');
    await injecting(handle.workflowId);
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    const identity = pending.find((a) => a.activityType?.name === 'injectFault')?.lastWorkerIdentity ?? '';
    const worker = /^(chaos-\d+):(\d+)@/.exec(identity);
    assert.ok(worker, `the injecting worker: ${identity}`);
    process.kill(Number(worker[2]), 'SIGKILL');
    const r = await handle.result();
    assert.equal(r.result, 'interrupted', JSON.stringify(r.injection));
    assert.ok(r.rollback.ok, r.rollback.detail);
    await stallUndone(r.drillId);
    assert.equal((await ledger(store.db).findOne({ _id: r.drillId }))?.result, 'interrupted');
    // The killed chaos worker is started again (the leading trigger monitor).
    const deadline = Date.now() + 30_000;
    while (pm.pid(worker[1]) === null || pm.pid(worker[1]) === Number(worker[2])) {
      if (Date.now() > deadline) assert.fail(`${worker[1]} was not started again`);
      await new Promise((r2) => setTimeout(r2, 200));
    }
    await allKernelsReady(ctx, 120_000);
  });

  it('with self_healing stopped a drill fails at the gate that shows it and opens a backlog item; with it back, the next drill passes and closes it', async () => {
    const cli = (args: string[]) => runCli(['--config', TEST_CONFIG_FILE, ...args], { timeoutMs: 300_000 });
    const card = cardOf('kernel_crash');
    await steady(card);
    const stop = await cli(['kernel', 'stop', 'self_healing', '--json']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal((JSON.parse(stop.stdout) as { state: string }).state, 'STOPPED');
    let failed: DrillResult;
    try {
      failed = await drill(card);
    } finally {
      const start = await cli(['kernel', 'start', 'self_healing', '--json']);
      assert.equal(start.code, 0, start.stderr);
    }
    assert.equal(failed.result, 'failed');
    // Detection lives in the healing workers (their trigger monitors): stopped, nothing is seen.
    const gate = failed.gates.find((g) => !g.ok)!;
    assert.equal(gate.name, 'detected', JSON.stringify(failed.gates));
    assert.match(gate.detail, /no exited evidence tagged with the drill/);
    const entry = await ledger(store.db).findOne({ _id: failed.drillId });
    assert.equal(entry?.gates.find((g) => !g.ok)?.name, 'detected');
    const items = store.db.collection<{ _id: string; status: string; detail: string; source: { gate: string | null; drill: string } }>(BACKLOG_COLLECTION);
    const opened = await items.findOne({ _id: 'chaos-drill-kernel_crash' });
    assert.equal(opened?.status, 'open');
    assert.deepEqual([opened?.source.gate, opened?.source.drill], ['detected', failed.drillId]);
    // Healing back: the control plane restarts the killed worker, and the next drill passes once the
    // whole stack holds healthy (the healing workers also supervise the servers, which were not
    // watched meanwhile).
    await stackStaysHealthy(ctx, 180_000, 10_000);
    // The healing workers, back, report the crash the stopped ones missed: its incident must be
    // over first, or the next drill's crash is attached to it and waits on its progress (seen: it
    // was still diagnosing 80 s later, and the drill's incident gate failed).
    const healing = await incidentsSettled(store.db, 180_000);
    if (healing > 0) console.log(`      ${healing} incident(s) still open after 180 s: drilling anyway`);
    await steady(card);
    const passed = await drill(card);
    // The whole result: a drill that ended before its gates (not_steady) has none to show.
    assert.ok(passed.ok, JSON.stringify(passed, null, 1));
    assert.deepEqual(passed.backlog, { id: 'chaos-drill-kernel_crash', action: 'closed' });
    assert.equal((await items.findOne({ _id: 'chaos-drill-kernel_crash' }))?.status, 'done');
  });

  it('the suite schedule exists once after boots, and triggered it records a drill', async () => {
    const cli = (args: string[]) => runCli(['--config', TEST_CONFIG_FILE, ...args], { timeoutMs: 300_000 });
    const boot = await cli(['boot', '--json']);
    assert.equal(boot.code, 0, boot.stderr);
    const listed = await cli(['chaos', 'schedule', 'list', '--json']);
    const schedules = JSON.parse(listed.stdout) as Array<{ id: string; paused: boolean }>;
    assert.deepEqual(schedules.map((s) => s.id), ['layer1-chaos-suite'], 'one, however often boot ran');
    const since = new Date();
    const trig = await cli(['chaos', 'schedule', 'trigger', 'suite']);
    assert.equal(trig.code, 0, trig.stderr);
    const deadline = Date.now() + 600_000;
    for (;;) {
      const e = await ledger(store.db).findOne({ trigger: 'schedule:layer1-chaos-suite', startedAt: { $gte: since }, state: 'ended' });
      if (e) {
        assert.equal(e.ok, true, JSON.stringify(e.gates));
        break;
      }
      if (Date.now() > deadline) assert.fail('the triggered schedule recorded no drill');
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const paused = await cli(['chaos', 'schedule', 'unpause', 'suite']);
    assert.equal(paused.code, 0, paused.stderr);
    const after = JSON.parse((await cli(['chaos', 'schedule', 'list', '--json'])).stdout) as Array<{ paused: boolean }>;
    assert.equal(after[0].paused, false);
    assert.equal((await cli(['chaos', 'schedule', 'pause', 'suite'])).code, 0);
  });

  it('evidence the other replica recorded first without the drill tag (its lookup timed out) gets the tag from the second report', async () => {
    const drillId = `chaos-tagtest-${Date.now()}`;
    await declareDrill(store.db, { id: drillId, kernel: null, process: 'tagtest', card: 'tagtest', durationMs: 60_000 });
    try {
      // server_restarted: recorded, never dispatched (REPAIRED_KINDS), so the test starts nothing.
      const e = makeEvidence({ kind: 'server_restarted', kernel: null, process: 'tagtest', pid: null, key: drillId, detail: 'tag test', text: null, at: Date.now(), observer: 'healing-1' });
      const { id, ...rest } = e;
      const evidence = store.db.collection<StoredEvidence>(EVIDENCE_COLLECTION);
      await evidence.insertOne({ _id: id, ...rest, firstSeen: new Date(e.at), observers: ['healing-1'] });
      const report = await reportEvidence({ config, db: store.db, temporal: client }, { ...e, observer: 'healing-2' });
      assert.notEqual(report.recordedFirst, true, 'the other replica recorded it first');
      // recordedFirst null: the store did not answer within detectors.store.timeoutMs (a loaded CI
      // machine), and the tag comes with the late record, in the background.
      const doc = await waitFor(`the drill's tag on ${id} (recordedFirst ${report.recordedFirst})`, () => evidence.findOne({ _id: id }), (d) => Boolean(d?.data.drill_id), 30_000, 250);
      assert.deepEqual([doc?.data.drill_id, doc?.data.drill], [drillId, 'tagtest'], `recordedFirst ${report.recordedFirst}`);
      assert.deepEqual(doc?.firstSeen, new Date(e.at), 'first seen when the first replica saw it');
    } finally {
      await endDrill(store.db, drillId);
    }
  });

  it('chaos coverage --json agrees with the ledger', async () => {
    const out = await runCli(['--config', TEST_CONFIG_FILE, 'chaos', 'coverage', '--json']);
    assert.equal(out.code, 0, out.stderr);
    const cov = JSON.parse(out.stdout) as Coverage;
    const entries = await ledger(store.db).find({ state: 'ended' }).toArray();
    for (const c of cov.cards) {
      const mine = entries.filter((e) => e.card === c.card && e.result !== 'busy' && e.result !== 'not_steady');
      assert.equal(c.drills, mine.length, c.card);
      assert.equal(c.successRate, mine.length ? mine.filter((e) => e.ok).length / mine.length : null, c.card);
    }
    const passed = new Set(entries.filter((e) => e.ok && e.startedAt.getTime() > Date.now() - 7 * 86_400_000).map((e) => e.card));
    assert.equal(cov.coverage7d, SHIPPED.filter((id) => passed.has(id)).length / SHIPPED.length);
    assert.equal(cov.drilled, SHIPPED.filter((id) => entries.some((e) => e.card === id)).length);
    assert.equal(cov.highRiskPending, cards.filter((c) => c.risk === 'high' && !passed.has(c.id)).length);
    assert.ok(['drilled', 'successRate', 'coverage7d', 'highRiskPending', 'cards'].every((k) => k in cov));
  });
});
