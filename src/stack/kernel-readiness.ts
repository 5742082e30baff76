/**
 * Waiting until kernels are ready: their self-tests polled until every check passes. For the CLI
 * (`playbook rehearse`), the integration tests and the benchmarks; the control plane waits in its
 * own activity (`kernelReadiness`), and a playbook in the `wait_kernel_ready` action.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KERNEL_NAMES, type KernelName } from '../domain/kernels';
import { KERNELS, type KernelContext } from '../../kernels/registry';

export interface WaitReadyOptions {
  /** Kernels to wait on. @default every kernel */
  kernels?: readonly KernelName[];
  timeoutMs: number;
  /** Pause between two rounds of self-tests. @default 200 */
  everyMs?: number;
}

/** One round of self-tests: each failed check as `kernel.check: detail` (a self-test that throws fails as `kernel.self-test`). */
export async function failedChecks(ctx: KernelContext, kernels: readonly KernelName[] = KERNEL_NAMES): Promise<string[]> {
  const results = await Promise.all(
    kernels.map(async (k) => {
      try {
        return { k, checks: await KERNELS[k].readiness(ctx) };
      } catch (err) {
        return { k, checks: [{ name: 'self-test', ok: false, detail: (err as Error).message, ms: 0 }] };
      }
    }),
  );
  return results.flatMap(({ k, checks }) => checks.filter((c) => !c.ok).map((c) => `${k}.${c.name}: ${c.detail}`));
}

/**
 * Polls until every check of the kernels' self-tests passes; resolves with when it did.
 * @throws Error naming the checks that still failed when `timeoutMs` is over
 */
export async function waitKernelsReady(ctx: KernelContext, options: WaitReadyOptions): Promise<number> {
  const { kernels = KERNEL_NAMES, timeoutMs, everyMs = 200 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failed = await failedChecks(ctx, kernels);
    if (failed.length === 0) return Date.now();
    const which = kernels === KERNEL_NAMES ? 'every kernel is' : `${kernels.join(', ')} ${kernels.length === 1 ? 'is' : 'are'}`;
    if (Date.now() > deadline) throw new Error(`not ${which} ready after ${timeoutMs} ms: ${failed.join('; ')}`);
    await sleep(everyMs);
  }
}

/** Polls until every kernel's self-test passes; resolves with when it did. */
export function allKernelsReady(ctx: KernelContext, timeoutMs: number): Promise<number> {
  return waitKernelsReady(ctx, { timeoutMs });
}

/**
 * Polls until the whole stack is healthy, asked now rather than read from a snapshot: every server
 * answers its real health probe, every worker polls its queue, and every kernel's self-test passes.
 * For the tests and benchmarks that break a server and time its return; resolves with when it was.
 * @throws Error saying what was still unhealthy when `timeoutMs` is over
 */
export async function stackHealthy(ctx: KernelContext, timeoutMs: number, everyMs = 200): Promise<number> {
  const { stackStatus } = await import('./stack');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await stackStatus(ctx.config, { temporal: ctx.temporal });
    const failed = s.healthy
      ? await failedChecks(ctx)
      : [
          ...Object.entries(s.services).filter(([, v]) => !v.healthy).map(([k, v]) => `${k}: ${v.detail}`),
          ...s.workers.filter((w) => !w.healthy).map((w) => `${w.name}: ${w.detail}`),
        ];
    if (failed.length === 0) return Date.now();
    if (Date.now() > deadline) throw new Error(`the stack is not healthy after ${timeoutMs} ms: ${failed.join('; ')}`);
    await sleep(everyMs);
  }
}

/**
 * {@link stackHealthy}, and still healthy `holdMs` later: after a Temporal restart the workers'
 * pollers may drop out once more while their task queues are loaded again, so a test that broke a
 * server leaves the stack only once it holds.
 */
export async function stackStaysHealthy(ctx: KernelContext, timeoutMs: number, holdMs = 5_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const at = await stackHealthy(ctx, Math.max(0, deadline - Date.now()));
    await sleep(holdMs);
    if ((await stackHealthy(ctx, 0).catch(() => null)) !== null) return at;
  }
}
