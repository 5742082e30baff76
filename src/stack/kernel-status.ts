/**
 * Kernel status for `layer1 status`: each kernel's self-test run now, joined with what the
 * control plane knows (state, restarts, backoff, crash loop).
 */
import type { Client } from '@temporalio/client';
import type { LoadedConfig } from '../config/load';
import { connectStore } from '../clients/store';
import type { CheckResult } from '../domain/checks';
import { KERNEL_NAMES, KernelState, type KernelName } from '../domain/kernels';
import { KERNELS } from '../../kernels/registry';
import { CONTROL_PLANE_WORKFLOW_ID, getControlPlaneStatusQuery, type ControlPlaneStatus } from '../../contracts/control-plane';
import { processManager } from './stack';

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
}

export async function controlPlaneStatus(client: Client): Promise<ControlPlaneStatus | null> {
  try {
    const handle = client.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') return null;
    return await handle.query(getControlPlaneStatusQuery);
  } catch {
    return null;
  }
}

export async function kernelStatuses(config: LoadedConfig, client: Client): Promise<KernelStatus[]> {
  const pm = processManager(config);
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
        const anyAlive = Object.values(processes).some((p) => p !== null);
        const checks: CheckResult[] = store
          ? await kernel.readiness({ config, pm, db: store.db, temporal: client }).catch((err: unknown) => [
              { name: 'self_test', ok: false, detail: (err as Error).message, ms: 0 },
            ])
          : [{ name: 'self_test', ok: false, detail: 'store unreachable', ms: 0 }];
        const ready = checks.every((c) => c.ok);
        const rec = cp?.kernels[name];
        const readySince = rec?.readySince ? Date.parse(rec.readySince) : null;
        // A crash loop ends once a whole window passes without a restart.
        const lastRestart = rec?.lastRestartAt ? Date.parse(rec.lastRestartAt) : 0;
        const crashLoop = (rec?.crashLoop ?? false) && Date.now() - lastRestart < config.controlPlane.crashLoop.windowMs;
        const state =
          rec && rec.state !== KernelState.UNKNOWN
            ? // The control plane's word, unless the self-test says otherwise right now.
              (rec.state === KernelState.READY || rec.state === KernelState.CRASH_LOOP) && !ready
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
          name,
          state,
          ready,
          pid: Object.values(processes).find((p) => p !== null) ?? null,
          restarts: rec?.restarts ?? 0,
          checks,
          critical: config.kernels[name].critical,
          processes,
          uptimeMs: ready && readySince ? Date.now() - readySince : null,
          crashLoop,
          backoffMs: rec?.backoffMs ?? 0,
          lastReason: rec?.lastReason ?? null,
        };
      }),
    );
  } finally {
    await store?.close();
  }
}
