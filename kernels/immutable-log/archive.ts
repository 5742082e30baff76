/**
 * Archive and cleanup: sealed segments gzipped into `archive/<first seq>.seg.gz` (checked before the
 * original goes), and the oldest archives deleted, their manifest records kept as the chain's anchors.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { LogArchiveError, LogCorruptionError, LogInvalidArgumentError } from './errors';
import { archiveName, indexName, sha256Hex } from './format';
import { fsyncDir, gunzip, gzip, unlinkIfExists, writeFileAtomic } from './fsutil';
import { persistManifest } from './manifest';
import { refreshUsage } from './quota';
import type { ArchiveResult, CleanupOptions, CleanupResult, LogContext, SegmentRecord } from './types';

/** See {@link ImmutableLog.archiveSealed}; the caller holds the maintenance lock. */
export async function archiveSealed(ctx: LogContext, keep: number): Promise<ArchiveResult> {
  const t0 = performance.now();
  const sealed = ctx.state.manifest.segments.filter((r) => !r.archive && !r.removedAt);
  const result: ArchiveResult = { archived: [], bytesIn: 0, bytesOut: 0, ms: 0 };
  for (const rec of sealed.slice(0, Math.max(0, sealed.length - keep))) {
    const { bytesIn, bytesOut } = await archiveSegment(ctx, rec);
    result.archived.push(rec.name);
    result.bytesIn += bytesIn;
    result.bytesOut += bytesOut;
  }
  if (result.archived.length) await fsyncDir(ctx.segmentsDir);
  await refreshUsage(ctx);
  result.ms = Math.round(performance.now() - t0);
  return result;
}

/**
 * Write the archive, fsync, read it back and check it decompresses to the recorded SHA-256, record
 * it in the manifest, then remove the original. A crash at any point leaves either the original or
 * a verified, recorded archive.
 */
async function archiveSegment(ctx: LogContext, rec: SegmentRecord): Promise<{ bytesIn: number; bytesOut: number }> {
  const src = path.join(ctx.segmentsDir, rec.name);
  const raw = await fsp.readFile(src);
  if (sha256Hex(raw) !== rec.sha256) {
    throw new LogCorruptionError('segment_checksum_mismatch', rec.name, rec.firstSeq, 'refusing to archive a segment that fails its checksum');
  }
  const gz = await gzip(raw, { level: 6 });
  const file = archiveName(rec.name);
  const dst = path.join(ctx.archiveDir, file);
  await writeFileAtomic(dst, gz);
  const back = await fsp.readFile(dst);
  let ok = false;
  try {
    ok = sha256Hex(await gunzip(back)) === rec.sha256;
  } catch (err) {
    await unlinkIfExists(dst);
    throw new LogArchiveError(rec.name, 'written archive does not decompress', { cause: err });
  }
  if (!ok) {
    await unlinkIfExists(dst);
    throw new LogArchiveError(rec.name, 'written archive does not decompress to the recorded SHA-256');
  }
  await ctx.writeLock.run(async () => {
    rec.archive = { file, bytes: back.length, sha256: sha256Hex(back), archivedAt: ctx.now().toISOString() };
    await persistManifest(ctx);
    ctx.state.sealedOffsets.delete(rec.name);
  });
  // Idempotent: the manifest already names the archive; open removes an original a crash left here.
  await unlinkIfExists(src);
  await unlinkIfExists(path.join(ctx.indexDir, indexName(rec.name)));
  return { bytesIn: raw.length, bytesOut: back.length };
}

/** Refuses cleanup options that say nothing or make no sense, before any lock is taken. */
export function checkCleanupOptions({ maxArchives, maxAgeMs }: CleanupOptions): void {
  if (maxArchives === undefined && maxAgeMs === undefined) {
    throw new LogInvalidArgumentError('options', 'give maxArchives or maxAgeMs');
  }
  if (maxArchives !== undefined && (!Number.isSafeInteger(maxArchives) || maxArchives < 0)) {
    throw new LogInvalidArgumentError('maxArchives', 'expected an integer ≥ 0');
  }
  if (maxAgeMs !== undefined && !(maxAgeMs >= 0)) throw new LogInvalidArgumentError('maxAgeMs', 'expected a number ≥ 0');
}

/** See {@link ImmutableLog.cleanupArchives}; the caller holds the maintenance lock. */
export async function cleanupArchives(ctx: LogContext, { maxArchives, maxAgeMs }: CleanupOptions): Promise<CleanupResult> {
  const { manifest } = ctx.state;
  const archived = manifest.segments.filter((r) => r.archive && !r.removedAt);
  const cutoff = maxAgeMs === undefined ? -Infinity : ctx.now().getTime() - maxAgeMs;
  const doomed = archived.filter((r, i) => (maxArchives !== undefined && i < archived.length - maxArchives) || Date.parse(r.lastTs) < cutoff);
  const result: CleanupResult = { removed: [], freedBytes: 0, prunedThroughSeq: 0 };
  for (const rec of doomed) {
    await ctx.writeLock.run(async () => {
      rec.removedAt = ctx.now().toISOString();
      await persistManifest(ctx);
    });
    // Idempotent: recorded as removed first; a crash before the unlink leaves a file open deletes.
    await unlinkIfExists(path.join(ctx.archiveDir, rec.archive!.file));
    result.removed.push(rec.archive!.file);
    result.freedBytes += rec.archive!.bytes;
  }
  result.prunedThroughSeq = ctx.state.manifest.segments.filter((r) => r.removedAt).at(-1)?.lastSeq ?? 0;
  if (result.removed.length) await fsyncDir(ctx.archiveDir);
  await refreshUsage(ctx);
  return result;
}
