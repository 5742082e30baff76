/**
 * Crash survival of playbook runs, on the bench's own stack (bench/layer1.bench.yaml): booted, both
 * healing replicas up, the control plane running. Each run starts the ten-step `crash_bench`
 * playbook (bench/fixtures/crash-playbook.yaml: snapshots, audit entries, events, backlog items),
 * waits a random time within a run's usual length, finds the healing replica executing it — the
 * worker identity (`name:pid@host`) of its running activity in `describe()`, or else of its last
 * workflow task — and `kill -9`s it (only a pid named by the bench stack's own pid files). The
 * control plane restarts the replica. Every run must succeed, and every side effect is then
 * counted from its source of truth — log entries by `data.meta.key`, backlog documents by source,
 * stream messages by subject, snapshot directories by manifest key — and must be there exactly once.
 *
 *   npm run build && node dist/bench/playbook-crash.js [--runs 20]
 *
 * The helpers are exported for test/integration/playbook-crash.test.ts, which runs the same on
 * the suite's stack.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Db } from 'mongodb';
import type { LoadedConfig } from '../src/config/load';
import { connectBus } from '../src/clients/bus';
import { connectClient } from '../src/clients/temporal';
import { connectStore, type Store } from '../src/clients/store';
import { auditEntriesOf } from '../src/clients/audit-log';
import { BACKLOG_COLLECTION } from '../src/clients/collections';
import type { ProcessManager } from '../src/process/manager';
import { loadPlaybookFiles, PlaybookError, resolveRunParams } from '../src/playbooks/loader';
import type { Playbook } from '../src/playbooks/format';
import { processManager, startServices, startWorkers, stopAll } from '../src/stack/stack';
import { workerDefs } from '../src/stack/workers';
import { REPO_ROOT } from '../src/stack/tools';
import { immutableLogClient, KERNELS } from '../kernels/registry';
import { runBoot } from '../scripts/kernel-verbs';
import type { PlaybookReport, PlaybookRunInput } from '../contracts/playbook';
import { benchConfig, percentile, printTable } from './support';
import { PLAYBOOK_WORKFLOW, PLAYBOOK_WORKFLOW_TASK_TIMEOUT, type PlaybookWorkflow } from '../contracts/playbook';

export const CRASH_PLAYBOOK_FILE = path.join(REPO_ROOT, 'bench', 'fixtures', 'crash-playbook.yaml');
export const CRASH_PLAYBOOK = 'crash_bench';
/** The snapshot label of the playbook's take_snapshot steps (see the fixture). */
export const CRASH_SNAPSHOT_LABEL = 'crash_bench';
/** What the snapshots copy, relative to the state directory (the playbook's `input` default). */
export const CRASH_INPUT_DIR = 'crash-bench/input';
/** The stream publish_event's subjects (`telemetry.layer1.…`) land in. */
export const CRASH_STREAM = 'LAYER1_TELEMETRY';
export const crashSubjectPrefix = (workflowId: string): string => `telemetry.layer1.crash_bench.${workflowId}`;

export interface CrashDeps {
  config: LoadedConfig;
  client: Client;
  db: Db;
  pm: ProcessManager;
  jsm: JetStreamManager;
  playbook: Playbook;
}

export interface Kill {
  process: string;
  pid: number;
  /** What the worker was doing: `activity <type> (attempt n)` or `workflow task`. */
  during: string;
  /** Milliseconds after the run started. */
  atMs: number;
}

export interface EffectCount {
  /** Every side effect the run must leave, by its key (`kind RUN:STEP`), with how many were found. */
  counts: Map<string, number>;
  duplicates: string[];
  missing: string[];
  /** Found for this run, but not expected at all. */
  unexpected: string[];
}

export interface CrashRunResult {
  workflowId: string;
  outcome: string;
  ms: number;
  kill: Kill | null;
  effects: EffectCount;
  /** Kill → replica alive again with a new pid, and → self_healing's self-test passing; null without a kill. */
  replica: ReplicaBack | null;
}

/** The crash playbook from its fixture file, through the real loader (a playbook that does not validate never runs). */
export function loadCrashPlaybook(): Playbook {
  const { playbooks, problems } = loadPlaybookFiles([CRASH_PLAYBOOK_FILE]);
  if (problems.length > 0) throw new PlaybookError(problems);
  const pb = playbooks.find((p) => p.name === CRASH_PLAYBOOK);
  if (!pb) throw new Error(`no playbook ${CRASH_PLAYBOOK} in ${CRASH_PLAYBOOK_FILE}`);
  return pb;
}

/** The files the snapshot steps copy: two of 256 KiB, so a snapshot takes a moment (a window to be killed in). */
export function prepareCrashInput(config: LoadedConfig): void {
  const dir = path.join(config.stateDir, CRASH_INPUT_DIR);
  mkdirSync(dir, { recursive: true });
  for (const f of ['a.bin', 'b.bin']) if (!existsSync(path.join(dir, f))) writeFileSync(path.join(dir, f), randomBytes(256 * 1024));
}

export async function connectCrashDeps(config: LoadedConfig): Promise<{ deps: CrashDeps; close: () => Promise<void> }> {
  const [client, store, operator]: [Client, Store, NatsConnection] = await Promise.all([
    connectClient(config),
    connectStore(config),
    connectBus(config, { user: 'operator', name: 'layer1-crash-bench' }),
  ]);
  const deps: CrashDeps = {
    config,
    client,
    db: store.db,
    pm: processManager(config),
    jsm: await jetstreamManager(operator),
    playbook: loadCrashPlaybook(),
  };
  prepareCrashInput(config);
  return {
    deps,
    close: async () => {
      await operator.close().catch(() => undefined);
      await client.connection.close().catch(() => undefined);
      await store.close().catch(() => undefined);
    },
  };
}

/** `name:pid@host` → name and pid. */
export function parseIdentity(identity: string): { name: string; pid: number } | null {
  const m = /^([^:]+):(\d+)@/.exec(identity);
  return m ? { name: m[1], pid: Number(m[2]) } : null;
}

// temporal.api.enums.v1 values (@temporalio/proto is not a direct dependency of ours).
/** PendingActivityState.PENDING_ACTIVITY_STATE_STARTED */
const STARTED = 2;
/** EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED */
const WFT_STARTED = 6;

/**
 * Finds the healing replica executing the run and kills it with SIGKILL: the worker of a started
 * activity (describe), or else the worker that took its last workflow task (history). Only a
 * replica named by the stack's pid files, and only while the pid file still names that pid.
 * Returns null when the run ended first.
 */
export async function killExecutor(deps: CrashDeps, handle: WorkflowHandle, startedAt: number, timeoutMs = 10_000): Promise<Kill | null> {
  const replicas = new Set(workerDefs(deps.config).filter((w) => w.name.startsWith('healing-')).map((w) => w.name));
  const deadline = Date.now() + timeoutMs;
  for (let polls = 0; Date.now() < deadline; polls++) {
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') return null;
    let identity: string | null = null;
    let during = '';
    const act = desc.raw.pendingActivities?.find((a) => a.state === STARTED && a.lastWorkerIdentity);
    if (act) {
      identity = act.lastWorkerIdentity!;
      during = `activity ${act.activityType?.name ?? '?'} (attempt ${act.attempt ?? 1})`;
    } else if (polls >= 3) {
      // Between activities: the replica that holds the workflow (its last workflow task).
      const events = (await handle.fetchHistory()).events ?? [];
      const wft = [...events].reverse().find((e) => e.eventType === WFT_STARTED);
      identity = wft?.workflowTaskStartedEventAttributes?.identity ?? null;
      during = 'workflow task';
    }
    const who = identity ? parseIdentity(identity) : null;
    if (who && replicas.has(who.name) && deps.pm.pid(who.name) === who.pid) {
      // pm.signal re-reads the pid file and checks the pid's start time: never a stranger's process.
      if (deps.pm.signal(who.name, 'SIGKILL')) return { process: who.name, pid: who.pid, during, atMs: Date.now() - startedAt };
    }
    await sleep(2);
  }
  return null;
}

export interface ReplicaBack {
  /** From the call until the killed replica runs again with a new pid (the control plane restarted it). */
  aliveMs: number;
  /** From the call until, besides, self_healing's self-test passes (both replicas polling). */
  readyMs: number;
  /** The check that held readiness up longest after the replica was alive, if any. */
  lastFailure: string;
}

/** Waits until every healing replica is alive (the killed one with a new pid) and self_healing's self-test passes. */
export async function waitReplicasReady(deps: CrashDeps, killed: Kill | null, timeoutMs = 60_000): Promise<ReplicaBack> {
  const t = Date.now();
  const ctx = { config: deps.config, pm: deps.pm, db: deps.db, temporal: deps.client };
  const names = workerDefs(deps.config).filter((w) => w.name.startsWith('healing-')).map((w) => w.name);
  let last = '';
  let failure = '';
  let aliveMs: number | null = null;
  while (Date.now() - t < timeoutMs) {
    const alive = names.every((n) => deps.pm.isAlive(n)) && (!killed || (deps.pm.pid(killed.process) ?? killed.pid) !== killed.pid);
    if (alive) {
      aliveMs ??= Date.now() - t;
      const checks = await KERNELS.self_healing.readiness(ctx).catch((err: unknown) => [{ name: 'readiness', ok: false, detail: String(err) }]);
      if (checks.every((c) => c.ok)) return { aliveMs, readyMs: Date.now() - t, lastFailure: failure };
      failure = last = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ');
    } else {
      last = names.map((n) => `${n} ${deps.pm.isAlive(n) ? `pid ${deps.pm.pid(n)}` : 'down'}`).join(', ');
    }
    await sleep(50);
  }
  throw new Error(`the healing replicas were not back and ready ${timeoutMs} ms after the kill: ${last}`);
}

/** The side effects a run of `playbook` must leave, each exactly once, by key. */
export function expectedEffects(playbook: Playbook, workflowId: string): string[] {
  const keys = [`log ${workflowId}:audit:start`, `log ${workflowId}:audit:finish`];
  for (const s of playbook.steps) {
    keys.push(`log ${workflowId}:audit:${s.id}`);
    if (s.action === 'append_audit') keys.push(`log ${workflowId}:${s.id}`);
    if (s.action === 'open_backlog_item') keys.push(`backlog ${workflowId}:${s.id}`);
    if (s.action === 'publish_event') keys.push(`event ${crashSubjectPrefix(workflowId)}.${s.id}`);
    if (s.action === 'take_snapshot') keys.push(`snapshot ${workflowId}:${s.id}`);
  }
  return keys;
}

/**
 * Counts what a run left, from each source of truth, independently of what the run reported:
 * log entries after `fromSeq` whose `data.meta.workflowId` is the run; backlog documents whose
 * source is the run; stream messages under the run's subject prefix; snapshot directories (the
 * half-written `.tmp-` ones too) whose manifest key is the run's.
 */
export async function countEffects(deps: CrashDeps, workflowId: string, fromSeq: number): Promise<EffectCount> {
  const counts = new Map<string, number>(expectedEffects(deps.playbook, workflowId).map((k) => [k, 0]));
  const found = new Map<string, number>();
  const add = (key: string): void => {
    found.set(key, (found.get(key) ?? 0) + 1);
  };

  const log = immutableLogClient(deps.config, 30_000);
  const head = (await log.head()).seq;
  for (const { meta } of await auditEntriesOf(log, workflowId, fromSeq + 1, head)) add(`log ${workflowId}:${String(meta.stepId)}`);

  const docs = await deps.db
    .collection(BACKLOG_COLLECTION)
    .find({ 'source.workflowId': workflowId })
    .project<{ source: { stepId: string } }>({ source: 1 })
    .toArray();
  for (const d of docs) add(`backlog ${workflowId}:${d.source.stepId}`);

  const info = await deps.jsm.streams.info(CRASH_STREAM, { subjects_filter: `${crashSubjectPrefix(workflowId)}.>` });
  for (const [subject, n] of Object.entries(info.state.subjects ?? {})) for (let i = 0; i < n; i++) add(`event ${subject}`);

  const labelDir = path.join(deps.config.stateDir, 'snapshots', CRASH_SNAPSHOT_LABEL);
  for (const dir of existsSync(labelDir) ? readdirSync(labelDir) : []) {
    const manifest = path.join(labelDir, dir, 'manifest.json');
    if (!existsSync(manifest)) {
      if (dir.startsWith('.tmp-')) add(`snapshot-partial ${dir}`);
      continue;
    }
    const key = (JSON.parse(readFileSync(manifest, 'utf8')) as { key: string | null }).key ?? '';
    // Keys are RUN:RUN_ID:STEP (activities/actions/shared.ts idempotencyKey); counted per RUN:STEP.
    if (key.startsWith(`${workflowId}:`)) add(`snapshot ${workflowId}:${key.split(':').pop()}${dir.startsWith('.tmp-') ? ' (partial)' : ''}`);
  }

  for (const [k, n] of found) counts.set(k, n);
  const expected = new Set(expectedEffects(deps.playbook, workflowId));
  return {
    counts,
    duplicates: [...counts].filter(([k, n]) => expected.has(k) && n > 1).map(([k, n]) => `${k} ×${n}`),
    missing: [...counts].filter(([k, n]) => expected.has(k) && n === 0).map(([k]) => k),
    unexpected: [...found].filter(([k]) => !expected.has(k)).map(([k, n]) => `${k} ×${n}`),
  };
}

/**
 * One run: start the crash playbook, (optionally) kill the replica executing it after `killAfterMs`,
 * wait for its result, count its side effects, and wait until both replicas are back and ready.
 */
export async function crashRun(deps: CrashDeps, workflowId: string, killAfterMs: number | null, runTimeoutMs = 120_000): Promise<CrashRunResult> {
  const fromSeq = (await immutableLogClient(deps.config, 10_000).head()).seq;
  const input: PlaybookRunInput = {
    playbook: deps.playbook,
    params: resolveRunParams(deps.playbook, {}),
    kernel: null,
    startedBy: 'crash-bench',
  };
  const t = Date.now();
  const handle = await deps.client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, {
    taskQueue: deps.config.temporal.taskQueues.healing,
    workflowId,
    args: [input],
    workflowExecutionTimeout: runTimeoutMs,
    workflowTaskTimeout: PLAYBOOK_WORKFLOW_TASK_TIMEOUT,
  });
  let kill: Kill | null = null;
  let recovery: Promise<ReplicaBack> | null = null;
  if (killAfterMs !== null) {
    await sleep(killAfterMs);
    kill = await killExecutor(deps, handle, t);
    if (kill) {
      recovery = watchRecovery(deps, kill, t + kill.atMs);
      recovery.catch(() => undefined); // awaited below, after the run
    }
  }
  let outcome: string;
  try {
    outcome = ((await handle.result()) as PlaybookReport).outcome;
  } catch (err) {
    outcome = `error: ${(err as Error).message}${(err as { cause?: Error }).cause ? `: ${(err as { cause: Error }).cause.message}` : ''}`;
  }
  const ms = Date.now() - t;
  const effects = await countEffects(deps, workflowId, fromSeq);
  // Measured from the kill, while the run went on: the replica restarted, and self_healing ready again.
  const replica = recovery ? await recovery : null;
  return { workflowId, outcome, ms, kill, effects, replica };
}

/**
 * Watches the killed replica come back, from the moment of the kill: when it runs again under a new
 * pid (the control plane restarted it; pid file polled every 10 ms), then when self_healing's
 * self-test passes again (both replicas polling). Times are since the kill.
 */
async function watchRecovery(deps: CrashDeps, kill: Kill, killedAt: number): Promise<ReplicaBack> {
  const deadline = killedAt + 60_000;
  let aliveMs: number | null = null;
  while (Date.now() < deadline) {
    const pid = deps.pm.pid(kill.process);
    if (pid !== null && pid !== kill.pid) {
      aliveMs = Date.now() - killedAt;
      break;
    }
    await sleep(10);
  }
  if (aliveMs === null) throw new Error(`${kill.process} was not restarted within 60 s of its kill`);
  const w = await waitReplicasReady(deps, kill, Math.max(1_000, deadline - Date.now()));
  return { aliveMs, readyMs: Date.now() - killedAt, lastFailure: w.lastFailure };
}

/** Removes what the runs left in the store, the stream and the snapshots (the suite's stack is shared). */
export async function cleanupCrashRuns(deps: CrashDeps, workflowIds: string[]): Promise<void> {
  if (workflowIds.length > 0) await deps.db.collection(BACKLOG_COLLECTION).deleteMany({ 'source.workflowId': { $in: workflowIds } });
  for (const id of workflowIds) await deps.jsm.streams.purge(CRASH_STREAM, { filter: `${crashSubjectPrefix(id)}.>` }).catch(() => undefined);
  rmSync(path.join(deps.config.stateDir, 'snapshots', CRASH_SNAPSHOT_LABEL), { recursive: true, force: true });
  rmSync(path.join(deps.config.stateDir, CRASH_INPUT_DIR), { recursive: true, force: true });
}

// ---- the bench ---------------------------------------------------------------------------------

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const say = (m: string): void => {
  process.stderr.write(`• ${m}\n`);
};

async function main(): Promise<void> {
  const runs = arg('runs', 20);
  const config = benchConfig();
  const quiet = (): void => undefined;
  // Bounded: a run that hangs fails the bench instead of holding the stack up.
  const watchdog = setTimeout(() => {
    say('the bench took longer than its bound; stopping the stack');
    void stopAll(config, quiet).finally(() => process.exit(2));
  }, (5 + runs * 1.5) * 60_000);
  watchdog.unref();

  await stopAll(config, quiet);
  rmSync(config.stateDir, { recursive: true, force: true });
  let close: (() => Promise<void>) | undefined;
  const results: CrashRunResult[] = [];
  let baseline: number[] = [];
  try {
    await startServices(config, quiet);
    await startWorkers(config, quiet);
    {
      const client = await connectClient(config);
      try {
        const boot = await runBoot(config, client);
        if (!boot.ok) throw new Error(`the bench stack did not boot: ${boot.failedChecks.join('; ')}`);
      } finally {
        await client.connection.close();
      }
    }
    say('bench stack booted');
    const c = await connectCrashDeps(config);
    close = c.close;
    const { deps } = c;
    const tag = Date.now().toString(36);

    // Runs without a kill: how long one takes, so the kills land anywhere within a run.
    const warm: CrashRunResult[] = [];
    for (let i = 0; i < 3; i++) warm.push(await crashRun(deps, `crash-bench-${tag}-warm-${i}`, null));
    for (const w of warm) {
      if (w.outcome !== 'succeeded' || w.effects.duplicates.length || w.effects.missing.length) {
        throw new Error(`a run without a kill already fails: ${JSON.stringify({ ...w, effects: { ...w.effects, counts: [...w.effects.counts] } })}`);
      }
    }
    baseline = warm.slice(1).map((w) => w.ms);
    const window = Math.max(50, percentile(baseline, 50));
    say(`a run without a kill takes ${window} ms; each kill lands at a uniformly random moment within that`);

    // `runs` runs with a kill: a run that ended before its kill (the kill's own lookup takes some of
    // the window) is still checked, and another run is made in its place, up to 3 × runs in all.
    for (let i = 0; results.filter((r) => r.kill).length < runs && i < runs * 3; i++) {
      const r = await crashRun(deps, `crash-bench-${tag}-${i}`, Math.floor(Math.random() * window * 0.9));
      results.push(r);
      const e = r.effects;
      say(
        `run ${i + 1} (${results.filter((x) => x.kill).length}/${runs} with a kill): ${r.outcome} in ${r.ms} ms; ` +
          (r.kill ? `killed ${r.kill.process} (pid ${r.kill.pid}) at ${r.kill.atMs} ms during ${r.kill.during}, replica alive again at +${r.replica!.aliveMs} ms, ready at +${r.replica!.readyMs} ms${r.replica!.lastFailure ? ` (held up by ${r.replica!.lastFailure})` : ''}; ` : 'no kill (the run ended first); ') +
          `${e.counts.size} side effects: ${e.duplicates.length} duplicated, ${e.missing.length} missing${e.unexpected.length ? `, unexpected ${e.unexpected.join(', ')}` : ''}` +
          (e.duplicates.length || e.missing.length ? ` [${[...e.duplicates, ...e.missing].join('; ')}]` : ''),
      );
    }
  } finally {
    clearTimeout(watchdog);
    await close?.();
    await stopAll(config, quiet);
  }

  const killed = results.filter((r) => r.kill);
  const completed = results.filter((r) => r.outcome === 'succeeded');
  const dup = results.reduce((a, r) => a + r.effects.duplicates.length, 0);
  const miss = results.reduce((a, r) => a + r.effects.missing.length, 0);
  const unexpected = results.reduce((a, r) => a + r.effects.unexpected.length, 0);
  const effects = results.reduce((a, r) => a + r.effects.counts.size, 0);
  const during = new Map<string, number>();
  for (const r of killed) {
    const k = r.kill!.during.replace(/ \(attempt \d+\)/, '');
    during.set(k, (during.get(k) ?? 0) + 1);
  }
  console.log(`\nLayer 1 playbook crash-survival benchmark (${new Date().toISOString()})\n`);
  printTable([
    {
      runs: results.length,
      kills: killed.length,
      completed: completed.length,
      'side effects checked': effects,
      'duplicates found': dup,
      'missing found': miss,
      'p50 run with a kill': killed.length ? `${percentile(killed.map((r) => r.ms), 50)} ms` : '—',
      'p50 run without': `${percentile(baseline, 50)} ms`,
      'p50 kill → replica restarted': killed.length ? `${percentile(killed.map((r) => r.replica!.aliveMs), 50)} ms` : '—',
      'p50 kill → self_healing ready': killed.length ? `${percentile(killed.map((r) => r.replica!.readyMs), 50)} ms` : '—',
    },
  ]);
  console.log(`\nkilled during: ${[...during].map(([k, n]) => `${k} ×${n}`).join(', ') || '—'}`);
  console.log(`max run with a kill: ${killed.length ? Math.max(...killed.map((r) => r.ms)) : '—'} ms; unexpected effects: ${unexpected}`);
  const ok = completed.length === results.length && killed.length >= runs && dup === 0 && miss === 0 && unexpected === 0;
  console.log(ok ? '\nEVERY RUN COMPLETED, EACH SIDE EFFECT EXACTLY ONCE' : '\nFAILED: see the runs above');
  if (!ok) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
