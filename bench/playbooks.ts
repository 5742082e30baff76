/**
 * Playbook engine speed, on the bench's own stack (bench/layer1.bench.yaml, or --config PATH), side
 * by side in one run:
 *
 *  (a) a playbook of 10 no-op steps (a Playbook built in code whose steps call the activity `noop`),
 *      with `kernel` set — the real per-kernel lock (a store document, taken and released by local
 *      activities) — and the REAL audit (12 entries per run, batched, appended with one fsync by the
 *      immutable log at the end of the run);
 *  (b) the floor: a bare Temporal workflow of 10 no-op activities (`noopActivitiesWorkflow`);
 *
 * p50 of each over --runs runs (interleaved, after warm-up), and their ratio (target ≤ 1.15). To
 * show where the overhead goes, the same playbook also runs without the lock (`kernel: null`), and
 * the local activities' own parts are timed directly (what beginPlaybookRun and finishPlaybookRun
 * do: the lock's acquire and release on a free lock, the log's head, the flush of 12 entries, the
 * report's replace), each alone.
 *
 *  (c) throughput: playbooks completed per second with 50 started at once, `kernel: null` (no lock,
 *      so nothing serialises them) and with 50 distinct kernels (50 lock documents); the floor
 *      workflow the same way for reference.
 *
 * The workflows run on an in-process worker (the stack's workers stay up: the immutable log kernel
 * must be booted for audits).
 *
 *   npm run build && node dist/bench/playbooks.js [--runs 30] [--concurrent 50] [--config PATH]
 */
import { rmSync } from 'node:fs';
import os from 'node:os';
import type { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { NatsConnection } from '@nats-io/nats-core';
import { createActionActivities } from '../activities/actions';
import { createPlaybookActivities, flushAudit, type AuditEntry } from '../activities/playbooks';
import { kernelLocks } from '../activities/kernel-locks';
import { connectBus } from '../src/clients/bus';
import { connectClient } from '../src/clients/temporal';
import { connectStore, type Store } from '../src/clients/store';
import type { Playbook, PlaybookStep } from '../src/playbooks/format';
import { processManager, startServices, startWorkers, stopAll } from '../src/stack/stack';
import { immutableLogClient } from '../kernels/registry';
import { runBoot } from '../scripts/kernel-verbs';
import { NOOP_ACTIVITIES_WORKFLOW, type NoopActivitiesWorkflow } from '../contracts/bench';
import type { PlaybookReport, PlaybookRunInput } from '../contracts/playbook';
import { WORKFLOW_BUNDLE } from '../workers/run-worker';
import { benchConfig, percentile, printTable } from './support';
import { PLAYBOOK_WORKFLOW, PLAYBOOK_WORKFLOW_TASK_TIMEOUT, type PlaybookWorkflow } from '../contracts/playbook';

const QUEUE = 'bench-playbooks';
/** The kernel whose lock the (a) runs take; nothing else on the bench stack takes it. */
const LOCK_KERNEL = 'self_healing';
const STEPS = 10;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const say = (m: string): void => {
  process.stderr.write(`• ${m}\n`);
};

function noopStep(i: number): PlaybookStep {
  return {
    id: `noop_${i}`,
    // Not one of the declared actions (the loader would refuse it): the workflow calls activities by name.
    action: 'noop' as PlaybookStep['action'],
    with: { i },
    output: null,
    when: null,
    timeoutMs: 10_000,
    retry: { attempts: 3, backoffMs: 1_000, nonRetryable: [] },
    onFailure: 'abort',
    compensate: null,
    approval: null,
  };
}

export function noopPlaybook(steps = STEPS): Playbook {
  return {
    name: 'bench_noop',
    description: `${steps} no-op steps`,
    file: '(built in bench/playbooks.ts)',
    trigger: { kernel: LOCK_KERNEL, events: ['exited'], signatures: [] },
    parameters: {},
    concurrency: 'wait',
    steps: Array.from({ length: steps }, (_, i) => noopStep(i + 1)),
  };
}

interface Variant {
  key: string;
  label: string;
  run: (id: string) => Promise<unknown>;
}

async function main(): Promise<void> {
  const runs = arg('runs', 30);
  const concurrent = arg('concurrent', 50);
  const config = benchConfig();
  const quiet = (): void => undefined;
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { forward: {}, filter: 'ERROR' } } });
  const watchdog = setTimeout(() => {
    say('the bench took longer than its bound; stopping the stack');
    void stopAll(config, quiet).finally(() => process.exit(2));
  }, 20 * 60_000);
  watchdog.unref();

  await stopAll(config, quiet);
  rmSync(config.stateDir, { recursive: true, force: true });
  let client: Client | undefined;
  let store: Store | undefined;
  let bus: NatsConnection | undefined;
  let connection: NativeConnection | undefined;
  const rows: Array<Record<string, string | number>> = [];
  const notes: string[] = [];
  try {
    await startServices(config, quiet);
    await startWorkers(config, quiet);
    client = await connectClient(config);
    const boot = await runBoot(config, client);
    if (!boot.ok) throw new Error(`the bench stack did not boot: ${boot.failedChecks.join('; ')}`);
    say('bench stack booted');
    store = await connectStore(config);
    // The healing worker's own bus user, as in the worker.
    bus = await connectBus(config, { user: 'self_healing', name: 'layer1-bench-playbooks' });
    const pm = processManager(config);
    const actions = createActionActivities({ config, db: store.db, bus, temporal: client, pm });
    const pb = createPlaybookActivities({ config, db: store.db, temporal: client });
    const noop = async (x: unknown): Promise<unknown> => x;
    // Every playbook activity (the local ones of today's runs among them) and the real append_audit.
    const common = { noop, ...pb, append_audit: actions.append_audit };

    connection = await NativeConnection.connect({ address: config.temporal.address });
    const mkWorker = (taskQueue: string, activities: object) =>
      Worker.create({
        connection: connection!,
        namespace: config.temporal.namespace,
        taskQueue,
        workflowBundle: { codePath: WORKFLOW_BUNDLE },
        activities,
      });
    const workers = [await mkWorker(QUEUE, common)];
    const running = workers.map((w) => w.run());
    const c = client;
    try {
      const playbook = noopPlaybook();
      const runPlaybook = (taskQueue: string, kernel: string | null) => async (id: string) => {
        const input: PlaybookRunInput = { playbook, params: {}, kernel, startedBy: 'bench' };
        const report = (await c.workflow.execute<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: id, args: [input], workflowTaskTimeout: PLAYBOOK_WORKFLOW_TASK_TIMEOUT })) as PlaybookReport;
        if (report.outcome !== 'succeeded') throw new Error(`${id}: ${report.outcome}`);
        if (report.auditErrors.length > 0) throw new Error(`${id}: audit errors ${report.auditErrors.join('; ')}`);
        return report;
      };
      const variants: Variant[] = [
        { key: 'floor', label: `(b) bare workflow, ${STEPS} no-op activities (floor)`, run: (id) => c.workflow.execute<NoopActivitiesWorkflow>(NOOP_ACTIVITIES_WORKFLOW, { taskQueue: QUEUE, workflowId: id, args: [STEPS] }) },
        { key: 'full', label: `(a) playbook, ${STEPS} no-op steps, kernel set (lock + real audit)`, run: runPlaybook(QUEUE, LOCK_KERNEL) },
        { key: 'nolock', label: '    same, kernel: null (real audit, no lock)', run: runPlaybook(QUEUE, null) },
      ];
      const times = new Map<string, number[]>(variants.map((v) => [v.key, []]));
      const tag = Date.now().toString(36);
      // Interleaved, so drift (the log growing, caches warming) weighs on every variant alike.
      for (let i = 0; i < runs + 3; i++) {
        for (const v of variants) {
          const t = performance.now();
          await v.run(`bench-${v.key}-${tag}-${i}`);
          if (i >= 3) times.get(v.key)!.push(performance.now() - t);
        }
        if ((i + 1) % 10 === 0) say(`${i + 1}/${runs + 3} rounds`);
      }
      const p50 = (k: string): number => percentile(times.get(k)!, 50);
      for (const v of variants) {
        rows.push({
          measure: v.label,
          p50: `${p50(v.key).toFixed(0)} ms`,
          p90: `${percentile(times.get(v.key)!, 90).toFixed(0)} ms`,
          runs: times.get(v.key)!.length,
          'vs floor': `${(p50(v.key) / p50('floor')).toFixed(2)}×`,
          target: v.key === 'full' ? '≤ 1.15×' : '—',
        });
      }
      notes.push(
        `ratio (a)/(b) = ${(p50('full') / p50('floor')).toFixed(2)} (target ≤ 1.15)`,
        `the lock ≈ ${(p50('full') - p50('nolock')).toFixed(0)} ms per run (kernel set − kernel null)`,
        `the engine without the lock ≈ ${(p50('nolock') / p50('floor')).toFixed(2)}× the floor ` +
          `(${(p50('nolock') - p50('floor')).toFixed(0)} ms: two local activities, the batched audit, the report)`,
      );

      // What the two local activities do, part by part, timed alone against the same servers.
      const log = immutableLogClient(config, 10_000);
      const locks = kernelLocks({ db: store.db, temporal: c });
      const part = { head: [] as number[], acquire: [] as number[], release: [] as number[], flush: [] as number[], record: [] as number[] };
      const time = async (into: number[], fn: () => Promise<unknown>): Promise<void> => {
        const t = performance.now();
        await fn();
        into.push(performance.now() - t);
      };
      for (let i = 0; i < runs; i++) {
        // A kernel of its own each round, so the acquire finds the lock free (the common case; a
        // held lock would cost a describe of its holder as well).
        const owner = { workflowId: `bench-parts-${tag}-${i}`, runId: 'r' };
        const lockKernel = `bench_parts_${tag}_${i}`;
        await time(part.acquire, () => locks.acquire(lockKernel, owner, 'wait'));
        await time(part.release, () => locks.release(lockKernel, owner));
        let afterSeq = 0;
        await time(part.head, async () => {
          afterSeq = (await log.head()).seq;
        });
        const entries: AuditEntry[] = Array.from({ length: 12 }, (_, k) => ({ key: `k${k}`, kind: 'bench.playbooks.part', data: { k }, at: Date.now() }));
        const run = { workflowId: owner.workflowId, runId: 'r', playbook: 'bench_noop', kernel: null };
        await time(part.flush, () => flushAudit(log, { run, entries, afterSeq }));
        // The report's store write alone: nothing to flush, no lock.
        await time(part.record, () => pb.finishPlaybookRun({ report: { workflowId: owner.workflowId, auditErrors: [] } as unknown as PlaybookReport, audit: { run, entries: [], afterSeq }, lock: null }));
      }
      const headSeq = (await log.head()).seq;
      const m = (xs: number[]): string => `${percentile(xs, 50).toFixed(1)} ms`;
      notes.push(
        `the local activities' parts (p50 of ${runs}, log of ${headSeq} entries): lock acquire (free) ${m(part.acquire)}, ` +
          `release (no waiter) ${m(part.release)}, log head ${m(part.head)}, flush of 12 entries (scan since the head + POST /append-batch, one fsync) ${m(part.flush)}, ` +
          `report replace ${m(part.record)}`,
      );

      // (c) Throughput: N started at once.
      const burst = async (label: string, start: (id: string, i: number) => Promise<unknown>): Promise<void> => {
        const rates: number[] = [];
        for (let rep = 0; rep < 3; rep++) {
          const t = performance.now();
          await Promise.all(Array.from({ length: concurrent }, (_, i) => start(`bench-burst-${label.replace(/\W+/g, '-')}-${tag}-${rep}-${i}`, i)));
          rates.push(concurrent / ((performance.now() - t) / 1000));
        }
        rows.push({
          measure: `(c) ${label}: ${concurrent} started at once`,
          p50: `${percentile(rates, 50).toFixed(1)} /s`,
          p90: `${Math.min(...rates).toFixed(1)}–${Math.max(...rates).toFixed(1)} /s`,
          runs: rates.length,
          'vs floor': '',
          target: '—',
        });
        say(`${label}: ${rates.map((r) => r.toFixed(1)).join(', ')} completed/s`);
      };
      await burst('playbooks, kernel: null (real audit)', (id) => runPlaybook(QUEUE, null)(id));
      await burst(`playbooks, ${concurrent} distinct kernels (one lock each, real audit)`, (id, i) => runPlaybook(QUEUE, `bench_kernel_${i}`)(id));
      await burst('floor workflows', (id) => c.workflow.execute<NoopActivitiesWorkflow>(NOOP_ACTIVITIES_WORKFLOW, { taskQueue: QUEUE, workflowId: id, args: [STEPS] }));
      const floorRate = rows.at(-1)!.p50;
      rows.at(-1)!['vs floor'] = '';
      notes.push(`throughput of the floor workflow for reference: ${floorRate}`);
    } finally {
      for (const w of workers) w.shutdown();
      await Promise.all(running);
    }
  } finally {
    clearTimeout(watchdog);
    await bus?.close().catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await client?.connection.close().catch(() => undefined);
    await store?.close().catch(() => undefined);
    await stopAll(config, quiet);
  }

  console.log(`\nLayer 1 playbook benchmark (${new Date().toISOString()}, ${os.cpus().length} cores)\n`);
  printTable(rows);
  console.log('');
  for (const n of notes) console.log(n);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
