/**
 * The four kernels, each described once: which managed processes it is made of, how to start
 * them (idempotently), a cheap liveness probe per process, and its readiness self-test — a list
 * of named checks that exercise the kernel for real.
 */
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import { formatProblem, type LoadedConfig } from '../src/config/load';
import { loadPlaybooks } from '../src/playbooks/loader';
import { timedCheck, type CheckResult } from '../src/domain/checks';
import type { KernelName } from '../src/domain/kernels';
import { standbyName, type ProcessManager, type ProcessSpec } from '../src/process/manager';
import { busService, errorText, type HealthResult } from '../src/stack/services';
import { workerDefs, workerSpec } from '../src/stack/stack';
import { ensureTools, REPO_ROOT } from '../src/stack/tools';
import { ImmutableLogClient } from './immutable-log/client';
import { busReadiness } from './message-bus/readiness';
import { ensureStreams } from './message-bus/streams';

export interface KernelContext {
  config: LoadedConfig;
  pm: ProcessManager;
  db: Db;
  temporal: Client;
}

export interface KernelDef {
  name: KernelName;
  /** Names of its managed processes (pid and log files). */
  processes(config: LoadedConfig): string[];
  /** The spec of one of its processes. */
  spec(config: LoadedConfig, processName: string): Promise<ProcessSpec>;
  /** Runs after its processes start (idempotent): e.g. the bus's streams and consumers. */
  afterStart?(ctx: KernelContext): Promise<void>;
  /** A cheap probe of one process: Kubernetes liveness semantics are applied by the caller. */
  liveness(ctx: Pick<KernelContext, 'config' | 'pm'>, processName: string, timeoutMs: number): Promise<HealthResult>;
  /** The real self-test. Never throws: a failure is a failed check. */
  readiness(ctx: KernelContext): Promise<CheckResult[]>;
}

/** Collections the kernels report into. */
export const REGISTRATIONS_COLLECTION = 'kernel_registrations';
export const TRIGGER_MONITORS_COLLECTION = 'trigger_monitors';
export const SIGNATURES_COLLECTION = 'signatures';

/** How fresh a trigger monitor's heartbeat must be to count as subscribed. */
export const MONITOR_FRESH_MS = 5_000;

export function immutableLogClient(config: LoadedConfig, timeoutMs = 2_000): ImmutableLogClient {
  return new ImmutableLogClient({ baseUrl: `http://127.0.0.1:${config.kernels.immutable_log.port}`, timeoutMs });
}

const pidAlive = (pm: ProcessManager, name: string): HealthResult =>
  pm.isAlive(name) ? { healthy: true, detail: `pid ${pm.pid(name)} alive` } : { healthy: false, detail: 'process not running' };

/**
 * Pollers of a task queue that belong to a live process: identities are `name:pid@host`, and a
 * poller Temporal still lists for a worker that died is not counted.
 */
export async function livePollers(ctx: KernelContext, taskQueue: string): Promise<string[]> {
  const res = await ctx.temporal.workflowService.describeTaskQueue({
    namespace: ctx.config.temporal.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: 1,
  });
  const host = os.hostname();
  return (res.pollers ?? [])
    .map((p) => p.identity ?? '')
    .filter((id) => {
      const m = /^([^:]+):(\d+)@(.+)$/.exec(id);
      if (!m) return false;
      if (m[3] !== host) return true; // a remote worker: trust Temporal's own poller expiry
      return ctx.pm.pid(m[1]) === Number(m[2]);
    });
}

function workerProcesses(config: LoadedConfig, prefix: string): string[] {
  return workerDefs(config)
    .filter((w) => w.name.startsWith(prefix))
    .map((w) => w.name);
}

async function workerSpecOf(config: LoadedConfig, name: string): Promise<ProcessSpec> {
  const def = workerDefs(config).find((w) => w.name === name);
  if (!def) throw new Error(`no worker named ${name}`);
  return workerSpec(config, def);
}

const messageBus: KernelDef = {
  name: 'message_bus',
  processes: () => ['bus'],
  spec: async (config) => busService(config).spec(await ensureTools(() => undefined)),
  afterStart: async ({ config }) => {
    await ensureStreams(config);
  },
  liveness: async ({ config }, _p, timeoutMs) => busService(config).health(timeoutMs),
  readiness: async ({ config }) => busReadiness(config),
};

const immutableLog: KernelDef = {
  name: 'immutable_log',
  processes: () => ['immutable-log'],
  spec: async (config) => {
    const k = config.kernels.immutable_log;
    return {
      name: 'immutable-log',
      command: process.execPath,
      args: [
        path.join(REPO_ROOT, 'dist', 'kernels', 'immutable-log', 'main.js'),
        '--dir', path.join(config.stateDir, 'log'),
        '--port', String(k.port),
        '--host', '127.0.0.1',
        '--quota-mb', String(k.quotaMb),
        '--segment-kb', String(k.segmentKb),
        '--min-free-mb', String(k.minFreeDiskMb),
      ],
      cwd: REPO_ROOT,
    };
  },
  liveness: async ({ config }, _p, timeoutMs) => {
    try {
      const h = await immutableLogClient(config, timeoutMs).healthz();
      return { healthy: h.ok, detail: h.ok ? `pid ${h.pid} answers` : 'healthz not ok' };
    } catch (err) {
      return { healthy: false, detail: errorText(err) };
    }
  },
  readiness: async ({ config }) => {
    try {
      const report = await immutableLogClient(config, 5_000).ready(config.kernels.immutable_log.minFreeDiskMb);
      return report.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.detail, ms: c.ms }));
    } catch (err) {
      return [{ name: 'writable', ok: false, detail: `log API unreachable: ${errorText(err)}`, ms: 0 }];
    }
  },
};

/** Every playbook under playbooks/ loads and validates (none at all is fine). */
async function playbooksLoaded(): Promise<string> {
  const { playbooks, problems } = loadPlaybooks();
  if (problems.length > 0) {
    throw new Error(`${problems.length} problem(s): ${problems.slice(0, 3).map(formatProblem).join('; ')}`);
  }
  return playbooks.length === 0 ? 'no playbooks defined yet' : `${playbooks.length} playbook(s) valid`;
}

const selfHealing: KernelDef = {
  name: 'self_healing',
  processes: (config) => workerProcesses(config, 'healing-'),
  spec: workerSpecOf,
  liveness: async ({ pm }, p) => pidAlive(pm, p),
  readiness: async (ctx) =>
    Promise.all([
      timedCheck('playbooks_loaded', playbooksLoaded),
      timedCheck('triggers_subscribed', async () => {
        const replicas = workerProcesses(ctx.config, 'healing-').filter((p) => ctx.pm.isAlive(p));
        if (replicas.length === 0) throw new Error('no healing replica is running');
        const fresh = await ctx.db
          .collection<{ _id: string; pid: number; at: Date; subscribed: boolean }>(TRIGGER_MONITORS_COLLECTION)
          .find({ at: { $gte: new Date(Date.now() - MONITOR_FRESH_MS) }, subscribed: true })
          .toArray();
        const live = replicas.filter((r) => fresh.some((m) => m._id === r && m.pid === ctx.pm.pid(r)));
        if (live.length === 0) throw new Error(`no trigger monitor heartbeat within ${MONITOR_FRESH_MS} ms from ${replicas.join(', ')}`);
        return `trigger monitors live in ${live.join(', ')}`;
      }),
      timedCheck('knowledge_base', async () => {
        await ctx.db.command({ ping: 1 });
        const n = await ctx.db.collection(SIGNATURES_COLLECTION).estimatedDocumentCount();
        return `store reachable, ${n} known signature(s)`;
      }),
      timedCheck('replicas_polling', async () => {
        const queue = ctx.config.temporal.taskQueues.healing;
        const pollers = await livePollers(ctx, queue);
        const replicas = workerProcesses(ctx.config, 'healing-');
        const missing = replicas.filter((r) => !pollers.some((p) => p.startsWith(`${r}:`)));
        // Every configured replica must poll: one down means a crash would stop the healing.
        if (missing.length > 0) throw new Error(`not polling ${queue}: ${missing.join(', ')} (${pollers.length}/${replicas.length} live)`);
        return `${pollers.length}/${replicas.length} replicas polling ${queue}`;
      }),
    ]),
};

interface Registration {
  _id: string;
  kernel: KernelName;
  pid: number;
  fixers: string[];
  knowledge: number;
  at: Date;
}

const codingAgent: KernelDef = {
  name: 'coding_agent',
  processes: (config) => workerProcesses(config, 'coding-agent-'),
  spec: workerSpecOf,
  liveness: async ({ pm }, p) => pidAlive(pm, p),
  readiness: async (ctx) => {
    const queue = ctx.config.temporal.taskQueues.codingAgent;
    const pollers = await livePollers(ctx, queue).catch(() => [] as string[]);
    const regs = await ctx.db
      .collection<Registration>(REGISTRATIONS_COLLECTION)
      .find({ kernel: 'coding_agent' })
      .toArray()
      .catch(() => [] as Registration[]);
    // Only registrations of workers that are polling right now count.
    const live = regs.filter((r) => pollers.some((p) => p.startsWith(`${r._id}:${r.pid}@`)));
    return Promise.all([
      timedCheck('task_queue_pollers', async () => {
        if (pollers.length === 0) throw new Error(`no live poller on ${queue}`);
        return `${pollers.length} poller(s) on ${queue}`;
      }),
      timedCheck('fixers_available', async () => {
        const fixers = [...new Set(live.flatMap((r) => r.fixers))];
        if (fixers.length === 0) throw new Error('no live coding-agent worker has registered a fixer');
        return `fixers: ${fixers.join(', ')}`;
      }),
      timedCheck('knowledge_loaded', async () => {
        if (live.length === 0) throw new Error('no live coding-agent worker has loaded the knowledge base');
        return `knowledge base loaded (${Math.max(...live.map((r) => r.knowledge))} signature(s))`;
      }),
    ]);
  },
};

export const KERNELS: Record<KernelName, KernelDef> = {
  message_bus: messageBus,
  immutable_log: immutableLog,
  self_healing: selfHealing,
  coding_agent: codingAgent,
};

/** Which kernel a managed process belongs to. */
export function kernelOfProcess(config: LoadedConfig, processName: string): KernelName | undefined {
  return (Object.values(KERNELS) as KernelDef[]).find((k) => k.processes(config).includes(processName))?.name;
}

/** Starts the kernel's processes that are not running (a no-op for the others), then its afterStart. */
export async function startKernel(ctx: KernelContext, name: KernelName, only?: string): Promise<Record<string, number | null>> {
  const kernel = KERNELS[name];
  const pids: Record<string, number | null> = {};
  for (const p of kernel.processes(ctx.config)) {
    if (only && p !== only) {
      pids[p] = ctx.pm.pid(p);
      continue;
    }
    // Idempotent: the process manager starts nothing when a live process holds the name (and
    // promotes the process's warm spare, if it has one, rather than starting it cold).
    const info = await ctx.pm.start(await kernel.spec(ctx.config, p));
    pids[p] = info.pid;
  }
  if (kernel.afterStart) await waitThen(ctx, kernel, () => kernel.afterStart!(ctx));
  return pids;
}

/** afterStart needs the process to answer: give it a few seconds, probing liveness. */
async function waitThen(ctx: KernelContext, kernel: KernelDef, fn: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = '';
  while (Date.now() < deadline) {
    const probes = await Promise.all(kernel.processes(ctx.config).map((p) => kernel.liveness(ctx, p, 500)));
    if (probes.every((h) => h.healthy)) return fn();
    last = probes.map((h) => h.detail).join('; ');
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${kernel.name} did not answer within 10 s: ${last}`);
}

/**
 * Stops the kernel's processes. With `spares`, their warm spares too: a kernel stopped for good
 * leaves nothing of its own running, while a restart (stop, then start) keeps them, so the start
 * promotes a spare instead of starting cold.
 */
export async function stopKernel(
  ctx: Pick<KernelContext, 'config' | 'pm'>,
  name: KernelName,
  opts: { graceMs?: number; spares?: boolean } = {},
): Promise<void> {
  const graceMs = opts.graceMs ?? 10_000;
  const names = KERNELS[name].processes(ctx.config).flatMap((p) => (opts.spares ? [p, standbyName(p)] : [p]));
  await Promise.all(names.map((p) => ctx.pm.stop(p, graceMs)));
}

export function kernelNamesOfProcesses(config: LoadedConfig): string[] {
  return (Object.values(KERNELS) as KernelDef[]).flatMap((k) => k.processes(config));
}
