/**
 * Verification of the chain: every entry's hash and link, seqs dense, each sealed or archived
 * segment's SHA-256 against the manifest, the links between segments, and the checkpoint that makes
 * an incremental verify cheap. A failure is data ({@link VerifyFailure}), not an exception.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { LogInvalidArgumentError, type CorruptionReason } from './errors';
import { GENESIS_HASH, computeHash, parseLine, scanLines, sha256Hex } from './format';
import { gunzip, writeFileAtomic } from './fsutil';
import { checkpointPath } from './manifest';
import { segmentSources } from './segments';
import type {
  Checkpoint,
  LogContext,
  LogHead,
  SegmentCheck,
  SegmentCheckResult,
  SegmentRecord,
  SegmentSource,
  VerifyFailure,
  VerifyOptions,
  VerifyResult,
} from './types';

/** Sealed or archived segments the rolling sweep re-checks per incremental verify unless told otherwise. */
export const DEFAULT_SWEEP_SEGMENTS = 1;

/** One verification under way: what it checks and what it found so far. */
interface VerifyRun {
  t0: number;
  head: LogHead;
  /** Entries appended while it runs are not read: the active segment is cut at its size when it began. */
  activeSize: number;
  mode: VerifyResult['mode'];
  startSeq: number;
  cp: Checkpoint | null;
  result: VerifyResult;
  prevHash: string;
  prevName: string;
  /** The active segment's bytes as verified (name, length, SHA-256): the next checkpoint's prefix. */
  active?: Checkpoint['active'];
}

/** See {@link ImmutableLog.verify}; the caller holds the maintenance lock. */
export async function verifyChain(ctx: LogContext, options: VerifyOptions): Promise<VerifyResult> {
  const t0 = performance.now();
  const { state } = ctx;
  const head: LogHead = { ...state.head };
  const activeSize = state.active?.size ?? 0;
  const cp = state.checkpoint;
  const mode: VerifyResult['mode'] = options.full ? 'full' : options.from !== undefined ? 'from' : cp ? 'incremental' : 'full';
  const startSeq = mode === 'from' ? options.from! : mode === 'incremental' ? cp!.seq : 1;
  if (mode === 'from' && (!Number.isSafeInteger(startSeq) || startSeq < 1)) {
    throw new LogInvalidArgumentError('from', 'expected an integer ≥ 1');
  }
  const sweep = options.sweepSegments ?? DEFAULT_SWEEP_SEGMENTS;
  if (!Number.isSafeInteger(sweep) || sweep < 0) throw new LogInvalidArgumentError('sweepSegments', 'expected an integer ≥ 0');
  const result: VerifyResult = { ok: true, mode, checked: 0, segments: 0, fromSeq: 0, toSeq: head.seq, prunedThroughSeq: 0, ms: 0 };
  const run: VerifyRun = { t0, head, activeSize, mode, startSeq, cp, result, prevHash: GENESIS_HASH, prevName: '(genesis)' };
  let sweepNextSeq = cp?.sweepNextSeq ?? 0;
  if (mode === 'incremental') {
    const r = await verifyIncremental(ctx, run, sweep);
    if (typeof r !== 'number') return failed(run, r);
    sweepNextSeq = r;
  } else {
    for (const seg of segmentSources(state, head.seq)) {
      const failure = await verifySegment(ctx, run, seg);
      if (failure) return failed(run, failure);
    }
  }
  if (result.segments > 0 && head.seq > 0 && run.prevHash !== head.hash) {
    return failed(run, { reason: 'broken_link', seq: head.seq, segment: run.prevName, detail: 'chain does not end at the head hash' });
  }
  if (result.fromSeq === 0) result.fromSeq = Math.min(run.startSeq, head.seq);
  if (mode !== 'from') {
    state.checkpoint = {
      seq: head.seq,
      hash: head.hash,
      verifiedAt: ctx.now().toISOString(),
      ...(run.active ? { active: run.active } : {}),
      sweepNextSeq,
    };
    // Idempotent: a whole-file replacement with what was just proven; rerunning writes the same facts.
    await writeFileAtomic(checkpointPath(ctx.dir), JSON.stringify(state.checkpoint));
  }
  result.ms = Math.round(performance.now() - run.t0);
  return result;
}

function failed(run: VerifyRun, failure: VerifyFailure): VerifyResult {
  run.result.ok = false;
  run.result.failure = failure;
  run.result.ms = Math.round(performance.now() - run.t0);
  return run.result;
}

/** Index of the first record for which `pred` holds, `pred` being false then true along the array (binary search). */
function firstIndex(recs: readonly SegmentRecord[], count: number, pred: (r: SegmentRecord) => boolean): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pred(recs[mid]!)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function sourceOf(rec: SegmentRecord): SegmentSource {
  return { kind: rec.removedAt ? 'removed' : rec.archive ? 'archived' : 'sealed', name: rec.name, firstSeq: rec.firstSeq, lastSeq: rec.lastSeq, record: rec };
}

/**
 * The incremental verify: work that does not grow with the log's history.
 *
 * 1. The frontier: sealed segments that end after the checkpoint (sealed since it was set) are
 *    verified entry by entry, once, and against their manifest SHA-256; then the active segment:
 *    its verified prefix must still hash to the checkpoint's digest (a flipped byte there is found
 *    at once, and then pinpointed), and only the lines after it are parsed and hash-checked.
 * 2. The rolling sweep: the next `sweep` segments verified before (sealed or archived) are read
 *    again and compared with their manifest SHA-256 (an archive with its `.gz` SHA-256); only a
 *    mismatch costs a full parse, to pinpoint the seq. The cursor wraps, so with S such segments
 *    each is re-read at least once every ceil(S / sweep) calls. A failure leaves the cursor where
 *    it is: the next call looks at the same segment again, until it is repaired.
 *
 * Returns the sweep cursor to store (first seq of the next segment to re-check), or a failure.
 */
async function verifyIncremental(ctx: LogContext, run: VerifyRun, sweep: number): Promise<number | VerifyFailure> {
  const { state } = ctx;
  const cp = run.cp!;
  const { head } = run;
  const recs = state.manifest.segments;
  // Appends may seal segments while this runs: only the records and the active segment of now are looked at.
  const count = recs.length;
  const active = state.active;
  if (cp.seq > head.seq) {
    return {
      reason: 'sequence_mismatch',
      seq: head.seq + 1,
      segment: state.active?.name ?? recs[count - 1]?.name ?? '',
      detail: `log ends at ${head.seq} but seq ${cp.seq} was verified before: entries were lost`,
    };
  }
  // Records before `frontier` were verified entry by entry before; the rest have not been yet.
  const frontier = firstIndex(recs, count, (r) => r.lastSeq > cp.seq);
  run.startSeq = frontier < count ? recs[frontier]!.firstSeq : cp.seq;
  if (frontier > 0) {
    const before = recs[frontier - 1]!;
    run.prevHash = before.lastHash;
    run.prevName = before.name;
    if (before.lastSeq === cp.seq && before.lastHash !== cp.hash) {
      return { reason: 'broken_link', seq: cp.seq, segment: before.archive?.file ?? before.name, detail: 'entry differs from the one the checkpoint verified' };
    }
  }
  for (let i = frontier; i < count; i++) {
    const failure = await verifySegment(ctx, run, sourceOf(recs[i]!));
    if (failure) return failure;
  }
  if (active && run.activeSize > 0 && active.firstSeq <= head.seq) {
    const seg: SegmentSource = { kind: 'active', name: active.name, firstSeq: active.firstSeq, lastSeq: head.seq };
    const prefix = cp.active;
    if (prefix && prefix.name === active.name && prefix.bytes <= run.activeSize && cp.seq >= active.firstSeq && frontier >= count) {
      const failure = await verifyActiveAfterPrefix(ctx, run, seg, prefix);
      if (failure) return failure;
    } else {
      const failure = await verifySegment(ctx, run, seg);
      if (failure) return failure;
    }
  }
  return sweepVerified(ctx, run, frontier, sweep);
}

/**
 * The active segment when the checkpoint holds a digest of its verified prefix: that prefix is
 * hashed (not parsed) and must match; the lines after it are checked one by one.
 */
async function verifyActiveAfterPrefix(
  ctx: LogContext,
  run: VerifyRun,
  seg: SegmentSource,
  prefix: NonNullable<Checkpoint['active']>,
): Promise<VerifyFailure | null> {
  const cp = run.cp!;
  const file = path.join(ctx.segmentsDir, seg.name);
  const bytes = await readPrefix(file, run.activeSize);
  if (!bytes) return { reason: 'missing_segment', seq: seg.firstSeq, segment: seg.name, detail: `${file} is missing` };
  if (bytes.length < run.activeSize) return { reason: 'sequence_mismatch', seq: seg.firstSeq, segment: seg.name, detail: `active segment is ${bytes.length} bytes, ${run.activeSize} were acknowledged` };
  const hash = createHash('sha256').update(bytes.subarray(0, prefix.bytes));
  if (hash.copy().digest('hex') !== prefix.sha256) {
    // The verified part changed: a full check of the segment pinpoints the entry.
    const failure = await verifySegment(ctx, run, seg);
    return failure ?? { reason: 'segment_checksum_mismatch', seq: seg.firstSeq, segment: seg.name, detail: 'the verified part of the active segment changed' };
  }
  const tail = bytes.subarray(prefix.bytes);
  const check = checkSegment({ bytes: tail, name: seg.name, firstSeq: cp.seq + 1, expectedPrevHash: cp.hash, expectedLastSeq: seg.lastSeq });
  run.result.segments++;
  run.result.checked += check.checked;
  if (!check.ok) return check.failure;
  if (run.result.fromSeq === 0) run.result.fromSeq = cp.seq + 1;
  run.active = { name: seg.name, bytes: bytes.length, sha256: hash.update(tail).digest('hex') };
  run.prevHash = check.lastHash;
  run.prevName = seg.name;
  return null;
}

async function readPrefix(file: string, size: number): Promise<Buffer | undefined> {
  let h: FileHandle;
  try {
    h = await fsp.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return undefined;
  }
  try {
    const { bytesRead, buffer } = await h.read(Buffer.alloc(size), 0, size, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await h.close();
  }
}

/**
 * The rolling sweep over the segments before `frontier` (verified before): the next `sweep` of
 * them from the stored cursor, wrapping, each compared with its manifest digest. Returns the next
 * cursor, or the first failure.
 */
async function sweepVerified(ctx: LogContext, run: VerifyRun, frontier: number, sweep: number): Promise<number | VerifyFailure> {
  const recs = ctx.state.manifest.segments;
  const cursor = run.cp!.sweepNextSeq ?? 0;
  run.result.swept = [];
  // Cleanup deletes the oldest archives first, so deleted records are a prefix.
  const firstLive = firstIndex(recs, frontier, (r) => !r.removedAt);
  const span = frontier - firstLive;
  if (span <= 0 || sweep === 0) return cursor;
  let i = firstIndex(recs, frontier, (r) => r.firstSeq >= cursor);
  if (i < firstLive || i >= frontier) i = firstLive;
  for (let n = 0; n < Math.min(sweep, span); n++) {
    const rec = recs[i]!;
    const failure = await recheckSegment(ctx, run, rec, i > 0 ? recs[i - 1]!.lastHash : GENESIS_HASH, i > 0 ? recs[i - 1]!.name : '(genesis)');
    if (failure) return failure;
    run.result.swept.push(rec.archive?.file ?? rec.name);
    i = i + 1 < frontier ? i + 1 : firstLive;
  }
  return recs[i]!.firstSeq;
}

/** Re-checks a segment verified before: its file's SHA-256 against the manifest; a full check only on a mismatch. */
async function recheckSegment(ctx: LogContext, run: VerifyRun, rec: SegmentRecord, prevHash: string, prevName: string): Promise<VerifyFailure | null> {
  const shownName = rec.archive?.file ?? rec.name;
  if (rec.firstPrevHash !== prevHash) {
    return { reason: 'broken_link', seq: rec.firstSeq, segment: shownName, detail: `segment links to ${rec.firstPrevHash.slice(0, 12)}… but ${prevName} ends with ${prevHash.slice(0, 12)}…` };
  }
  const file = rec.archive ? path.join(ctx.archiveDir, rec.archive.file) : path.join(ctx.segmentsDir, rec.name);
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return { reason: 'missing_segment', seq: rec.firstSeq, segment: shownName, detail: `${file} is missing` };
  }
  run.result.segments++;
  if (sha256Hex(bytes) === (rec.archive ? rec.archive.sha256 : rec.sha256)) return null;
  // Changed since it verified: the full check of its entries says which one (or, for an archive, that it is damaged).
  const sub: VerifyRun = { ...run, mode: 'full', prevHash, prevName, result: { ...run.result } };
  const failure = await verifySegment(ctx, sub, sourceOf(rec));
  return failure ?? { reason: 'segment_checksum_mismatch', seq: rec.firstSeq, segment: shownName, detail: 'segment SHA-256 differs from the manifest' };
}

/** Checks one segment in the chain (or skips it when the mode lets it), advancing `run`; a failure, or null. */
async function verifySegment(ctx: LogContext, run: VerifyRun, seg: SegmentSource): Promise<VerifyFailure | null> {
  if (seg.kind === 'removed') {
    run.result.prunedThroughSeq = seg.lastSeq;
    run.prevHash = seg.record.lastHash;
    run.prevName = seg.name;
    return null;
  }
  const rec = seg.kind === 'active' ? undefined : seg.record;
  const file = seg.kind === 'archived' ? path.join(ctx.archiveDir, rec!.archive!.file) : path.join(ctx.segmentsDir, seg.name);
  const shownName = seg.kind === 'archived' ? rec!.archive!.file : seg.name;
  if (rec && rec.firstPrevHash !== run.prevHash) {
    return { reason: 'broken_link', seq: seg.firstSeq, segment: shownName, detail: `segment links to ${rec.firstPrevHash.slice(0, 12)}… but ${run.prevName} ends with ${run.prevHash.slice(0, 12)}…` };
  }
  if (!(await exists(file))) return { reason: 'missing_segment', seq: seg.firstSeq, segment: shownName, detail: `${file} is missing` };

  if (seg.lastSeq < run.startSeq && run.mode === 'from') {
    run.prevHash = rec ? rec.lastHash : run.prevHash;
    run.prevName = seg.name;
    return null;
  }

  const bytes = await segmentBytes(file, seg, rec, shownName, run.activeSize);
  if (!Buffer.isBuffer(bytes)) return bytes;
  const check = checkSegment({
    bytes,
    name: shownName,
    firstSeq: seg.firstSeq,
    expectedPrevHash: run.prevHash,
    expectedLastSeq: seg.lastSeq,
    expectedLastHash: rec?.lastHash,
    expectedSha256: rec?.sha256,
  });
  run.result.segments++;
  run.result.checked += check.checked;
  if (!check.ok) return check.failure;
  const cp = run.cp;
  if (run.mode === 'incremental' && cp && cp.seq >= seg.firstSeq && cp.seq <= seg.lastSeq && entryHashIn(bytes, seg.firstSeq, cp.seq) !== cp.hash) {
    return { reason: 'broken_link', seq: cp.seq, segment: shownName, detail: 'entry differs from the one the checkpoint verified' };
  }
  if (run.result.fromSeq === 0) run.result.fromSeq = seg.firstSeq;
  if (seg.kind === 'active') run.active = { name: seg.name, bytes: bytes.length, sha256: sha256Hex(bytes) };
  run.prevHash = check.lastHash;
  run.prevName = seg.name;
  return null;
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return false;
  }
}

/** A segment's entries as bytes: an archive checked against its SHA-256 and gunzipped, the active one cut at `activeSize`. */
async function segmentBytes(file: string, seg: SegmentSource, rec: SegmentRecord | undefined, shownName: string, activeSize: number): Promise<Buffer | VerifyFailure> {
  const bytes = await fsp.readFile(file);
  if (seg.kind === 'active') return bytes.subarray(0, activeSize);
  if (seg.kind !== 'archived') return bytes;
  if (sha256Hex(bytes) !== rec!.archive!.sha256) {
    return { reason: 'segment_checksum_mismatch', seq: seg.firstSeq, segment: shownName, detail: 'archive SHA-256 differs from the manifest' };
  }
  try {
    return await gunzip(bytes);
  } catch (err) {
    return { reason: 'segment_checksum_mismatch', seq: seg.firstSeq, segment: shownName, detail: `archive does not decompress: ${(err as Error).message}` };
  }
}

function entryHashIn(bytes: Buffer, firstSeq: number, seq: number): string | undefined {
  const { offsets } = scanLines(bytes);
  const i = seq - firstSeq;
  const a = offsets[i];
  if (a === undefined) return undefined;
  const parsed = parseLine(bytes.subarray(a, offsets[i + 1] ?? bytes.length).toString('utf8').trimEnd());
  return parsed.ok ? parsed.entry.hash : undefined;
}

/** Checks one segment's bytes. Entry-level failures come first because they pinpoint a seq. */
function checkSegment(c: SegmentCheck): SegmentCheckResult {
  const { offsets, completeBytes } = scanLines(c.bytes);
  let prev = c.expectedPrevHash;
  let checked = 0;
  const failure = (reason: CorruptionReason, seq: number, detail: string): SegmentCheckResult => ({
    ok: false,
    checked,
    failure: { reason, seq, segment: c.name, detail },
  });
  for (let i = 0; i < offsets.length; i++) {
    const seq = c.firstSeq + i;
    const line = c.bytes.subarray(offsets[i]!, (offsets[i + 1] ?? completeBytes) - 1).toString('utf8');
    const parsed = parseLine(line);
    if (!parsed.ok) return failure('unparsable_line', seq, parsed.problem);
    const e = parsed.entry;
    if (e.seq !== seq) return failure('sequence_mismatch', seq, `line holds seq ${e.seq}`);
    if (e.prevHash !== prev) return failure('broken_link', seq, `prevHash ${e.prevHash.slice(0, 12)}… differs from the previous hash ${prev.slice(0, 12)}…`);
    const computed = computeHash(e);
    if (computed !== e.hash) return failure('hash_mismatch', seq, `stored ${e.hash.slice(0, 12)}…, computed ${computed.slice(0, 12)}…`);
    prev = e.hash;
    checked++;
  }
  const lastSeq = c.firstSeq + offsets.length - 1;
  if (completeBytes !== c.bytes.length) return failure('unparsable_line', lastSeq + 1, 'segment ends mid-line');
  if (c.expectedLastSeq !== undefined && lastSeq !== c.expectedLastSeq) {
    return failure('sequence_mismatch', Math.min(lastSeq, c.expectedLastSeq) + 1, `segment ends at ${lastSeq}, expected ${c.expectedLastSeq}`);
  }
  if (c.expectedSha256 !== undefined && sha256Hex(c.bytes) !== c.expectedSha256) {
    return failure('segment_checksum_mismatch', c.firstSeq, 'segment SHA-256 differs from the manifest');
  }
  if (c.expectedLastHash !== undefined && prev !== c.expectedLastHash) {
    return failure('broken_link', lastSeq, 'last hash differs from the manifest');
  }
  return { ok: true, checked, lastHash: prev };
}
