/** Helpers for tests that break kernels for real and watch Layer 1 bring them back. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
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
      last = await get();
      if (pred(last)) return last;
    } catch {
      // keep polling
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 800)}`);
}
