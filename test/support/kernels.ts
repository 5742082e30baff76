/** Helpers for tests that break kernels for real and watch Layer 1 bring them back. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { withDeadline } from '../../src/deadline';
import type { KernelName } from '../../src/domain/kernels';
import { controlPlaneStatus } from '../../src/stack/kernel-status';
import type { KernelRecord } from '../../contracts/control-plane';

export async function kernelRecord(client: Client, kernel: KernelName): Promise<KernelRecord> {
  const status = await controlPlaneStatus(client);
  if (!status) throw new Error('the control plane is not running');
  return status.kernels[kernel];
}

/** Polls until `pred` holds, or fails with the last value seen. */
export async function waitFor<T>(what: string, get: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    try {
      // Each read is bounded by what is left: a read that hangs (a server that stopped answering
      // on a connection without a socket timeout) fails this wait with its message, not the test's timeout.
      last = await withDeadline(get(), Math.max(1, deadline - Date.now()), `no answer before the wait's end`);
      if (pred(last)) return last;
    } catch {
      // keep polling
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 800)}`);
}
