/**
 * Waiting on a kernel's real self-test, with retries and exponential backoff counted in the
 * workflow (so they show in the history and the report). Shared by boot and the control plane.
 */
import { proxyActivities, sleep } from '@temporalio/workflow';
import type { ReadinessPolicy } from '../contracts/boot';
import type { CheckResult } from '../src/domain/checks';
import type { ReadinessResult } from '../src/domain/kernels';
import type { KernelActivities } from '../activities/kernels';
import { readinessActivity } from './policies';

const { kernelReadiness } = proxyActivities<KernelActivities>(readinessActivity);

/**
 * How long one self-test activity keeps retrying the test itself before the workflow's own
 * backoff takes over. Short retries belong in the activity: a workflow timer under a second can
 * fire up to a second late (the server's timer queue), which was most of a restart's time to ready.
 */
export const IN_ACTIVITY_WAIT_MS = 2_000;

export interface ReadinessWait {
  ready: boolean;
  attempts: number;
  ms: number;
  checks: CheckResult[];
}

/**
 * @param interrupted checked before each attempt: true gives up at once (the control plane learnt
 *   that the process being waited on died, so waiting on its self-test can only time out).
 */
export async function waitKernelReady(kernel: string, policy: ReadinessPolicy, interrupted: () => boolean = () => false): Promise<ReadinessWait> {
  const started = Date.now();
  let backoff = policy.initialBackoffMs;
  let last: ReadinessResult | undefined;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (interrupted()) {
      const checks = last?.checks ?? [];
      return { ready: false, attempts: attempt - 1, ms: Date.now() - started, checks: [...checks, { name: 'self_test', ok: false, detail: 'interrupted: the process died while its self-test was awaited', ms: 0 }] };
    }
    try {
      last = await kernelReadiness(kernel, { waitMs: IN_ACTIVITY_WAIT_MS });
    } catch (err) {
      // The self-test could not run at all (its activity failed): that is a failed attempt too.
      last = { kernel, ready: false, checks: [{ name: 'self_test', ok: false, detail: String((err as Error).message), ms: 0 }] };
    }
    if (last.ready) return { ready: true, attempts: attempt, ms: Date.now() - started, checks: last.checks };
    if (attempt < policy.attempts) {
      await sleep(backoff);
      backoff = Math.min(backoff * 2, policy.maxBackoffMs);
    }
  }
  return { ready: false, attempts: policy.attempts, ms: Date.now() - started, checks: last?.checks ?? [] };
}
