/** The log's size against its quota: what each part of its directory takes, and the quota check of an append. */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { INDEX_RECORD_BYTES } from './format';
import type { LogContext, LogUsage } from './types';

/** What an entry's line costs against the quota: its bytes and its index record. */
export function entryCost(lineBytes: number): number {
  return lineBytes + INDEX_RECORD_BYTES;
}

/** True when `cost` more bytes would take `used` past the quota (never without a quota). */
export function exceedsQuota(ctx: LogContext, used: number, cost: number): boolean {
  return ctx.quotaBytes !== null && used + cost > ctx.quotaBytes;
}

/** Measures the directory and segment counts. */
export async function measureUsage(ctx: LogContext): Promise<LogUsage> {
  const sum = async (dir: string): Promise<number> => {
    let total = 0;
    for (const f of await fsp.readdir(dir, { withFileTypes: true })) {
      if (f.isFile()) total += (await fsp.stat(path.join(dir, f.name)).catch(() => ({ size: 0 }))).size;
    }
    return total;
  };
  const segmentBytes = await sum(ctx.segmentsDir);
  const archiveBytes = await sum(ctx.archiveDir);
  const indexBytes = await sum(ctx.indexDir);
  const otherBytes = await sum(ctx.dir);
  const usedBytes = segmentBytes + archiveBytes + indexBytes + otherBytes;
  const count = { active: ctx.state.active ? 1 : 0, sealed: 0, archived: 0, removed: 0 };
  for (const r of ctx.state.manifest.segments) {
    if (r.removedAt) count.removed++;
    else if (r.archive) count.archived++;
    else count.sealed++;
  }
  return {
    usedBytes,
    quotaBytes: ctx.quotaBytes,
    quotaFraction: ctx.quotaBytes === null ? null : usedBytes / ctx.quotaBytes,
    segmentBytes,
    archiveBytes,
    indexBytes,
    otherBytes,
    segments: count,
  };
}

/**
 * Re-measures what the quota counts, after anything that added or removed files (open, a roll, an
 * archive, a cleanup): the one place the directory is walked.
 */
export async function refreshUsage(ctx: LogContext): Promise<void> {
  const usage = await measureUsage(ctx);
  ctx.state.usedBytes = usage.usedBytes;
  ctx.state.measured = { usage, headSeq: ctx.state.head.seq };
}

/**
 * The usage as last measured plus what appends added since (their lines and index records), with
 * no directory walk: `GET /usage` is polled by two detectors, and walking every segment, archive
 * and index file on each call would cost more the longer the history.
 */
export function currentUsage(ctx: LogContext): LogUsage | null {
  const { state } = ctx;
  const m = state.measured;
  if (!m) return null;
  const indexAdded = Math.max(0, state.head.seq - m.headSeq) * INDEX_RECORD_BYTES;
  const added = state.usedBytes - m.usage.usedBytes;
  return {
    ...m.usage,
    usedBytes: state.usedBytes,
    quotaFraction: ctx.quotaBytes === null ? null : state.usedBytes / ctx.quotaBytes,
    segmentBytes: m.usage.segmentBytes + added - indexAdded,
    indexBytes: m.usage.indexBytes + indexAdded,
    segments: { ...m.usage.segments, active: state.active ? 1 : 0 },
  };
}
