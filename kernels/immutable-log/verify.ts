/**
 * Verification of the chain: every entry's hash and link, seqs dense, each sealed or archived
 * segment's SHA-256 against the manifest, the links between segments, and the checkpoint that makes
 * an incremental verify cheap. A failure is data ({@link VerifyFailure}), not an exception.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { LogInvalidArgumentError, type CorruptionReason } from './errors';
import { GENESIS_HASH, computeHash, parseLine, scanLines, sha256Hex } from './format';
import { gunzip, writeFileAtomic } from './fsutil';
import { checkpointPath } from './manifest';
import { segmentSources } from './segments';
import type {
  Checkpoint,
  Fingerprint,
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
  fingerprints: Record<string, Fingerprint>;
  prevHash: string;
  prevName: string;
}

/** See {@link ImmutableLog.verify}; the caller holds the maintenance lock. */
export async function verifyChain(ctx: LogContext, options: VerifyOptions): Promise<VerifyResult> {
  const t0 = performance.now();
  const { state } = ctx;
  const head: LogHead = { ...state.head };
  const activeSize = state.active?.size ?? 0;
  const sources = segmentSources(state, head.seq);
  const cp = state.checkpoint;
  const mode: VerifyResult['mode'] = options.full ? 'full' : options.from !== undefined ? 'from' : cp ? 'incremental' : 'full';
  const startSeq = mode === 'from' ? options.from! : mode === 'incremental' ? cp!.seq : 1;
  if (mode === 'from' && (!Number.isSafeInteger(startSeq) || startSeq < 1)) {
    throw new LogInvalidArgumentError('from', 'expected an integer ≥ 1');
  }
  const result: VerifyResult = { ok: true, mode, checked: 0, segments: 0, fromSeq: 0, toSeq: head.seq, prunedThroughSeq: 0, ms: 0 };
  const run: VerifyRun = { t0, head, activeSize, mode, startSeq, cp, result, fingerprints: {}, prevHash: GENESIS_HASH, prevName: '(genesis)' };
  if (mode === 'incremental' && cp!.seq > head.seq) {
    return failed(run, {
      reason: 'sequence_mismatch',
      seq: head.seq + 1,
      segment: state.active?.name ?? sources.at(-1)?.name ?? '',
      detail: `log ends at ${head.seq} but seq ${cp!.seq} was verified before: entries were lost`,
    });
  }
  if (mode === 'incremental' && state.active && state.active.offsets.length > 0) run.startSeq = Math.min(run.startSeq, state.active.firstSeq);

  for (const seg of sources) {
    const failure = await verifySegment(ctx, run, seg);
    if (failure) return failed(run, failure);
  }
  if (result.segments > 0 && head.seq > 0 && run.prevHash !== head.hash) {
    return failed(run, { reason: 'broken_link', seq: head.seq, segment: run.prevName, detail: 'chain does not end at the head hash' });
  }
  if (result.fromSeq === 0) result.fromSeq = Math.min(run.startSeq, head.seq);
  if (mode !== 'from') {
    state.checkpoint = { seq: head.seq, hash: head.hash, verifiedAt: ctx.now().toISOString(), files: run.fingerprints };
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
  const stat = await fingerprintOf(file);
  if (!stat) return { reason: 'missing_segment', seq: seg.firstSeq, segment: shownName, detail: `${file} is missing` };

  const inRange = seg.lastSeq >= run.startSeq;
  const known = run.cp?.files[shownName];
  const changed = !known || known.size !== stat.size || known.mtimeMs !== stat.mtimeMs;
  if (!inRange && !(run.mode === 'incremental' && changed) && run.mode !== 'full') {
    if (rec) run.fingerprints[shownName] = known ?? stat;
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
  if (rec) run.fingerprints[shownName] = stat;
  run.prevHash = check.lastHash;
  run.prevName = seg.name;
  return null;
}

async function fingerprintOf(file: string): Promise<Fingerprint | undefined> {
  try {
    const st = await fsp.stat(file);
    return { size: st.size, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return undefined;
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
