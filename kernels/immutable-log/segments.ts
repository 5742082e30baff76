/**
 * Segment files (`segments/<16-digit first seq>.seg`, one entry per line): sealing one, opening the
 * active one (cutting a torn tail), reading a range of entries from one (gunzipping an archived
 * one), and listing them all in seq order.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { LogCorruptionError } from './errors';
import { gunzip } from './fsutil';
import { GENESIS_HASH, computeHash, encodeIndex, indexName, parseLine, parseSegmentName, scanLines, sha256Hex, type LogEntry } from './format';
import type { LogContext, LogHead, LogState, OpenReport, SegmentRecord, SegmentSource } from './types';

/** Signals read() that a segment moved (sealed or archived) under it and the range must be re-planned. */
function retryRead(name: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`segment ${name} moved during read`), { code: 'ENOENT' });
}

/** Makes the segment read-only and describes it for the manifest. */
export async function sealFile(ctx: Pick<LogContext, 'segmentsDir' | 'indexDir' | 'now'>, name: string, firstSeq: number): Promise<SegmentRecord> {
  const file = path.join(ctx.segmentsDir, name);
  const buf = await fsp.readFile(file);
  const { offsets, completeBytes } = scanLines(buf);
  if (offsets.length === 0 || completeBytes !== buf.length) {
    throw new LogCorruptionError('unparsable_line', name, firstSeq + offsets.length, 'segment to seal is empty or ends mid-line');
  }
  const first = parseLine(buf.subarray(0, offsets[1] ?? completeBytes).toString('utf8').trimEnd());
  const last = parseLine(buf.subarray(offsets.at(-1)!, completeBytes).toString('utf8').trimEnd());
  if (!first.ok || !last.ok) {
    throw new LogCorruptionError('unparsable_line', name, firstSeq, 'first or last line of a segment to seal is unreadable');
  }
  await fsp.chmod(file, 0o444);
  await fsp.writeFile(path.join(ctx.indexDir, indexName(name)), encodeIndex(offsets));
  return {
    name,
    firstSeq,
    lastSeq: firstSeq + offsets.length - 1,
    count: offsets.length,
    bytes: buf.length,
    sha256: sha256Hex(buf),
    firstPrevHash: first.entry.prevHash,
    lastHash: last.entry.hash,
    lastTs: last.entry.ts,
    sealedAt: ctx.now().toISOString(),
  };
}

/** Opens the newest, unsealed segment for appending, cutting a torn tail and rebuilding its index. */
export async function openActiveSegment(ctx: LogContext, name: string, report: OpenReport): Promise<void> {
  const { state } = ctx;
  const firstSeq = parseSegmentName(name)!;
  const file = path.join(ctx.segmentsDir, name);
  if (firstSeq !== state.head.seq + 1) {
    throw new LogCorruptionError(
      'sequence_mismatch',
      name,
      firstSeq,
      `active segment starts at ${firstSeq} but the sealed segments end at ${state.head.seq}`,
    );
  }
  // A crash between chmod and recording the seal leaves the newest segment read-only yet unsealed.
  await fsp.chmod(file, 0o644);
  const buf = await fsp.readFile(file);
  const { offsets, completeBytes } = scanLines(buf);
  let keep = completeBytes;
  // Complete lines holding NUL bytes are blocks a machine crash left unwritten: part of the torn
  // tail, never acknowledged (their fsync had not returned).
  while (offsets.length > 0 && buf.subarray(offsets.at(-1)!, keep).includes(0)) keep = offsets.pop()!;
  if (keep < buf.length) {
    const h = await fsp.open(file, 'r+');
    try {
      await h.truncate(keep);
      await h.sync();
    } finally {
      await h.close();
    }
    report.truncatedBytes = buf.length - keep;
    report.truncatedSegment = name;
  }
  if (offsets.length > 0) state.head = checkTail(name, firstSeq + offsets.length - 1, buf.subarray(offsets.at(-1)!, keep - 1), report);
  const handle = await fsp.open(file, 'a');
  state.active = { name, firstSeq, handle, size: keep, offsets };
  // The active index is only a convenience copy; open always rebuilds it from the segment.
  await fsp.writeFile(path.join(ctx.indexDir, indexName(name)), encodeIndex(offsets));
}

/**
 * The head the newest complete line makes. A complete line that does not verify is damage to an
 * acknowledged entry, not a torn write: it is kept as evidence (in `report.tailCorruption`) and the
 * log refuses to build on it.
 */
function checkTail(name: string, lastSeq: number, lastLine: Buffer, report: OpenReport): LogHead {
  const parsed = parseLine(lastLine.toString('utf8'));
  if (!parsed.ok) {
    report.tailCorruption = new LogCorruptionError('unparsable_line', name, lastSeq, parsed.problem);
    return { seq: lastSeq, hash: GENESIS_HASH, ts: null };
  }
  if (parsed.entry.seq !== lastSeq) {
    report.tailCorruption = new LogCorruptionError('sequence_mismatch', name, lastSeq, `line holds seq ${parsed.entry.seq}`);
  } else if (computeHash(parsed.entry) !== parsed.entry.hash) {
    report.tailCorruption = new LogCorruptionError('hash_mismatch', name, lastSeq, 'newest entry does not match its hash');
  }
  return { seq: lastSeq, hash: parsed.entry.hash, ts: parsed.entry.ts };
}

/** Manifest records and the active segment in seq order: no gap, no overlap. */
export function checkContiguity(state: LogState): void {
  let expected = 1;
  for (const rec of state.manifest.segments) {
    if (rec.firstSeq !== expected) {
      throw new LogCorruptionError('sequence_mismatch', rec.name, rec.firstSeq, `expected a segment starting at ${expected}`);
    }
    expected = rec.lastSeq + 1;
  }
  if (state.active && state.active.firstSeq !== expected) {
    throw new LogCorruptionError('sequence_mismatch', state.active.name, state.active.firstSeq, `expected ${expected}`);
  }
}

/** Every segment in seq order, up to `headSeq`: manifest records, then the active one. */
export function segmentSources(state: LogState, headSeq: number): SegmentSource[] {
  const out: SegmentSource[] = state.manifest.segments.map((record) => ({
    kind: record.removedAt ? 'removed' : record.archive ? 'archived' : 'sealed',
    name: record.name,
    firstSeq: record.firstSeq,
    lastSeq: record.lastSeq,
    record,
  }));
  if (state.active && state.active.offsets.length > 0) {
    out.push({ kind: 'active', name: state.active.name, firstSeq: state.active.firstSeq, lastSeq: headSeq });
  }
  return out;
}

/** Entries `from..to` of one segment, parsed but not hash-checked. */
export async function readFromSegment(ctx: LogContext, seg: SegmentSource, from: number, to: number): Promise<LogEntry[]> {
  const { bytes, offsets, base } =
    seg.kind === 'archived'
      ? await readArchived(ctx, seg.record)
      : await readLive(ctx, seg, from, to);
  const out: LogEntry[] = [];
  for (let s = from; s <= to; s++) {
    const i = s - seg.firstSeq;
    const a = offsets[i]! - base;
    const b = (i + 1 < offsets.length ? offsets[i + 1]! : base + bytes.length) - base;
    const parsed = parseLine(bytes.subarray(a, b).toString('utf8').trimEnd());
    if (!parsed.ok) throw new LogCorruptionError('unparsable_line', seg.name, s, parsed.problem);
    out.push(parsed.entry);
  }
  return out;
}

interface SegmentBytes {
  bytes: Buffer;
  offsets: readonly number[];
  /** Offset in the segment of `bytes[0]`. */
  base: number;
}

async function readArchived(ctx: LogContext, record: SegmentRecord): Promise<SegmentBytes> {
  const bytes = await gunzip(await fsp.readFile(path.join(ctx.archiveDir, record.archive!.file)));
  return { bytes, offsets: scanLines(bytes).offsets, base: 0 };
}

/** The bytes of entries `from..to` of a sealed or the active segment, by its index. */
async function readLive(ctx: LogContext, seg: SegmentSource, from: number, to: number): Promise<SegmentBytes> {
  const { state } = ctx;
  // Looked up now, not when the range was planned: a roll may have sealed the active segment since.
  const isActive = state.active?.name === seg.name;
  const known = isActive ? state.active!.offsets : state.sealedOffsets.get(seg.name);
  const record = state.manifest.segments.find((r) => r.name === seg.name);
  if (!known || (!isActive && !record)) throw retryRead(seg.name);
  const offsets = known;
  const end = isActive ? state.active!.size : record!.bytes;
  const start = offsets[from - seg.firstSeq]!;
  const stop = to - seg.firstSeq + 1 < offsets.length ? offsets[to - seg.firstSeq + 1]! : end;
  const h = await fsp.open(path.join(ctx.segmentsDir, seg.name), 'r');
  try {
    return { bytes: (await h.read(Buffer.alloc(stop - start), 0, stop - start, start)).buffer, offsets, base: start };
  } finally {
    await h.close();
  }
}
