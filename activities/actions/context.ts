/**
 * The activity context of an action: heartbeats and cancellation. Each is a no-op outside an
 * activity (scripts, benchmarks, tests that call an action directly).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { asyncLocalStorage, type Context } from '@temporalio/activity';

export function activityContext(): Context | undefined {
  return asyncLocalStorage.getStore();
}

export function heartbeat(details?: unknown): void {
  activityContext()?.heartbeat(details);
}

/** Sleeps; inside an activity, rejects with the SDK's CancelledFailure once the activity is cancelled. */
export async function sleepOrCancel(ms: number): Promise<void> {
  const ctx = activityContext();
  if (ctx) await ctx.sleep(ms);
  else await sleep(ms);
}

export async function throwIfCancelled(): Promise<void> {
  const ctx = activityContext();
  if (ctx?.cancellationSignal.aborted) await ctx.cancelled;
}

/**
 * Heartbeats every second while `work` runs, so a long call (a restart awaited through the control
 * plane, a full log verify, a big snapshot) is not taken for a dead worker by the step's heartbeat timeout.
 */
export async function heartbeatWhile<T>(work: Promise<T>): Promise<T> {
  const timer = setInterval(() => heartbeat(), 1_000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}
