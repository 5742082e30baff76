/** Kernel actions: restart_kernel, set_kernel_state (both through the control plane), wait_kernel_ready and wait_control_plane_answers. */
import { KERNELS, type KernelContext } from '../../kernels/registry';
import { CONTROL_PLANE_WORKFLOW_ID, getControlPlaneStatusQuery, type KernelRecord } from '../../contracts/control-plane';
import { withDeadline } from '../../src/deadline';
import { heartbeat, sleepOrCancel } from './context';
import { controlPlaneCommand } from './control-plane-client';
import { action, ActionErrorType, failure, idempotencyKey, type ActionDeps, type ActionGroup } from './shared';

export function kernelActions(deps: ActionDeps): ActionGroup<'restart_kernel' | 'set_kernel_state' | 'wait_kernel_ready' | 'wait_control_plane_answers'> {
  const { config, db, temporal, pm } = deps;
  const kernelCtx: KernelContext = { config, pm, db, temporal };
  return {
    restart_kernel: action('restart_kernel', async ({ kernel, reason }, meta) => {
      // Idempotent: the request id is the run and step, so a retry waits for the same restart (or
      // gets its result) instead of restarting the kernel a second time.
      const rec = await controlPlaneCommand(config, temporal, { requestId: `${idempotencyKey(meta)}:restart_kernel`, op: 'restart', kernel, reason }, kernelCtx);
      requireReady(rec);
      return { kernel, state: rec.state, restarts: rec.restarts, pids: rec.pids };
    }),

    set_kernel_state: action('set_kernel_state', async ({ kernel, state }, meta) => {
      // Idempotent: one command per run and step; and starting a running kernel (or stopping a
      // stopped one) is a no-op in the control plane anyway.
      const op = state === 'running' ? 'start' : 'stop';
      const rec = await controlPlaneCommand(config, temporal, { requestId: `${idempotencyKey(meta)}:set_kernel_state:${state}`, op, kernel }, kernelCtx);
      if (state === 'running') requireReady(rec);
      return { kernel, state: rec.state, pids: rec.pids };
    }),

    wait_control_plane_answers: action('wait_control_plane_answers', async ({ timeoutMs, queryTimeoutMs }) => {
      const deadline = Date.now() + timeoutMs;
      let last = 'no answer yet';
      for (let attempts = 1; ; attempts++) {
        const handle = temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
        const t0 = Date.now();
        try {
          const status = await withDeadline(handle.query(getControlPlaneStatusQuery), queryTimeoutMs, `no answer within ${queryTimeoutMs} ms`);
          const { runId } = await handle.describe();
          return { runId, answerMs: Date.now() - t0, attempts, kernels: Object.keys(status.kernels).length };
        } catch (err) {
          last = (err as Error).message;
        }
        heartbeat({ attempts, last });
        if (Date.now() + 500 >= deadline) {
          // Retryable: the step's retry policy decides whether to give it more time.
          throw failure(
            ActionErrorType.CONTROL_PLANE_UNRESPONSIVE,
            `the control plane did not answer its status query within ${queryTimeoutMs} ms in ${attempts} attempts over ${timeoutMs} ms: ${last}`,
            { attempts, last },
            false,
          );
        }
        await sleepOrCancel(500);
      }
    }),

    wait_kernel_ready: action('wait_kernel_ready', async ({ kernel, timeoutMs, require }) => {
      const deadline = Date.now() + timeoutMs;
      let backoffMs = 100;
      for (let attempts = 1; ; attempts++) {
        // Read-only: the self-test's only write is the log's own probe entry.
        const checks = (await KERNELS[kernel].readiness(kernelCtx)).map(({ name, ok, detail }) => ({ name, ok, detail }));
        heartbeat({ attempts });
        if (checks.every((c) => c.ok)) return { kernel, ready: true, attempts, checks };
        if (Date.now() + backoffMs >= deadline) {
          if (!require) return { kernel, ready: false, attempts, checks };
          const failed = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
          // Retryable: the step's retry policy decides whether to give the kernel more time.
          throw failure(ActionErrorType.KERNEL_NOT_READY, `${kernel} is not ready after ${attempts} self-test attempts: ${failed.join('; ')}`, { kernel, checks }, false);
        }
        await sleepOrCancel(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 2_000);
      }
    }),
  };
}

function requireReady(rec: KernelRecord): void {
  if (rec.readySince !== null) return;
  const failed = rec.checks.filter((c) => !c.ok);
  throw failure(
    ActionErrorType.KERNEL_NOT_READY,
    `${rec.name} is ${rec.state}: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ') || 'its self-test did not pass'}`,
    { kernel: rec.name, state: rec.state, checks: rec.checks },
  );
}
