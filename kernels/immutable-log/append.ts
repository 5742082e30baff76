/**
 * The write path of appends: a batch of queued appends planned into entries (seq, hash, line; the
 * size and quota checks), written one segment part at a time with one fsync each, rolling to a new
 * segment when the active one is full. The caller holds the write lock.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { LogEntryTooLargeError, LogQuotaExceededError, LogWriteFailedError } from './errors';
import { INDEX_RECORD_BYTES, encodeLine, entryHash, segmentName } from './format';
import { fsyncDir } from './fsutil';
import { persistManifest } from './manifest';
import { entryCost, exceedsQuota, refreshUsage } from './quota';
import { sealFile } from './segments';
import type { LogContext, PendingAppend, PlannedPart } from './types';

/** Commits a batch: every item is resolved once on disk, or rejected with why it was refused. */
export async function commitBatch(ctx: LogContext, batch: PendingAppend[]): Promise<void> {
  const { failed } = ctx.state;
  if (failed) {
    for (const item of batch) item.reject(failed);
    return;
  }
  const parts = planCommit(ctx, batch);
  for (let i = 0; i < parts.length; i++) {
    try {
      await writePart(ctx, parts[i]!);
    } catch (err) {
      for (const p of parts.slice(i)) for (const e of p.entries) e.item.reject(err);
      return;
    }
  }
}

/**
 * Gives each item its seq, hash and line, refusing (rejecting) those too large or beyond the quota
 * before they have a seq, so the chain stays dense; and groups the rest into parts, one per segment.
 */
function planCommit(ctx: LogContext, batch: PendingAppend[]): PlannedPart[] {
  const { state } = ctx;
  const parts: PlannedPart[] = [];
  let seq = state.head.seq;
  let prev = state.head.hash;
  let size = state.active?.size ?? 0;
  let used = state.usedBytes;
  const ts = ctx.now().toISOString();
  const refuse = (item: PendingAppend, err: unknown): void => {
    if (item.group) item.group.refused ??= err;
    item.reject(err);
  };
  for (const item of batch) {
    if (item.group?.refused) {
      // An earlier entry of its appendBatch was refused: this one must not land after the gap.
      item.reject(item.group.refused);
      continue;
    }
    const s = seq + 1;
    const hash = entryHash(s, ts, prev, item.kind, item.dataCanonical);
    const line = Buffer.from(encodeLine(s, ts, prev, hash, item.kind, item.dataCanonical));
    const cost = entryCost(line.length);
    if (line.length > ctx.maxEntryBytes) {
      refuse(item, new LogEntryTooLargeError(line.length, ctx.maxEntryBytes));
      continue;
    }
    if (exceedsQuota(ctx, used, cost)) {
      // Rejected before it has a seq, so the chain stays dense.
      refuse(item, new LogQuotaExceededError(used, ctx.quotaBytes!, cost));
      continue;
    }
    const roll = size > 0 && size + line.length > ctx.segmentBytes;
    if (roll || parts.length === 0) parts.push({ rollFirst: roll, entries: [] });
    if (roll) size = 0;
    parts.at(-1)!.entries.push({ item, seq: s, ts, hash, line });
    size += line.length;
    used += cost;
    seq = s;
    prev = hash;
  }
  return parts;
}

async function writePart(ctx: LogContext, part: PlannedPart): Promise<void> {
  const { state } = ctx;
  if (part.entries.length === 0) return;
  if (part.rollFirst || !state.active) await roll(ctx, part.entries[0]!.seq);
  const active = state.active!;
  const buf = part.entries.length === 1 ? part.entries[0]!.line : Buffer.concat(part.entries.map((e) => e.line));
  try {
    await active.handle.write(buf, 0, buf.length);
  } catch (err) {
    // A short or failed write (ENOSPC) left at most a partial tail; cut it so the next append
    // starts on a line boundary. If even that fails, stop accepting writes.
    try {
      await active.handle.truncate(active.size);
    } catch {
      state.failed = new LogWriteFailedError(active.name, 'write', { cause: err });
    }
    throw new LogWriteFailedError(active.name, 'write', { cause: err });
  }
  try {
    await active.handle.datasync();
  } catch (err) {
    state.failed = new LogWriteFailedError(active.name, 'fsync', { cause: err });
    throw state.failed;
  }
  // Durable from here on: only now does the entry count as appended.
  let offset = active.size;
  for (const e of part.entries) {
    active.offsets.push(offset);
    offset += e.line.length;
  }
  active.size = offset;
  state.usedBytes += buf.length + part.entries.length * INDEX_RECORD_BYTES;
  const last = part.entries.at(-1)!;
  state.head = { seq: last.seq, hash: last.hash, ts: last.ts };
  for (const e of part.entries) e.item.resolve({ seq: e.seq, hash: e.hash, ts: e.ts });
}

/**
 * Seals the active segment (read-only, index written, checksum recorded in the manifest) and
 * starts a new one at `nextSeq`. Crash-safe at every step: open finishes a half-done roll.
 */
async function roll(ctx: LogContext, nextSeq: number): Promise<void> {
  const { state } = ctx;
  const old = state.active;
  if (old && old.offsets.length > 0) {
    try {
      await old.handle.close();
      const rec = await sealFile(ctx, old.name, old.firstSeq);
      // Switched in one synchronous step so a concurrent read finds the segment as active or as
      // sealed, never as neither.
      state.sealedOffsets.set(old.name, old.offsets);
      state.manifest.segments.push(rec);
      state.active = null;
      await persistManifest(ctx);
    } catch (err) {
      state.active = null;
      state.failed = new LogWriteFailedError(old.name, 'seal', { cause: err });
      throw state.failed;
    }
  } else if (old) {
    return; // An empty active segment is reused rather than rolled.
  }
  const name = segmentName(nextSeq);
  try {
    const handle = await fsp.open(path.join(ctx.segmentsDir, name), 'a');
    await fsyncDir(ctx.segmentsDir);
    state.active = { name, firstSeq: nextSeq, handle, size: 0, offsets: [] };
  } catch (err) {
    state.failed = new LogWriteFailedError(name, 'create', { cause: err });
    throw state.failed;
  }
  await refreshUsage(ctx);
}
