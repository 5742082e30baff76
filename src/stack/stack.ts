/**
 * Brings the embedded stack and the workers up and down, and reports their health. Idempotent:
 * `up` on a running stack starts nothing; `down` stops only what our pid files name.
 */
import { existsSync, readFileSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { LoadedConfig } from '../config/load';
import type { ConfigProblem } from '../config/load';
import { errorText } from '../domain/errors';
import { ExitCode, UserError } from '../errors';
import { DetachedProcessManager, type ProcessManager, type ProcessSpec, type StandbyInfo } from '../process/manager';
import { portInUse, services, tcpHealth, webUiUrl, type HealthResult, type ServiceDef, type ServiceName } from './services';
import { ensureTools, type Progress } from './tools';
import { serverEndpoints } from './endpoints';
import { busModeNotes, externalBusProblems } from './bus-mode';
import { METRICS_PROCESS, metricsAnswers, metricsSpec, metricsUrl } from './metrics-process';
import { DASHBOARD_PROCESS, dashboardAnswers, dashboardSpec, dashboardUrl } from '../dashboard/process';
import type { WorkerDef } from './workers';

export interface ServiceStatus {
  healthy: boolean;
  pid: number | null;
  address: string;
  log: string | null;
  embedded: boolean;
  detail: string;
  /** What differs for this server in its mode (an external bus: what Layer 1 does not do there); usually empty. */
  notes: string[];
}

export interface WorkerStatus {
  name: string;
  taskQueue: string;
  pid: number | null;
  healthy: boolean;
  detail: string;
  /** Its warm spare (`workers.standby`), null when spares are off. */
  standby: StandbyInfo | null;
}

/** The `status --json` contract: add fields, never rename these. */
export interface StackStatus {
  healthy: boolean;
  /** The Temporal Web UI's URL, null when there is none (a cluster without `temporal.webUiUrl`). */
  webUi: string | null;
  /** The full URL of /metrics (Prometheus text format), null when `metrics.enabled` is false. */
  metrics: string | null;
  /** The dashboard page's URL, null when `dashboard.enabled` is false. */
  dashboard: string | null;
  services: Record<ServiceName, ServiceStatus>;
  workers: WorkerStatus[];
}

export const STACK_START_TIMEOUT_MS = 60_000;
export const WORKER_START_TIMEOUT_MS = 60_000;
const SIDE_PROCESS_START_TIMEOUT_MS = 20_000;
const HEALTH_PROBE_TIMEOUT_MS = 1_500;

export function processManager(config: LoadedConfig): ProcessManager {
  return new DetachedProcessManager(config.stateDir);
}

function isLocalHost(host: string): boolean {
  if (host === 'localhost' || host.startsWith('127.') || host === '::1' || host === '0.0.0.0') return true;
  return Object.values(os.networkInterfaces()).some((addrs) => addrs?.some((a) => a.address === host));
}

const ADDRESS_PATHS: Record<ServiceName, string> = { temporal: 'temporal.address', store: 'store.uri', bus: 'bus.url' };

/**
 * Checks everything that can be checked before starting anything: embedded servers must bind
 * local addresses on free ports (or be ours already), external servers must answer.
 */
async function checkBeforeStart(config: LoadedConfig, defs: ServiceDef[], pm: ProcessManager): Promise<void> {
  // The loader (YAML parser, schema) only where a problem is reported: `layer1 status` does not need it.
  const { ConfigError, configProblem } = await import('../config/load');
  const problems: ConfigProblem[] = [];
  const add = (p: string, message: string): void => {
    problems.push(configProblem(config, p, message));
  };
  await Promise.all(
    defs.map(async (svc) => {
      if (svc.embedded) {
        if (pm.isAlive(svc.name)) return;
        for (const p of svc.ports) {
          if (!isLocalHost(p.host)) {
            add(p.path, `${p.host} is not an address of this machine, so the embedded ${svc.name} cannot listen there (set ${svc.name}.embedded: false for a remote server)`);
          } else if (await portInUse(p.host, p.port)) {
            add(p.path, `port ${p.port} (${p.what}) is already in use by another program`);
          }
        }
      } else {
        const h = await svc.health(3_000);
        if (!h.healthy) add(ADDRESS_PATHS[svc.name], `cannot reach ${svc.name} at ${svc.address}: ${h.detail}`);
        // The kernels connect to an external bus as their own ACL users: each must be able to log in.
        else if (svc.name === 'bus') for (const m of await externalBusProblems(config)) add('bus.embedded', m);
      }
    }),
  );
  // The metrics process binds its port when the store answers, after the servers: its port is checked now, with theirs.
  if (config.metrics.enabled && !pm.isAlive(METRICS_PROCESS) && (await portInUse(config.metrics.host, config.metrics.port))) {
    add('metrics.port', `port ${config.metrics.port} (the /metrics endpoint) is already in use by another program`);
  }
  if (config.dashboard.enabled && !pm.isAlive(DASHBOARD_PROCESS) && (await portInUse(config.dashboard.host, config.dashboard.port))) {
    add('dashboard.port', `port ${config.dashboard.port} (the dashboard page) is already in use by another program`);
  }
  if (problems.length > 0) throw new ConfigError(config.configFile, problems);
}

function checkStateDir(config: LoadedConfig): void {
  const dir = existsSync(config.stateDir) ? config.stateDir : path.dirname(config.stateDir);
  const st = statfsSync(dir);
  const freeMb = (st.bavail * st.bsize) / 1024 / 1024;
  if (freeMb < config.preflight.minFreeDiskMb) {
    throw new UserError(
      `only ${Math.floor(freeMb)} MiB free under ${dir}; preflight.minFreeDiskMb asks for ${config.preflight.minFreeDiskMb}`,
      ExitCode.PREREQUISITE,
    );
  }
}

async function waitHealthy(svc: ServiceDef, logPath: string | null, timeoutMs: number, progress: Progress): Promise<void> {
  const started = Date.now();
  let last = '';
  while (Date.now() - started < timeoutMs) {
    const h = await svc.health(HEALTH_PROBE_TIMEOUT_MS);
    if (h.healthy) {
      progress(`${svc.name} healthy at ${svc.address} in ${((Date.now() - started) / 1000).toFixed(1)} s (${h.detail})`);
      return;
    }
    last = h.detail;
    await sleep(100);
  }
  throw new UserError(
    `${svc.name} did not become healthy within ${timeoutMs / 1000} s: ${last}` +
      (logPath ? `\n  its log: ${logPath}\n${tail(logPath, 15)}` : ''),
  );
}

export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `    | ${l}`).join('\n');
  } catch {
    return '';
  }
}

/** Starts the stack servers (not the workers). Returns once each is healthy. */
export async function startServices(config: LoadedConfig, progress: Progress): Promise<void> {
  const pm = processManager(config);
  const defs = services(config);
  await checkBeforeStart(config, defs, pm);
  checkStateDir(config);
  // Only what an embedded server runs on is obtained (and checked): with every server external, nothing.
  const embedded = new Set(defs.filter((s) => s.embedded).map((s) => s.name));
  const tools = embedded.size > 0 ? await ensureTools(progress, process.env, { servers: [...embedded] }) : null;
  await Promise.all(
    defs.map(async (svc) => {
      if (!svc.embedded || !tools) {
        progress(`${svc.name}: using external server at ${svc.address}`);
        return;
      }
      const already = pm.isAlive(svc.name);
      const info = await pm.start(await svc.spec(tools));
      progress(`${svc.name}: ${already ? 'already running' : 'started'} (pid ${info.pid}, log ${info.logPath})`);
      await waitHealthy(svc, info.logPath, STACK_START_TIMEOUT_MS, progress);
    }),
  );
  await ensureSearchAttributes(config);
  await startSideProcesses(config, pm, progress);
}

/** A process `up` starts beside the servers once the store answers: /metrics, the dashboard. */
interface SideProcess {
  enabled: boolean;
  name: string;
  what: string;
  spec: ProcessSpec;
  url: string | null;
  answers: () => Promise<boolean>;
}

/** Starts the metrics process (src/metrics/main.ts) and the dashboard (src/dashboard/main.ts) unless they run already. */
async function startSideProcesses(config: LoadedConfig, pm: ProcessManager, progress: Progress): Promise<void> {
  const sides: SideProcess[] = [
    { enabled: config.metrics.enabled, name: METRICS_PROCESS, what: 'metrics', spec: metricsSpec(config), url: metricsUrl(config), answers: () => metricsAnswers(config) },
    { enabled: config.dashboard.enabled, name: DASHBOARD_PROCESS, what: 'dashboard', spec: dashboardSpec(config), url: dashboardUrl(config), answers: () => dashboardAnswers(config) },
  ];
  await Promise.all(sides.filter((s) => s.enabled).map((s) => startSideProcess(s, pm, progress)));
}

/** Starts one unless it runs already, and waits until it answers. */
async function startSideProcess(side: SideProcess, pm: ProcessManager, progress: Progress): Promise<void> {
  const already = pm.isAlive(side.name);
  const info = await pm.start(side.spec);
  const started = Date.now();
  while (Date.now() - started < SIDE_PROCESS_START_TIMEOUT_MS) {
    if (await side.answers()) {
      progress(`${side.what}: ${already ? 'already running' : 'started'} (pid ${info.pid}) at ${side.url}`);
      return;
    }
    // Dead: its log says why (a port taken since the check, a store that went away).
    if (!pm.isAlive(side.name)) break;
    await sleep(100);
  }
  throw new UserError(`the ${side.what} process did not answer at ${side.url}\n  its log: ${info.logPath}\n${tail(info.logPath, 15)}`);
}

/** Registers our search attributes where they are missing (a real cluster; the dev server has them). */
async function ensureSearchAttributes(config: LoadedConfig): Promise<void> {
  const { connectClient } = await import('../clients/temporal');
  const client = await connectClient(config);
  try {
    const { customAttributes } = await client.connection.operatorService.listSearchAttributes({
      namespace: config.temporal.namespace,
    });
    const { INDEXED_VALUE_TYPE, SEARCH_ATTRIBUTES } = await import('./search-attributes');
    const missing = Object.keys(SEARCH_ATTRIBUTES).filter((k) => !(customAttributes && k in customAttributes));
    if (missing.length === 0) return;
    await client.connection.operatorService.addSearchAttributes({
      namespace: config.temporal.namespace,
      searchAttributes: Object.fromEntries(missing.map((k) => [k, INDEXED_VALUE_TYPE[SEARCH_ATTRIBUTES[k]]])),
    });
  } finally {
    await client.connection.close();
  }
}

/** Starts each worker process unless it runs already, then waits until each polls its task queue. */
export async function startWorkers(config: LoadedConfig, progress: Progress, only?: string[]): Promise<void> {
  const pm = processManager(config);
  const { workerDefs, workerSpec } = await import('./workers');
  const defs = workerDefs(config).filter((w) => !only || only.includes(w.name));
  for (const w of defs) {
    const already = pm.isAlive(w.name);
    const info = await pm.start(workerSpec(config, w));
    progress(`worker ${w.name}: ${already ? 'already running' : 'started'} (pid ${info.pid}, log ${info.logPath})`);
  }
  const started = Date.now();
  for (;;) {
    const statuses = (await workerStatuses(config)).filter((s) => defs.some((d) => d.name === s.name));
    const notReady = statuses.filter((s) => !s.healthy);
    if (notReady.length === 0) {
      // Their spares (workers.standby) are started by the trigger monitor once a boot is done:
      // loading them now would slow the workers and the boot down on a small machine.
      progress(`workers polling in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      if (!only) await startChaos(config, pm, progress);
      return;
    }
    const dead = notReady.find((s) => s.pid === null);
    if (dead || Date.now() - started > WORKER_START_TIMEOUT_MS) {
      const w = dead ?? notReady[0];
      const log = pm.logPath(w.name);
      throw new UserError(`worker ${w.name} is not polling ${w.taskQueue}: ${w.detail}\n  its log: ${log}\n${tail(log, 15)}`);
    }
    await sleep(200);
  }
}

/** The chaos workers (src/stack/chaos-workers.ts), once the kernels' workers poll. */
async function startChaos(config: LoadedConfig, pm: ProcessManager, progress: Progress): Promise<void> {
  const { startChaosWorkers } = await import('./chaos-workers');
  const queue = config.temporal.taskQueues.chaos;
  await startChaosWorkers(config, pm, progress, async () => {
    const p = await taskQueuePollers(config, undefined, [queue]);
    return p.byQueue?.[queue] ?? [];
  }).catch((err: Error) => {
    throw new UserError(err.message);
  });
}

/** Identity a worker presents to Temporal; status matches pollers to processes by it. */
export function workerIdentity(name: string, pid: number): string {
  return `${name}:${pid}@${os.hostname()}`;
}

/** The identities polling each worker task queue for workflow tasks, or why they could not be had. */
export type Pollers = { byQueue: Record<string, string[]>; error: null } | { byQueue: null; error: string };

/** @param temporal an open client to ask (left open), else one is opened and closed here */
export async function taskQueuePollers(config: LoadedConfig, temporal?: Client, queues?: readonly string[]): Promise<Pollers> {
  const byQueue: Record<string, string[]> = {};
  try {
    const { connectClient } = await import('../clients/temporal');
    const client = temporal ?? (await connectClient(config, HEALTH_PROBE_TIMEOUT_MS));
    try {
      const { workerDefs } = await import('./workers');
      for (const queue of new Set(queues ?? workerDefs(config).map((d) => d.taskQueue))) {
        // Workflow-task pollers: a worker that polls these is running its workflows.
        const res = await client.workflowService.describeTaskQueue({
          namespace: config.temporal.namespace,
          taskQueue: { name: queue },
          taskQueueType: 1,
        });
        byQueue[queue] = (res.pollers ?? []).map((p) => p.identity).filter((id): id is string => !!id);
      }
    } finally {
      if (!temporal) await client.connection.close();
    }
    return { byQueue, error: null };
  } catch (err) {
    return { byQueue: null, error: errorText(err) };
  }
}

/** @param temporal an open client to ask (left open), else one is opened and closed here */
export async function workerStatuses(config: LoadedConfig, temporal?: Client): Promise<WorkerStatus[]> {
  const { workerDefs } = await import('./workers');
  return workerStatusesOf(config, workerDefs(config), await taskQueuePollers(config, temporal));
}

/** Each worker's process (pid file) and whether Temporal lists it among its queue's pollers. */
export function workerStatusesOf(config: LoadedConfig, defs: Array<Pick<WorkerDef, 'name' | 'taskQueue'>>, pollers: Pollers): WorkerStatus[] {
  const pm = processManager(config);
  return defs.map((w) => {
    const pid = pm.pid(w.name);
    const standby = config.workers.standby ? pm.standbyInfo(w.name) : null;
    const base = { name: w.name, taskQueue: w.taskQueue, pid, standby };
    if (pid === null) return { ...base, healthy: false, detail: 'not running' };
    if (pollers.error !== null) return { ...base, healthy: false, detail: `cannot ask Temporal: ${pollers.error}` };
    const polling = pollers.byQueue[w.taskQueue]?.includes(workerIdentity(w.name, pid)) ?? false;
    return { ...base, healthy: polling, detail: polling ? 'polling' : 'running, not polling yet' };
  });
}

/**
 * @param opts.quick the servers' cheapest health probes (see {@link HealthOptions})
 * @param opts.temporal an open client that Temporal's health and the workers' pollers are asked over
 * @param opts.seen what a trigger monitor saw a moment ago (src/stack/status-snapshot.ts): the
 *   workers and the pollers it listed, and that Temporal and the store answered it (`detail` says when), so those
 *   two only need their port to be open now
 */
export async function stackStatus(
  config: LoadedConfig,
  opts: {
    quick?: boolean;
    temporal?: Client;
    /** Why the caller could not connect to Temporal: not tried again. */
    temporalDown?: string;
    seen?: { workers: Array<Pick<WorkerDef, 'name' | 'taskQueue'>>; pollers: Pollers; detail: string };
  } = {},
): Promise<StackStatus> {
  const pm = processManager(config);
  const defs = services(config);
  const down = opts.temporalDown;
  const workersStatus = opts.seen
    ? Promise.resolve(workerStatusesOf(config, opts.seen.workers, opts.seen.pollers))
    : down !== undefined
      ? import('./workers').then(({ workerDefs }) => workerStatusesOf(config, workerDefs(config), { byQueue: null, error: down }))
      : workerStatuses(config, opts.temporal);
  const seen = opts.seen;
  const health = async (svc: ServiceDef): Promise<HealthResult> => {
    if (down !== undefined && svc.name === 'temporal') return { healthy: false, detail: down };
    if (!seen || svc.name === 'bus') return svc.health(HEALTH_PROBE_TIMEOUT_MS, { quick: opts.quick, connection: opts.temporal?.connection });
    // An embedded server's own port; an external one answers when any of its addresses does.
    const targets = svc.embedded ? [svc.ports[0]] : serverEndpoints(config, svc.name);
    const opens = await Promise.all(targets.map((t) => tcpHealth(t.host, t.port, HEALTH_PROBE_TIMEOUT_MS)));
    const open = opens.find((o) => o.healthy) ?? opens[0];
    return open.healthy ? { healthy: true, detail: `port open; ${seen.detail}` } : open;
  };
  const entries = await Promise.all(
    defs.map(async (svc): Promise<[ServiceName, ServiceStatus]> => {
      const h = await health(svc);
      return [
        svc.name,
        {
          healthy: h.healthy,
          pid: svc.embedded ? pm.pid(svc.name) : null,
          address: svc.address,
          log: svc.embedded ? pm.logPath(svc.name) : null,
          embedded: svc.embedded,
          detail: h.detail,
          notes: svc.name === 'bus' ? busModeNotes(config) : [],
        },
      ];
    }),
  );
  const servicesStatus = Object.fromEntries(entries) as Record<ServiceName, ServiceStatus>;
  const workers = await workersStatus;
  return {
    healthy: entries.every(([, s]) => s.healthy) && workers.every((w) => w.healthy),
    webUi: webUiUrl(config),
    metrics: metricsUrl(config),
    dashboard: dashboardUrl(config),
    services: servicesStatus,
    workers,
  };
}

/**
 * Stops everything our pid files name: workers and kernels first (they hold connections to the
 * servers), then the servers. Never looks processes up by name.
 */
export async function stopAll(config: LoadedConfig, progress: Progress): Promise<void> {
  const pm = processManager(config);
  const serviceNames = new Set<string>(services(config).map((s) => s.name));
  const stopGroup = (names: string[]): Promise<void[]> =>
    Promise.all(
      names.map(async (name) => {
        if (pm.isAlive(name)) progress(`stopping ${name}`);
        await pm.stop(name, 10_000);
      }),
    );
  const known = pm.list();
  await stopGroup(known.filter((n) => !serviceNames.has(n)));
  await stopGroup(known.filter((n) => serviceNames.has(n)));
}
