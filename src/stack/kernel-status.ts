/**
 * Kernel status for `layer1 status`. Two depths:
 *  - quick (the default): what the control plane already knows — each kernel's state, restarts and
 *    the checks of its last self-test, with when they ran — checked against the pid files (a dead
 *    process shows at once, whatever the control plane last saw) and the trigger monitors'
 *    heartbeats (they report a death or a failed liveness probe to the control plane within a
 *    probe period, which is what keeps its word current);
 *  - deep (`--deep`): each kernel's self-test run now, joined with what the control plane knows.
 */
import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import type { LoadedConfig } from '../config/load';
import type { CheckResult } from '../domain/checks';
import type { KernelName } from '../domain/kernels';
import { KernelState } from '../domain/kernel-state';
import type { ControlPlaneStatus, KernelRecord } from '../../contracts/control-plane';
import { DetachedProcessManager, type ProcessManager } from '../process/manager';
import { TRIGGER_MONITORS_COLLECTION } from '../clients/collections';
import { MONITOR_FRESH_MS } from '../../kernels/self-healing/kernel-manifest';

/** The `status --json` kernel entry: add fields, never rename these. */
export interface KernelStatus {
  name: KernelName;
  state: string;
  ready: boolean;
  pid: number | null;
  restarts: number;
  checks: CheckResult[];
  critical: boolean;
  processes: Record<string, number | null>;
  uptimeMs: number | null;
  crashLoop: boolean;
  backoffMs: number;
  lastReason: string | null;
  /** When `checks` ran (ISO time): now with `--deep`, else the control plane's last self-test; null if none is known. */
  checkedAt: string | null;
}

/** A trigger monitor's heartbeat (the `status --json` `monitors` entry). */
export interface MonitorStatus {
  name: string;
  pid: number | null;
  lastBeat: string;
  fresh: boolean;
  subscribed: boolean;
}

/** The control plane's status, or null with why not (not started, not running, unreachable). */
export async function controlPlaneState(client: Client): Promise<{ status: ControlPlaneStatus | null; why: string | null }> {
  const [{ CONTROL_PLANE_WORKFLOW_ID, getControlPlaneStatusQuery }, { errorText }] = await Promise.all([import('../../contracts/control-plane'), import('../domain/errors')]);
  const handle = client.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
  // Both at once: a query answers for a closed workflow too, so only the description says it runs.
  const [desc, status] = await Promise.allSettled([handle.describe(), handle.query(getControlPlaneStatusQuery)]);
  if (desc.status === 'rejected') {
    const notFound = (desc.reason as Error).name === 'WorkflowNotFoundError';
    return { status: null, why: notFound ? 'the control plane was never started: run `layer1 boot`' : `cannot ask the control plane: ${errorText(desc.reason)}` };
  }
  if (desc.value.status.name !== 'RUNNING') return { status: null, why: `the control plane is ${desc.value.status.name}: run \`layer1 boot\`` };
  if (status.status === 'rejected') return { status: null, why: `the control plane does not answer its status query: ${errorText(status.reason)}` };
  return { status: status.value, why: null };
}

export async function controlPlaneStatus(client: Client): Promise<ControlPlaneStatus | null> {
  return (await controlPlaneState(client).catch(() => ({ status: null }))).status;
}

/** The trigger monitors' heartbeats. */
export async function monitorStatuses(db: Db, freshMs = MONITOR_FRESH_MS): Promise<MonitorStatus[]> {
  const docs = await db
    .collection<{ _id: string; pid?: number; at: Date; subscribed?: boolean }>(TRIGGER_MONITORS_COLLECTION)
    .find({})
    .sort({ _id: 1 })
    .toArray();
  return docs.map((d) => ({
    name: d._id,
    pid: d.pid ?? null,
    lastBeat: d.at.toISOString(),
    fresh: Date.now() - d.at.getTime() < freshMs,
    subscribed: d.subscribed ?? false,
  }));
}

interface Joined {
  state: string;
  ready: boolean;
  pid: number | null;
  processes: Record<string, number | null>;
  uptimeMs: number | null;
  crashLoop: boolean;
}

/**
 * The control plane's word on a kernel, unless `ready` (the checks at hand) says otherwise; a crash
 * loop ends once a whole window passes without a restart.
 */
function join(config: LoadedConfig, rec: KernelRecord | undefined, processes: Record<string, number | null>, ready: boolean): Joined {
  // A kernel that manages no process here (the message bus on an external cluster) is as ready as its checks say.
  const anyAlive = Object.keys(processes).length === 0 || Object.values(processes).some((p) => p !== null);
  const readySince = rec?.readySince ? Date.parse(rec.readySince) : null;
  const lastRestart = rec?.lastRestartAt ? Date.parse(rec.lastRestartAt) : 0;
  const crashLoop = (rec?.crashLoop ?? false) && Date.now() - lastRestart < config.controlPlane.crashLoop.windowMs;
  const state =
    rec && rec.state !== KernelState.UNKNOWN
      ? (rec.state === KernelState.READY || rec.state === KernelState.CRASH_LOOP) && !ready
        ? KernelState.UNHEALTHY
        : rec.state === KernelState.CRASH_LOOP && !crashLoop
          ? KernelState.READY
          : rec.state
      : !anyAlive
        ? KernelState.STOPPED
        : ready
          ? KernelState.READY
          : KernelState.UNHEALTHY;
  return {
    state,
    ready,
    pid: Object.values(processes).find((p) => p !== null) ?? null,
    processes,
    uptimeMs: ready && readySince ? Date.now() - readySince : null,
    crashLoop,
  };
}

function entry(config: LoadedConfig, name: KernelName, rec: KernelRecord | undefined, j: Joined, checks: CheckResult[], checkedAt: string | null): KernelStatus {
  return {
    name,
    ...j,
    restarts: rec?.restarts ?? 0,
    checks,
    critical: config.kernels[name].critical,
    backoffMs: rec?.backoffMs ?? 0,
    lastReason: rec?.lastReason ?? null,
    checkedAt,
  };
}

/**
 * Quick: no self-test runs. A kernel is ready when the control plane says READY (or a crash loop
 * whose window passed) after a passing self-test and every process it knows is alive now.
 * @param cp the control plane's status, null with `cpWhy` when it cannot be had
 */
export function quickKernelStatuses(config: LoadedConfig, cp: ControlPlaneStatus | null, cpWhy: string | null, pm: ProcessManager = new DetachedProcessManager(config.stateDir)): KernelStatus[] {
  // The config has a section per kernel of the registry, in its order: the names without loading it.
  return (Object.keys(config.kernels) as KernelName[]).map((name) => {
    const rec = cp?.kernels[name];
    const known = Object.keys(rec?.pids ?? {});
    const processes = Object.fromEntries(known.map((p) => [p, pm.pid(p)]));
    const dead = known.filter((p) => processes[p] === null);
    const checks: CheckResult[] = [...(rec?.checks ?? [])];
    if (!rec) checks.push({ name: 'control_plane', ok: false, detail: cpWhy ?? 'the control plane does not know this kernel', ms: 0 });
    else if (dead.length > 0) checks.push({ name: 'processes_alive', ok: false, detail: `not running: ${dead.join(', ')} (pid files)`, ms: 0 });
    const saysReady = rec?.state === KernelState.READY || rec?.state === KernelState.CRASH_LOOP;
    const ready = saysReady && rec.desired === 'running' && checks.every((c) => c.ok);
    const joined = join(config, rec, processes, ready);
    // Without the control plane's record neither its processes nor its state are known here.
    return entry(config, name, rec, rec ? joined : { ...joined, state: KernelState.UNKNOWN }, checks, rec?.checkedAt ?? null);
  });
}

/**
 * A kernel whose processes are trigger monitors (the healing replicas) with none heartbeating
 * within {@link MONITOR_FRESH_MS} is not ready: nothing watches the kernels, so the control plane's word
 * is no longer kept current.
 */
export function withMonitors(kernels: KernelStatus[], monitors: MonitorStatus[]): KernelStatus[] {
  const names = new Set(monitors.map((m) => m.name));
  return kernels.map((k) => {
    const own = Object.keys(k.processes).filter((p) => names.has(p));
    if (own.length === 0 || monitors.some((m) => m.fresh && own.includes(m.name))) return k;
    const check = { name: 'trigger_monitors', ok: false, detail: `no heartbeat from ${own.join(', ')} within the last ${MONITOR_FRESH_MS} ms`, ms: 0 };
    return { ...k, ready: false, state: k.state === KernelState.READY ? KernelState.UNHEALTHY : k.state, checks: [...k.checks, check] };
  });
}

/** Deep: each kernel's self-test run now. */
export async function kernelStatuses(config: LoadedConfig, client: Client): Promise<KernelStatus[]> {
  const [{ KERNELS }, { connectStore }, { KERNEL_NAMES }] = await Promise.all([import('../../kernels/registry'), import('../clients/store'), import('../domain/kernels')]);
  const pm = new DetachedProcessManager(config.stateDir);
  const cp = await controlPlaneStatus(client);
  let store;
  try {
    store = await connectStore(config, 2_000);
  } catch {
    store = undefined;
  }
  try {
    return await Promise.all(
      KERNEL_NAMES.map(async (name): Promise<KernelStatus> => {
        const kernel = KERNELS[name];
        const processes = Object.fromEntries(kernel.processes(config).map((p) => [p, pm.pid(p)]));
        const checkedAt = new Date().toISOString();
        const checks: CheckResult[] = store
          ? await kernel.readiness({ config, pm, db: store.db, temporal: client }).catch((err: unknown) => [
              { name: 'self_test', ok: false, detail: (err as Error).message, ms: 0 },
            ])
          : [{ name: 'self_test', ok: false, detail: 'store unreachable', ms: 0 }];
        const rec = cp?.kernels[name];
        return entry(config, name, rec, join(config, rec, processes, checks.every((c) => c.ok)), checks, checkedAt);
      }),
    );
  } finally {
    await store?.close();
  }
}
