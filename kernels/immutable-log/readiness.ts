/**
 * The immutable log's readiness self-test: named checks, each with pass/fail, a detail and how long
 * it took, in the shape every Layer 1 kernel reports.
 */
import { randomUUID } from 'node:crypto';
import type { ImmutableLog } from './log';

/** One named check of a readiness self-test. */
export interface ReadinessCheck {
  name: 'writable' | 'integrity' | 'disk_space';
  ok: boolean;
  detail: string;
  ms: number;
}

export interface ReadinessReport {
  ready: boolean;
  checks: ReadinessCheck[];
}

export interface ReadinessOptions {
  /** Free bytes the log's filesystem must have for `disk_space` to pass. @default 64 MiB */
  minFreeBytes?: number;
}

async function timed(
  name: ReadinessCheck['name'],
  fn: () => Promise<{ ok: boolean; detail: string }>,
): Promise<ReadinessCheck> {
  const t0 = performance.now();
  let r: { ok: boolean; detail: string };
  try {
    r = await fn();
  } catch (err) {
    r = { ok: false, detail: `${(err as Error).name}: ${(err as Error).message}` };
  }
  return { name, ...r, ms: Math.round((performance.now() - t0) * 10) / 10 };
}

/**
 * Runs the three checks:
 * - `writable`: appends a `probe` entry and reads it back by seq, same hash and data;
 * - `integrity`: an incremental verify passes (see {@link ImmutableLog.verify});
 * - `disk_space`: free bytes of the log's filesystem ≥ `minFreeBytes`.
 *
 * Each probe adds one small entry to the log, so a probe that passes has proven the real write path.
 */
export async function checkReadiness(log: ImmutableLog, options: ReadinessOptions = {}): Promise<ReadinessReport> {
  const minFreeBytes = options.minFreeBytes ?? 64 * 1024 * 1024;
  const writable = await timed('writable', async () => {
    const probe = randomUUID();
    const { seq, hash } = await log.append('probe', { probe });
    const [back] = await log.read(seq, 1);
    const same = back?.hash === hash && (back.data as { probe?: string } | null)?.probe === probe;
    return { ok: same, detail: same ? `probe appended and read back at seq ${seq}` : `probe at seq ${seq} read back differently` };
  });
  const integrity = await timed('integrity', async () => {
    const v = await log.verify();
    return v.ok
      ? { ok: true, detail: `${v.mode} verify: ${v.checked} entries in ${v.segments} segments up to seq ${v.toSeq}` }
      : { ok: false, detail: `${v.failure!.reason} at seq ${v.failure!.seq} in ${v.failure!.segment}: ${v.failure!.detail}` };
  });
  const disk = await timed('disk_space', async () => {
    const { freeBytes } = await log.diskFree();
    const mb = (n: number): string => `${(n / 1024 / 1024).toFixed(0)} MiB`;
    return { ok: freeBytes >= minFreeBytes, detail: `${mb(freeBytes)} free, ${mb(minFreeBytes)} required` };
  });
  const checks = [writable, integrity, disk];
  return { ready: checks.every((c) => c.ok), checks };
}
