/**
 * The control plane as the kernel actions reach it: failover of a closed control-plane workflow, and
 * lifecycle commands (a signal, then the status query polled for the result).
 */
import type { Client } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { type ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import type { LoadedConfig } from '../../src/config/load';
import { startControlPlane } from '../../src/clients/starters';
import { KERNELS, type KernelContext } from '../../kernels/registry';
import {
  CONTROL_PLANE_WORKFLOW_ID,
  getControlPlaneStatusQuery,
  kernelCommandSignal,
  type KernelCommand,
  type ControlPlaneInput,
  type ControlPlaneStatus,
  type KernelRecord,
} from '../../contracts/control-plane';
import { heartbeat, sleepOrCancel } from './context';
import { ActionErrorType, failure } from './shared';

/** How long failover waits for the closed run's last state (a replay of its history by a healing worker). */
const FAILOVER_QUERY_MS = 10_000;

/**
 * Failover: the control plane's workflow was started once and is now closed (terminated, failed,
 * timed out). Its last state is read back by a query on the closed run — Temporal replays its
 * history to answer — and a new run starts from it, so restart counts, crash-loop windows and
 * operator decisions survive ("state snapshot and replay"). Idempotent: the workflow id is fixed
 * and an already running control plane (another step or replica got there first) is used as is.
 */
export async function failOverControlPlane(config: LoadedConfig, temporal: Client, was: string, observe?: () => Promise<KernelsObserved>): Promise<WorkflowHandle> {
  const closed = temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
  let state: ControlPlaneStatus | undefined;
  try {
    // Bounded: a closed run's query waits for a worker of its task queue to replay it, and none may
    // poll. The call itself is given up (a deadline on the gRPC call), not left running behind.
    state = await temporal.withDeadline(Date.now() + FAILOVER_QUERY_MS, () => closed.query(getControlPlaneStatusQuery));
  } catch {
    // A history that cannot be replayed (the run failed on a nondeterminism error): start from what
    // the kernels are now, as a boot would (their live pids and one self-test each).
    state = undefined;
  }
  if (state) {
    state.events.push({ at: new Date().toISOString(), kernel: 'self_healing', what: `control plane failed over: the previous run was ${was}` });
    return startControlPlane(config, temporal, { settings: config.controlPlane, state } satisfies ControlPlaneInput);
  }
  return startControlPlane(config, temporal, { settings: config.controlPlane, ...(observe ? await observe() : {}) } satisfies ControlPlaneInput);
}

/** What a boot's last phase tells the control plane (`kernelsBooted`). */
export type KernelsObserved = Pick<ControlPlaneInput, 'pids' | 'kernels'>;

/** What a boot's last phase tells the control plane, observed now: each kernel's live pids and one self-test. Read-only. */
export async function observeKernels(ctx: KernelContext): Promise<KernelsObserved> {
  const pids: NonNullable<ControlPlaneInput['pids']> = {};
  const kernels: NonNullable<ControlPlaneInput['kernels']> = [];
  for (const [kernel, def] of Object.entries(KERNELS)) {
    pids[kernel] = Object.fromEntries(def.processes(ctx.config).map((p) => [p, ctx.pm.pid(p)]));
    const checks = await def.readiness(ctx).catch((err: unknown) => [{ name: 'self_test', ok: false, detail: (err as Error).message, ms: 0 }]);
    kernels.push({ kernel, ready: checks.every((c) => c.ok), checks });
  }
  return { pids, kernels };
}

/**
 * Runs a lifecycle command in the control plane: a `kernelCommand` signal, then the status query
 * polled (heartbeating) until the command's result is there. Signals rather than updates: see
 * `KernelCommand` in workflows/control-plane.ts. Idempotent: the request id is the run and step,
 * and the control plane runs a request id once, so a retry only waits for the same result.
 */
export async function controlPlaneCommand(config: LoadedConfig, temporal: Client, command: KernelCommand, kernels?: KernelContext): Promise<KernelRecord> {
  const notRunning = (cause?: unknown): ApplicationFailure =>
    failure(
      ActionErrorType.CONTROL_PLANE_NOT_RUNNING,
      `the control plane (workflow ${CONTROL_PLANE_WORKFLOW_ID}) is not running${cause ? `: ${(cause as Error).message}` : ''}; run \`layer1 up\``,
    );
  let handle: WorkflowHandle = temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
  try {
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') handle = await failOverControlPlane(config, temporal, desc.status.name, kernels && (() => observeKernels(kernels)));
    await handle.signal(kernelCommandSignal, command);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw notRunning(err);
    throw err;
  }
  for (;;) {
    heartbeat({ waitingFor: command.requestId });
    const status = await handle.query(getControlPlaneStatusQuery).catch(() => null);
    const result = status?.commands?.find((c) => c.requestId === command.requestId);
    if (result?.done) {
      if (result.error !== null || result.record === null) {
        // The control plane refused or failed it; the same request id gets the same outcome.
        throw failure(ActionErrorType.KERNEL_UPDATE_FAILED, `the control plane's ${command.op} of ${command.kernel} failed: ${result.error ?? 'no record'}`, { command });
      }
      return result.record;
    }
    await sleepOrCancel(250);
  }
}
