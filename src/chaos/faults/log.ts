/** Immutable-log faults: a flipped byte in a sealed segment, a filled quota, archives grown past a size. */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { immutableLogClient } from '../../../kernels/registry';
import { ImmutableLogRequestError, type ImmutableLogClient } from '../../../kernels/immutable-log/client';
import type { SegmentRecord } from '../../../kernels/immutable-log/log';
import type { LoadedConfig } from '../../config/load';
import { errorText } from '../../domain/errors';
import { isStateFile, sha256File, SnapshotStore } from '../../snapshots/store';
import { flipByte, pickPayloadByte, readByte, unflip, writeByte } from './bytes';
import { FaultError, MiB, type FaultContext, type Injected } from './types';

function logDir(config: LoadedConfig): string {
  return path.join(config.stateDir, 'log');
}

/** The log's sealed segments still on disk (not archived or removed), oldest first: what corruptSealedLogEntry picks from. */
export function sealedSegments(config: LoadedConfig): SegmentRecord[] {
  const file = path.join(logDir(config), 'manifest.json');
  if (!existsSync(file)) return [];
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as { segments: SegmentRecord[] };
  return manifest.segments.filter((r) => !r.archive && !r.removedAt && existsSync(path.join(logDir(config), 'segments', r.name)));
}

/** A sealed segment whose copy in the newest snapshot holding it is the segment as it is now. */
export interface SnapshottedSegment {
  segment: SegmentRecord;
  /** Relative to the state directory (`log/segments/…`). */
  rel: string;
  snapshot: string;
}

/**
 * The newest sealed segment on disk that the integrity repair could restore as it is: the newest
 * snapshot holding it (what `restore_from_snapshot` uses) has its current SHA-256. Null when none:
 * `why` then says what the newest sealed segment lacks. A segment sealed after the last snapshot
 * is not one, nor one whose newest copy was taken while it was still being written.
 */
export async function snapshottedSealedSegment(config: LoadedConfig): Promise<SnapshottedSegment | { segment: null; why: string }> {
  const sealed = sealedSegments(config);
  if (sealed.length === 0) return { segment: null, why: 'the immutable log has no sealed segment yet, so none is in a snapshot' };
  const manifests = await new SnapshotStore(config.stateDir).list();
  let why = '';
  for (const segment of [...sealed].reverse()) {
    const rel = path.posix.join('log', 'segments', segment.name);
    const held = manifests.find((m) => m.files.some((f) => isStateFile(f, rel)));
    const copy = held?.files.find((f) => isStateFile(f, rel));
    const now = copy ? await sha256File(path.join(config.stateDir, rel)).catch(() => null) : null;
    if (held && copy && copy.sha256 === now) return { segment, rel, snapshot: held.id };
    // What the newest one lacks: the likely case, and the one a snapshot taken now fixes.
    why ||= !held
      ? `no snapshot holds ${rel}, the newest sealed segment, nor any older one as it is now`
      : `snapshot ${held.id} holds ${rel} as it was before it was sealed, and no older sealed segment is in a snapshot as it is now`;
  }
  return { segment: null, why };
}

/**
 * Appends `count` entries of about `bytes` each through the log API, `parallel` at a time (the
 * server's group commit writes a batch with one fsync). Incompressible payloads when `random`.
 * Stops after the first batch with a refused append; every append of that batch has settled by
 * then, so `appended` is exact.
 */
async function appendFill(
  client: ImmutableLogClient,
  options: { count: number; bytes: number; random: boolean; kind: string; parallel?: number },
): Promise<{ appended: number; error?: unknown }> {
  const parallel = options.parallel ?? 32;
  let appended = 0;
  const filler = 'x'.repeat(options.bytes);
  for (let sent = 0; sent < options.count; ) {
    const n = Math.min(parallel, options.count - sent);
    const settled = await Promise.allSettled(
      Array.from({ length: n }, (_, i) =>
        client.append(options.kind, {
          fault: 'chaos',
          i: sent + i,
          // base64 of random bytes: gzip gains little on it, so archives keep their size.
          pad: options.random ? randomBytes(Math.ceil((options.bytes * 3) / 4)).toString('base64').slice(0, options.bytes) : filler,
        }),
      ),
    );
    sent += n;
    appended += settled.filter((r) => r.status === 'fulfilled').length;
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) return { appended, error: failed.reason };
  }
  return { appended };
}

const isQuotaError = (err: unknown): boolean => err instanceof ImmutableLogRequestError && err.remoteName === 'LogQuotaExceededError';

/**
 * Flips one byte inside an entry's payload in a sealed segment (never the active one, whose damage
 * the log reports differently), appending entries first until a segment is sealed. The entry still
 * parses, so a verify reports `hash_mismatch` at its seq. The segment is the newest one a snapshot
 * holds as it is ({@link snapshottedSealedSegment}), else the newest sealed one.
 *
 * restore: flips the byte back if it is still the flipped value.
 */
export async function corruptSealedLogEntry(
  ctx: FaultContext,
): Promise<Injected<{ segment: string; segmentFile: string; offset: number; original: number; flipped: number; seq: number; appended: number }>> {
  const client = immutableLogClient(ctx.config, 30_000);
  let appended = 0;
  const segmentBytes = ctx.config.kernels.immutable_log.segmentKb * 1024;
  for (let round = 0; sealedSegments(ctx.config).length === 0; round++) {
    if (round >= 4) throw new FaultError(`no sealed segment in ${logDir(ctx.config)} after appending ${appended} entries`);
    // A little more than one segment's worth seals the active segment.
    const fill = await appendFill(client, { count: Math.ceil((segmentBytes * 1.1) / 4096) + 1, bytes: 4096, random: false, kind: 'chaos.fill' });
    appended += fill.appended;
    if (fill.error !== undefined) throw new FaultError(`appending to seal a segment failed: ${errorText(fill.error)}`, { cause: fill.error });
  }
  // The newest one a snapshot holds as it is: the repair under test restores from that copy. With
  // none (a stack whose snapshot schedule has not run since), the newest sealed one: its repair then
  // has nothing to restore, which the drill reports (the card's steady state asks for one first).
  const covered = await snapshottedSealedSegment(ctx.config);
  const rec = covered.segment ?? (sealedSegments(ctx.config).at(-1) as SegmentRecord);
  const segmentFile = path.join(logDir(ctx.config), 'segments', rec.name);
  const pick = pickPayloadByte(await readFile(segmentFile));
  if (!pick) throw new FaultError(`no entry of ${rec.name} has a string in its data to flip`);
  const original = (await readByte(segmentFile, pick.offset)) as number;
  const flipped = flipByte(original);
  await ctx.journal?.({ kind: 'unflip', file: segmentFile, offset: pick.offset, original, flipped });
  await writeByte(segmentFile, pick.offset, flipped);
  const segment = path.relative(ctx.config.stateDir, segmentFile);
  return {
    detail: `flipped byte ${pick.offset} of ${segment} (seq ${pick.seq}): 0x${original.toString(16)} → 0x${flipped.toString(16)}`,
    segment,
    segmentFile,
    offset: pick.offset,
    original,
    flipped,
    seq: pick.seq,
    appended,
    restore: unflip(segmentFile, pick.offset, original),
  };
}

/**
 * Appends bulky entries (64 KB by default, 16 at a time) until `GET /usage` shows at least
 * `percent` % of the log's quota used. At 100 % it stops at the first append the quota refuses.
 * Few big appends rather than many small ones: the bytes are what fills the quota, and thousands of
 * requests made the injecting worker itself a CPU hog (86 % of a core over the test config's 3 s
 * window, seen in a CI run), which the cpu_pressure remedy then restarted mid-injection.
 *
 * restore: nothing: an append-only log cannot un-append. Only archiving and cleanup (the quota
 * playbook's job) bring usage down.
 */
export async function fillLogQuota(
  ctx: FaultContext,
  options: { percent: number; entryBytes?: number },
): Promise<Injected<{ appended: number; usageBytes: number; quotaBytes: number; percent: number }>> {
  const entryBytes = options.entryBytes ?? 65_536;
  const client = immutableLogClient(ctx.config, 30_000);
  let { usage } = await client.usage();
  const quotaBytes = usage.quotaBytes ?? ctx.config.kernels.immutable_log.quotaMb * MiB;
  const target = (Math.min(100, options.percent) / 100) * quotaBytes;
  let appended = 0;
  while (usage.usedBytes < target) {
    // ~300 bytes of envelope and 8 of index per entry; overshoot is bounded by one batch.
    const count = Math.max(1, Math.min(64, Math.ceil((target - usage.usedBytes) / (entryBytes + 308))));
    const fill = await appendFill(client, { count, bytes: entryBytes, random: false, kind: 'chaos.fill', parallel: 16 });
    appended += fill.appended;
    ({ usage } = await client.usage());
    if (fill.error === undefined) continue;
    // Full: the quota refuses what does not fit, which is where a percent near 100 ends.
    if (isQuotaError(fill.error)) break;
    throw fill.error;
  }
  const percent = Math.round((usage.usedBytes / quotaBytes) * 1000) / 10;
  return {
    detail: `appended ${appended} entries: the log uses ${usage.usedBytes} of ${quotaBytes} bytes (${percent} %)`,
    appended,
    usageBytes: usage.usedBytes,
    quotaBytes,
    percent,
    restore: async () => undefined,
  };
}

/**
 * Makes the log's gzipped archives exceed `mb` MB for real: appends incompressible entries, then
 * archives every sealed segment (`POST /archive` with keep 0), until `/usage` shows the archive
 * bytes above `mb` MB. Mind the quota: archives count against it.
 *
 * restore: nothing; removing archives is the cleanup playbook's job (and the chain's anchors stay).
 */
export async function growLogArchives(
  ctx: FaultContext,
  options: { mb: number },
): Promise<Injected<{ archiveBytes: number; archived: string[]; appended: number }>> {
  const client = immutableLogClient(ctx.config, 60_000);
  const target = options.mb * MiB;
  const segmentBytes = ctx.config.kernels.immutable_log.segmentKb * 1024;
  const entryBytes = 8192;
  const archived: string[] = [];
  let appended = 0;
  let { usage } = await client.usage();
  for (let round = 0; usage.archiveBytes <= target; round++) {
    if (round >= 8) throw new FaultError(`archives reached only ${usage.archiveBytes} of ${target} bytes after ${appended} appends`);
    // base64 gzips to about 3/4; one more segment's worth so the last of it is sealed, not active.
    const need = (target - usage.archiveBytes) / 0.74 + segmentBytes;
    const fill = await appendFill(client, { count: Math.ceil(need / (entryBytes + 300)), bytes: entryBytes, random: true, kind: 'chaos.archive-fill' });
    appended += fill.appended;
    if (isQuotaError(fill.error)) {
      throw new FaultError(`the log's quota refused appends before its archives reached ${options.mb} MB: ${errorText(fill.error)}`, { cause: fill.error });
    }
    if (fill.error !== undefined) throw fill.error;
    archived.push(...(await client.archive(0)).archived);
    ({ usage } = await client.usage());
  }
  return {
    detail: `appended ${appended} entries and archived ${archived.length} segments: archives hold ${usage.archiveBytes} bytes (> ${options.mb} MB)`,
    archiveBytes: usage.archiveBytes,
    archived,
    appended,
    restore: async () => undefined,
  };
}
