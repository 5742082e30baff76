/**
 * The immutable log: an append-only, SHA-256 hash-chained log in segment files, with an index, a
 * manifest of sealed and archived segments, a verification checkpoint and a size quota.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import {
  LogArchiveError,
  LogClosedError,
  LogCorruptionError,
  LogEntryTooLargeError,
  LogInvalidArgumentError,
  LogInvalidEntryError,
  LogQuotaExceededError,
  LogWriteFailedError,
  type CorruptionReason,
  type ImmutableLogError,
} from './errors';
import {
  GENESIS_HASH,
  INDEX_RECORD_BYTES,
  archiveName,
  canonicalJson,
  computeHash,
  decodeIndex,
  encodeIndex,
  encodeLine,
  entryHash,
  indexName,
  parseLine,
  parseSegmentName,
  scanLines,
  segmentName,
  sha256Hex,
  toJsonValue,
  type LogEntry,
} from './format';
import { Mutex, acquireDirLock, fsyncDir, readIfExists, unlinkIfExists, writeFileAtomic } from './fsutil';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);

const MiB = 1024 * 1024;

/** Signals read() that a segment moved (sealed or archived) under it and the range must be re-planned. */
function retryRead(name: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`segment ${name} moved during read`), { code: 'ENOENT' });
}

/** Options of {@link ImmutableLog.open}. */
export interface ImmutableLogOptions {
  /** Directory holding `segments/`, `index/`, `archive/`, `manifest.json`, `checkpoint.json`. Created if missing. */
  dir: string;
  /**
   * Roll to a new segment once the active one would grow beyond this. A single larger entry still
   * gets a segment of its own.
   * @default 1 MiB
   */
  segmentBytes?: number;
  /** Bytes the whole directory may use; appends beyond it fail with LogQuotaExceededError. @default unlimited */
  quotaBytes?: number;
  /** Largest encoded entry accepted. @default 1 MiB */
  maxEntryBytes?: number;
  /** Most appends written and fsynced together (group commit). @default 1024 */
  maxBatchEntries?: number;
  /** Clock for entry timestamps; tests pin it. @default () => new Date() */
  now?: () => Date;
}

/** The newest entry: where the next append links to. */
export interface LogHead {
  /** 0 when the log is empty. */
  seq: number;
  /** {@link GENESIS_HASH} when the log is empty. */
  hash: string;
  ts: string | null;
}

/** What opening the log found and repaired. */
export interface OpenReport {
  /** Bytes of a torn (never acknowledged) tail cut from the active segment. */
  truncatedBytes: number;
  /** The segment that was truncated, if any. */
  truncatedSegment: string | null;
  /** Segments whose index was missing or inconsistent and was rebuilt. */
  indexRebuilt: string[];
  /** Segments a crash left rolled but not sealed, sealed now. */
  sealedOnOpen: string[];
  /** Leftovers of an interrupted archive or write removed. */
  removedLeftovers: string[];
  /** Set when the newest complete entry does not verify: appends are refused until repaired. */
  tailCorruption: LogCorruptionError | null;
  head: LogHead;
  ms: number;
}

/** A sealed segment as the manifest records it. */
export interface SegmentRecord {
  name: string;
  firstSeq: number;
  lastSeq: number;
  count: number;
  /** Size of the uncompressed segment. */
  bytes: number;
  /** SHA-256 of the uncompressed segment. */
  sha256: string;
  /** `prevHash` of the first entry: the link to the previous segment, kept so the chain can be checked after that one is gone. */
  firstPrevHash: string;
  lastHash: string;
  lastTs: string;
  sealedAt: string;
  archive?: { file: string; bytes: number; sha256: string; archivedAt: string };
  /** Set when {@link ImmutableLog.cleanupArchives} deleted the archive; the record stays as the chain's anchor. */
  removedAt?: string;
}

interface Manifest {
  version: 1;
  segments: SegmentRecord[];
}

interface Fingerprint {
  size: number;
  mtimeMs: number;
}

interface Checkpoint {
  seq: number;
  hash: string;
  verifiedAt: string;
  /** Size and mtime of each sealed or archived file when it last verified; a change forces a re-check. */
  files: Record<string, Fingerprint>;
}

interface ActiveSegment {
  name: string;
  firstSeq: number;
  handle: FileHandle;
  size: number;
  /** Byte offset of each entry's line. */
  offsets: number[];
}

/** Result of {@link ImmutableLog.append}. */
export interface AppendResult {
  seq: number;
  hash: string;
  ts: string;
}

/** Options of {@link ImmutableLog.verify}. */
export interface VerifyOptions {
  /** Check every segment, archived ones included. */
  full?: boolean;
  /** Check from the segment holding this seq onwards. */
  from?: number;
}

/** Where and why verification failed. */
export interface VerifyFailure {
  reason: CorruptionReason;
  /** First bad entry; for a segment-level failure, the segment's first seq. */
  seq: number;
  /** File name of the segment (under `segments/` or, archived, under `archive/`). */
  segment: string;
  detail: string;
}

/** Result of {@link ImmutableLog.verify}; a failed verification is data, not an exception. */
export interface VerifyResult {
  ok: boolean;
  mode: 'full' | 'incremental' | 'from';
  /** Entries whose hash and link were checked. */
  checked: number;
  /** Segments read. */
  segments: number;
  /** The range vouched for on success: `fromSeq..toSeq`. */
  fromSeq: number;
  toSeq: number;
  /** Entries deleted by cleanup; the chain is anchored on their recorded last hash. */
  prunedThroughSeq: number;
  failure?: VerifyFailure;
  ms: number;
}

/** Result of {@link ImmutableLog.usage}. */
export interface LogUsage {
  usedBytes: number;
  quotaBytes: number | null;
  /** usedBytes / quotaBytes, or null without a quota. */
  quotaFraction: number | null;
  segmentBytes: number;
  archiveBytes: number;
  indexBytes: number;
  otherBytes: number;
  segments: { active: number; sealed: number; archived: number; removed: number };
}

/** Result of {@link ImmutableLog.diskFree}. */
export interface DiskFree {
  freeBytes: number;
  totalBytes: number;
}

export interface RebuildIndexResult {
  segments: number;
  entries: number;
  ms: number;
}

export interface ArchiveResult {
  archived: string[];
  /** Uncompressed bytes archived, and what they take compressed. */
  bytesIn: number;
  bytesOut: number;
  ms: number;
}

export interface CleanupOptions {
  /** Keep at most this many archives (the newest). */
  maxArchives?: number;
  /** Delete archives whose newest entry is older than this. */
  maxAgeMs?: number;
}

export interface CleanupResult {
  removed: string[];
  freedBytes: number;
  /** Entries up to this seq are gone for good (0: none). */
  prunedThroughSeq: number;
}

interface PendingAppend {
  kind: string;
  dataCanonical: string;
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
  /**
   * Set for the entries of one {@link ImmutableLog.appendBatch}: they are committed in the same
   * batch, and once one is refused the ones after it are refused too, so what lands is a prefix.
   */
  group?: { refused: unknown };
}

interface PlannedEntry {
  item: PendingAppend;
  seq: number;
  ts: string;
  hash: string;
  line: Buffer;
}

/** A run of planned entries that go into one segment with one write and one fsync. */
interface PlannedPart {
  rollFirst: boolean;
  entries: PlannedEntry[];
}

type SegmentSource =
  | { kind: 'active'; name: string; firstSeq: number; lastSeq: number }
  | { kind: 'sealed' | 'archived' | 'removed'; name: string; firstSeq: number; lastSeq: number; record: SegmentRecord };

interface SegmentCheck {
  bytes: Buffer;
  name: string;
  firstSeq: number;
  expectedPrevHash: string;
  expectedLastSeq?: number;
  expectedLastHash?: string;
  expectedSha256?: string;
}

type SegmentCheckResult = { ok: true; checked: number; lastHash: string } | { ok: false; checked: number; failure: VerifyFailure };

/**
 * An append-only, hash-chained log in one directory. Open it with {@link ImmutableLog.open}; one
 * process at a time may hold a directory (a `LOCK` file with its pid).
 *
 * Guarantees: an append resolves only after its line is fsynced, so an acknowledged entry survives
 * a crash of the process or the machine; appends are serialised, so seqs are dense and each entry
 * links to the one acknowledged before it; a torn tail (bytes of an append that was never
 * acknowledged) is cut on open.
 */
export class ImmutableLog {
  readonly dir: string;
  readonly segmentsDir: string;
  readonly indexDir: string;
  readonly archiveDir: string;
  readonly segmentBytes: number;
  readonly quotaBytes: number | null;
  readonly maxEntryBytes: number;
  readonly maxBatchEntries: number;
  /** What the last open found and repaired. */
  openReport!: OpenReport;

  private readonly now: () => Date;
  private manifest: Manifest = { version: 1, segments: [] };
  private checkpoint: Checkpoint | null = null;
  private active: ActiveSegment | null = null;
  /** Line offsets of sealed, unarchived segments, by name; loaded and checked on open. */
  private readonly sealedOffsets = new Map<string, number[]>();
  private headState: LogHead = { seq: 0, hash: GENESIS_HASH, ts: null };
  private usedBytes = 0;
  private pending: PendingAppend[] = [];
  private committing: Promise<void> | null = null;
  /** Held while bytes are written, a segment rolls, or the manifest changes. */
  private readonly writeLock = new Mutex();
  /** Held by verify, archive and cleanup so none removes a file another is reading. */
  private readonly maintenanceLock = new Mutex();
  private failed: ImmutableLogError | null = null;
  private closed = false;
  private releaseLock: (() => Promise<void>) | null = null;

  private constructor(options: ImmutableLogOptions) {
    this.dir = path.resolve(options.dir);
    this.segmentsDir = path.join(this.dir, 'segments');
    this.indexDir = path.join(this.dir, 'index');
    this.archiveDir = path.join(this.dir, 'archive');
    this.segmentBytes = options.segmentBytes ?? MiB;
    this.quotaBytes = options.quotaBytes ?? null;
    this.maxEntryBytes = options.maxEntryBytes ?? MiB;
    this.maxBatchEntries = options.maxBatchEntries ?? 1024;
    this.now = options.now ?? (() => new Date());
    for (const [name, v] of [
      ['segmentBytes', this.segmentBytes],
      ['maxEntryBytes', this.maxEntryBytes],
      ['maxBatchEntries', this.maxBatchEntries],
    ] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new LogInvalidArgumentError(name, `expected a positive integer, got ${v}`);
    }
    if (this.quotaBytes !== null && !(this.quotaBytes > 0)) {
      throw new LogInvalidArgumentError('quotaBytes', `expected a positive number, got ${this.quotaBytes}`);
    }
  }

  /**
   * Opens (or creates) the log in `options.dir`: takes the directory lock, finishes any roll or
   * archive a crash interrupted, cuts a torn tail from the active segment, and checks every index,
   * rebuilding the missing or inconsistent ones. Does not verify the chain (see {@link verify}).
   *
   * @throws LogLockedError when a live process holds the directory
   * @throws LogCorruptionError when the manifest or the segment files contradict each other
   */
  static async open(options: ImmutableLogOptions): Promise<ImmutableLog> {
    const log = new ImmutableLog(options);
    await fsp.mkdir(log.dir, { recursive: true });
    log.releaseLock = await acquireDirLock(log.dir);
    try {
      await log.load();
    } catch (err) {
      await log.releaseLock();
      throw err;
    }
    return log;
  }

  // ---------------------------------------------------------------- open

  private async load(): Promise<void> {
    const t0 = performance.now();
    for (const d of [this.segmentsDir, this.indexDir, this.archiveDir]) await fsp.mkdir(d, { recursive: true });
    // The subdirectories' own entries must be durable before the first acknowledged append lands in one.
    await fsyncDir(this.dir);
    const report: OpenReport = {
      truncatedBytes: 0,
      truncatedSegment: null,
      indexRebuilt: [],
      sealedOnOpen: [],
      removedLeftovers: [],
      tailCorruption: null,
      head: this.headState,
      ms: 0,
    };

    const manifestBytes = await readIfExists(this.manifestPath);
    if (manifestBytes) {
      try {
        this.manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
      } catch (err) {
        // The manifest is only ever replaced atomically, so unreadable means damaged, not torn.
        throw new LogCorruptionError('unparsable_line', 'manifest.json', null, 'manifest is not JSON', { cause: err });
      }
    }
    const checkpointBytes = await readIfExists(this.checkpointPath);
    if (checkpointBytes) {
      try {
        this.checkpoint = JSON.parse(checkpointBytes.toString('utf8')) as Checkpoint;
      } catch {
        // The checkpoint only saves work; without it the next incremental verify is a full one.
        this.checkpoint = null;
      }
    }

    for (const d of [this.dir, this.archiveDir, this.indexDir]) {
      for (const f of await fsp.readdir(d)) {
        if (f.endsWith('.tmp')) {
          await unlinkIfExists(path.join(d, f));
          report.removedLeftovers.push(f);
        }
      }
    }

    const records = new Map(this.manifest.segments.map((r) => [r.name, r]));
    const live = (await fsp.readdir(this.segmentsDir))
      .filter((f) => parseSegmentName(f) !== undefined)
      .sort();

    // A crash between recording an archive and removing its original leaves both; the archive won.
    for (const name of [...live]) {
      const rec = records.get(name);
      if (rec && (rec.archive || rec.removedAt)) {
        await fsp.chmod(path.join(this.segmentsDir, name), 0o644).catch(() => undefined);
        await unlinkIfExists(path.join(this.segmentsDir, name));
        await unlinkIfExists(path.join(this.indexDir, indexName(name)));
        live.splice(live.indexOf(name), 1);
        report.removedLeftovers.push(name);
      }
    }

    // Every live file but the newest is sealed; one a crash left rolled but unrecorded gets sealed now.
    for (const name of live.slice(0, -1)) {
      if (records.has(name)) continue;
      const rec = await this.sealFile(name, parseSegmentName(name)!);
      this.manifest.segments.push(rec);
      records.set(name, rec);
      report.sealedOnOpen.push(name);
    }
    if (report.sealedOnOpen.length) {
      this.sortManifest();
      await this.persistManifest();
    }

    for (const name of live) {
      const rec = records.get(name);
      if (!rec) continue;
      const offsets = await this.loadSealedIndex(rec);
      if (!offsets) {
        report.indexRebuilt.push(name);
        this.sealedOffsets.set(name, await this.rebuildSegmentIndex(name));
      } else {
        this.sealedOffsets.set(name, offsets);
      }
    }

    const lastRecord = this.manifest.segments.at(-1);
    this.headState = lastRecord
      ? { seq: lastRecord.lastSeq, hash: lastRecord.lastHash, ts: lastRecord.lastTs }
      : { seq: 0, hash: GENESIS_HASH, ts: null };

    const newest = live.at(-1);
    if (newest && !records.has(newest)) {
      await this.openActive(newest, report);
    }
    this.checkContiguity();
    await this.refreshUsage();
    report.head = this.head();
    report.ms = Math.round(performance.now() - t0);
    this.openReport = report;
    if (report.tailCorruption) this.failed = report.tailCorruption;
  }

  /** Opens the newest, unsealed segment for appending, cutting a torn tail and rebuilding its index. */
  private async openActive(name: string, report: OpenReport): Promise<void> {
    const firstSeq = parseSegmentName(name)!;
    const file = path.join(this.segmentsDir, name);
    if (firstSeq !== this.headState.seq + 1) {
      throw new LogCorruptionError(
        'sequence_mismatch',
        name,
        firstSeq,
        `active segment starts at ${firstSeq} but the sealed segments end at ${this.headState.seq}`,
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

    if (offsets.length > 0) {
      const lastSeq = firstSeq + offsets.length - 1;
      const lastLine = buf.subarray(offsets.at(-1)!, keep - 1).toString('utf8');
      const parsed = parseLine(lastLine);
      // A complete line that does not verify is damage to an acknowledged entry, not a torn write:
      // it is kept as evidence and the log refuses to build on it.
      if (!parsed.ok) {
        report.tailCorruption = new LogCorruptionError('unparsable_line', name, lastSeq, parsed.problem);
        this.headState = { seq: lastSeq, hash: GENESIS_HASH, ts: null };
      } else {
        this.headState = { seq: lastSeq, hash: parsed.entry.hash, ts: parsed.entry.ts };
        if (parsed.entry.seq !== lastSeq) {
          report.tailCorruption = new LogCorruptionError('sequence_mismatch', name, lastSeq, `line holds seq ${parsed.entry.seq}`);
        } else if (computeHash(parsed.entry) !== parsed.entry.hash) {
          report.tailCorruption = new LogCorruptionError('hash_mismatch', name, lastSeq, 'newest entry does not match its hash');
        }
      }
    }
    const handle = await fsp.open(file, 'a');
    this.active = { name, firstSeq, handle, size: keep, offsets };
    // The active index is only a convenience copy; open always rebuilds it from the segment.
    await fsp.writeFile(path.join(this.indexDir, indexName(name)), encodeIndex(offsets));
  }

  /**
   * Loads a sealed segment's index and checks it against the manifest and the segment: right
   * length, first offset 0, increasing, and the last offset pointing at the line of the last seq.
   * Returns undefined when any of that fails.
   */
  private async loadSealedIndex(rec: SegmentRecord): Promise<number[] | undefined> {
    const buf = await readIfExists(path.join(this.indexDir, indexName(rec.name)));
    if (!buf || buf.length !== rec.count * INDEX_RECORD_BYTES) return undefined;
    const offsets = decodeIndex(buf);
    if (offsets[0] !== 0) return undefined;
    for (let i = 1; i < offsets.length; i++) if (offsets[i]! <= offsets[i - 1]!) return undefined;
    const last = offsets.at(-1)!;
    if (last >= rec.bytes) return undefined;
    const h = await fsp.open(path.join(this.segmentsDir, rec.name), 'r');
    try {
      const len = rec.bytes - last;
      const { buffer } = await h.read(Buffer.alloc(len), 0, len, last);
      const parsed = parseLine(buffer.toString('utf8').replace(/\n$/, ''));
      if (!parsed.ok || parsed.entry.seq !== rec.lastSeq) return undefined;
    } finally {
      await h.close();
    }
    return offsets;
  }

  private async rebuildSegmentIndex(name: string): Promise<number[]> {
    const buf = await fsp.readFile(path.join(this.segmentsDir, name));
    const { offsets } = scanLines(buf);
    // Idempotent: the index is a pure function of the segment, so rewriting it changes nothing else.
    await writeFileAtomic(path.join(this.indexDir, indexName(name)), encodeIndex(offsets));
    return offsets;
  }

  /** Makes the segment read-only and describes it for the manifest. */
  private async sealFile(name: string, firstSeq: number): Promise<SegmentRecord> {
    const file = path.join(this.segmentsDir, name);
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
    await fsp.writeFile(path.join(this.indexDir, indexName(name)), encodeIndex(offsets));
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
      sealedAt: this.now().toISOString(),
    };
  }

  private checkContiguity(): void {
    let expected = 1;
    for (const rec of this.manifest.segments) {
      if (rec.firstSeq !== expected) {
        throw new LogCorruptionError('sequence_mismatch', rec.name, rec.firstSeq, `expected a segment starting at ${expected}`);
      }
      expected = rec.lastSeq + 1;
    }
    if (this.active && this.active.firstSeq !== expected) {
      throw new LogCorruptionError('sequence_mismatch', this.active.name, this.active.firstSeq, `expected ${expected}`);
    }
  }

  // ---------------------------------------------------------------- append

  /**
   * Appends one entry and resolves once it is on disk (fsynced). Concurrent calls are serialised in
   * call order; those that arrive while a write is in flight are written and fsynced together
   * (group commit), which is why many concurrent appends cost little more than one.
   *
   * @param kind what happened, a non-empty string of at most 200 characters
   * @param data any JSON value; stored in canonical form (sorted keys)
   * @throws LogInvalidEntryError, LogEntryTooLargeError, LogQuotaExceededError, LogClosedError,
   *   LogWriteFailedError, or the LogCorruptionError that made the log refuse appends
   */
  append(kind: string, data: unknown = null): Promise<AppendResult> {
    try {
      if (this.closed) throw new LogClosedError(this.dir);
      if (this.failed) throw this.failed;
      const { dataCanonical } = this.prepareEntry(kind, data);
      return new Promise<AppendResult>((resolve, reject) => {
        this.pending.push({ kind, dataCanonical, resolve, reject });
        this.committing ??= this.commitLoop();
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Checks an entry before it is queued; throws what `append` and `appendBatch` refuse it with. */
  private prepareEntry(kind: string, data: unknown): { kind: string; dataCanonical: string } {
    if (typeof kind !== 'string' || kind.length === 0 || kind.length > 200) {
      throw new LogInvalidEntryError('kind', 'expected a non-empty string of at most 200 characters');
    }
    const dataCanonical = canonicalJson(toJsonValue(data));
    // Early refusal on the payload alone; the exact line size is checked once seq and ts are known.
    const dataBytes = Buffer.byteLength(dataCanonical);
    if (dataBytes > this.maxEntryBytes) throw new LogEntryTooLargeError(dataBytes, this.maxEntryBytes);
    return { kind, dataCanonical };
  }

  /**
   * Appends several entries, in order and contiguous (no other append lands between them), written
   * and fsynced together: one fsync for the batch unless it crosses a segment boundary. All are
   * validated before any is queued, so an invalid entry appends nothing. If one is refused at
   * commit time (quota, size), it and every entry after it are refused: what lands is always a
   * prefix of the batch, in order.
   *
   * @returns one result per entry, in order
   * @throws as {@link append}; LogInvalidArgumentError for an empty batch or one larger than
   *   `maxBatchEntries`
   */
  appendBatch(entries: ReadonlyArray<{ kind: string; data?: unknown }>): Promise<AppendResult[]> {
    try {
      if (this.closed) throw new LogClosedError(this.dir);
      if (this.failed) throw this.failed;
      if (!Array.isArray(entries) || entries.length === 0 || entries.length > this.maxBatchEntries) {
        throw new LogInvalidArgumentError('entries', `expected 1 to ${this.maxBatchEntries} entries`);
      }
      const prepared = entries.map(({ kind, data }) => this.prepareEntry(kind, data ?? null));
      const group = { refused: null as unknown };
      const results = prepared.map(
        ({ kind, dataCanonical }) =>
          new Promise<AppendResult>((resolve, reject) => {
            this.pending.push({ kind, dataCanonical, resolve, reject, group });
          }),
      );
      this.committing ??= this.commitLoop();
      // Settled only once every entry is: a refusal must not answer before the prefix before it
      // is on disk (a caller that retries would not find it yet, and append it again).
      return Promise.allSettled(results).then((settled) => {
        const refused = settled.find((r) => r.status === 'rejected');
        if (refused) throw refused.reason;
        return settled.map((r) => (r as PromiseFulfilledResult<AppendResult>).value);
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async commitLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        let take = Math.min(this.maxBatchEntries, this.pending.length);
        // Never split an appendBatch across two commits (it would interleave with nothing, but
        // would cost a second fsync and could be refused in part by a later commit).
        const last = this.pending[take - 1]?.group;
        while (last && take < this.pending.length && this.pending[take]!.group === last) take++;
        const batch = this.pending.splice(0, take);
        // commitBatch settles every item itself; this only catches the unforeseen, so no caller hangs.
        await this.writeLock.run(() => this.commitBatch(batch)).catch((err: unknown) => {
          for (const item of batch) item.reject(err);
        });
      }
    } finally {
      this.committing = null;
    }
  }

  private async commitBatch(batch: PendingAppend[]): Promise<void> {
    if (this.failed) {
      for (const item of batch) item.reject(this.failed);
      return;
    }
    const parts: PlannedPart[] = [];
    let seq = this.headState.seq;
    let prev = this.headState.hash;
    let size = this.active?.size ?? 0;
    let used = this.usedBytes;
    const ts = this.now().toISOString();
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
      const cost = line.length + INDEX_RECORD_BYTES;
      if (line.length > this.maxEntryBytes) {
        refuse(item, new LogEntryTooLargeError(line.length, this.maxEntryBytes));
        continue;
      }
      if (this.quotaBytes !== null && used + cost > this.quotaBytes) {
        // Rejected before it has a seq, so the chain stays dense.
        refuse(item, new LogQuotaExceededError(used, this.quotaBytes, cost));
        continue;
      }
      const roll = size > 0 && size + line.length > this.segmentBytes;
      if (roll || parts.length === 0) parts.push({ rollFirst: roll, entries: [] });
      if (roll) size = 0;
      parts.at(-1)!.entries.push({ item, seq: s, ts, hash, line });
      size += line.length;
      used += cost;
      seq = s;
      prev = hash;
    }

    for (let i = 0; i < parts.length; i++) {
      try {
        await this.writePart(parts[i]!);
      } catch (err) {
        for (const p of parts.slice(i)) for (const e of p.entries) e.item.reject(err);
        return;
      }
    }
  }

  private async writePart(part: PlannedPart): Promise<void> {
    if (part.entries.length === 0) return;
    if (part.rollFirst || !this.active) await this.roll(part.entries[0]!.seq);
    const active = this.active!;
    const buf = part.entries.length === 1 ? part.entries[0]!.line : Buffer.concat(part.entries.map((e) => e.line));
    try {
      await active.handle.write(buf, 0, buf.length);
    } catch (err) {
      // A short or failed write (ENOSPC) left at most a partial tail; cut it so the next append
      // starts on a line boundary. If even that fails, stop accepting writes.
      try {
        await active.handle.truncate(active.size);
      } catch {
        this.failed = new LogWriteFailedError(active.name, 'write', { cause: err });
      }
      throw new LogWriteFailedError(active.name, 'write', { cause: err });
    }
    try {
      await active.handle.datasync();
    } catch (err) {
      this.failed = new LogWriteFailedError(active.name, 'fsync', { cause: err });
      throw this.failed;
    }
    // Durable from here on: only now does the entry count as appended.
    let offset = active.size;
    for (const e of part.entries) {
      active.offsets.push(offset);
      offset += e.line.length;
    }
    active.size = offset;
    this.usedBytes += buf.length + part.entries.length * INDEX_RECORD_BYTES;
    const last = part.entries.at(-1)!;
    this.headState = { seq: last.seq, hash: last.hash, ts: last.ts };
    for (const e of part.entries) e.item.resolve({ seq: e.seq, hash: e.hash, ts: e.ts });
  }

  /**
   * Seals the active segment (read-only, index written, checksum recorded in the manifest) and
   * starts a new one at `nextSeq`. Crash-safe at every step: open finishes a half-done roll.
   */
  private async roll(nextSeq: number): Promise<void> {
    const old = this.active;
    if (old && old.offsets.length > 0) {
      try {
        await old.handle.close();
        const rec = await this.sealFile(old.name, old.firstSeq);
        // Switched in one synchronous step so a concurrent read finds the segment as active or as
        // sealed, never as neither.
        this.sealedOffsets.set(old.name, old.offsets);
        this.manifest.segments.push(rec);
        this.active = null;
        await this.persistManifest();
      } catch (err) {
        this.active = null;
        this.failed = new LogWriteFailedError(old.name, 'seal', { cause: err });
        throw this.failed;
      }
    } else if (old) {
      return; // An empty active segment is reused rather than rolled.
    }
    const name = segmentName(nextSeq);
    try {
      const handle = await fsp.open(path.join(this.segmentsDir, name), 'a');
      await fsyncDir(this.segmentsDir);
      this.active = { name, firstSeq: nextSeq, handle, size: 0, offsets: [] };
    } catch (err) {
      this.failed = new LogWriteFailedError(name, 'create', { cause: err });
      throw this.failed;
    }
    await this.refreshUsage();
  }

  // ---------------------------------------------------------------- read

  /** The newest entry's seq, hash and time; seq 0 and the genesis hash when empty. */
  head(): LogHead {
    return { ...this.headState };
  }

  /** False once appends are refused (closed, failed write, or a corrupt newest entry); `reason` says why. */
  writable(): { ok: boolean; reason: string | null } {
    if (this.closed) return { ok: false, reason: 'closed' };
    if (this.failed) return { ok: false, reason: this.failed.message };
    return { ok: true, reason: null };
  }

  /**
   * Reads up to `limit` entries starting at `fromSeq`, in order. When `fromSeq` falls among entries
   * deleted by {@link cleanupArchives}, reading starts at the oldest that remain. Does not check
   * hashes; that is {@link verify}'s job.
   *
   * @throws LogCorruptionError when a line in the range is unreadable
   */
  async read(fromSeq: number, limit = 100): Promise<LogEntry[]> {
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) throw new LogInvalidArgumentError('fromSeq', 'expected an integer ≥ 1');
    if (!Number.isSafeInteger(limit) || limit < 0) throw new LogInvalidArgumentError('limit', 'expected an integer ≥ 0');
    const out: LogEntry[] = [];
    // Deleted entries are skipped, not counted: a reader asking from 1 gets the oldest that remain.
    fromSeq = Math.max(fromSeq, (this.manifest.segments.filter((r) => r.removedAt).at(-1)?.lastSeq ?? 0) + 1);
    const toSeq = Math.min(this.headState.seq, fromSeq + limit - 1);
    for (let attempt = 0; ; attempt++) {
      out.length = 0;
      try {
        for (const seg of this.sources(this.headState.seq)) {
          if (seg.lastSeq < fromSeq || seg.firstSeq > toSeq || seg.kind === 'removed') continue;
          const from = Math.max(fromSeq, seg.firstSeq);
          const to = Math.min(toSeq, seg.lastSeq);
          out.push(...(await this.readFromSegment(seg, from, to)));
        }
        return out;
      } catch (err) {
        // An archive running alongside may have just moved the segment; another look finds it.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 2) throw err;
      }
    }
  }

  /** The newest `n` entries, oldest first. */
  async tail(n: number): Promise<LogEntry[]> {
    const head = this.headState.seq;
    if (head === 0 || n <= 0) return [];
    const from = Math.max(1, head - n + 1);
    return this.read(from, head - from + 1);
  }

  private async readFromSegment(seg: SegmentSource, from: number, to: number): Promise<LogEntry[]> {
    let bytes: Buffer;
    let offsets: readonly number[];
    let base = 0;
    if (seg.kind === 'archived') {
      bytes = await gunzip(await fsp.readFile(path.join(this.archiveDir, seg.record.archive!.file)));
      offsets = scanLines(bytes).offsets;
    } else {
      // Looked up now, not when the range was planned: a roll may have sealed the active segment since.
      const isActive = this.active?.name === seg.name;
      const known = isActive ? this.active!.offsets : this.sealedOffsets.get(seg.name);
      const record = this.manifest.segments.find((r) => r.name === seg.name);
      if (!known || (!isActive && !record)) throw retryRead(seg.name);
      offsets = known;
      const end = isActive ? this.active!.size : record!.bytes;
      const start = offsets[from - seg.firstSeq]!;
      const stop = to - seg.firstSeq + 1 < offsets.length ? offsets[to - seg.firstSeq + 1]! : end;
      const h = await fsp.open(path.join(this.segmentsDir, seg.name), 'r');
      try {
        bytes = (await h.read(Buffer.alloc(stop - start), 0, stop - start, start)).buffer;
      } finally {
        await h.close();
      }
      base = start;
    }
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

  /** Every segment in seq order, up to `headSeq`: manifest records, then the active one. */
  private sources(headSeq: number): SegmentSource[] {
    const out: SegmentSource[] = this.manifest.segments.map((record) => ({
      kind: record.removedAt ? 'removed' : record.archive ? 'archived' : 'sealed',
      name: record.name,
      firstSeq: record.firstSeq,
      lastSeq: record.lastSeq,
      record,
    }));
    if (this.active && this.active.offsets.length > 0) {
      out.push({ kind: 'active', name: this.active.name, firstSeq: this.active.firstSeq, lastSeq: headSeq });
    }
    return out;
  }

  // ---------------------------------------------------------------- verify

  /**
   * Checks the chain: every entry's hash and link, seqs dense, each sealed or archived segment's
   * SHA-256 against the manifest, and the links between segments (anchored on the manifest's record
   * of a deleted archive). A failure is returned, not thrown: the first bad seq, its segment, why.
   *
   * - `{ full: true }`: every segment.
   * - `{ from: n }`: the segment holding `n` and everything after it.
   * - `{}` (incremental): from the segment holding the checkpoint's seq, whose hash must still be the
   *   one verified; the whole active segment; and any older segment file whose size or mtime changed
   *   since it last verified. Falls back to full without a checkpoint.
   *
   * On success with `full` or incremental, the checkpoint advances to the head it verified.
   */
  verify(options: VerifyOptions = {}): Promise<VerifyResult> {
    return this.maintenanceLock.run(() => this.verifyLocked(options));
  }

  private async verifyLocked(options: VerifyOptions): Promise<VerifyResult> {
    const t0 = performance.now();
    const head = this.head();
    // Entries appended while this runs are not read: the active segment is cut at its size now.
    const activeSize = this.active?.size ?? 0;
    const sources = this.sources(head.seq);
    const cp = this.checkpoint;
    const mode: VerifyResult['mode'] = options.full ? 'full' : options.from !== undefined ? 'from' : cp ? 'incremental' : 'full';
    let startSeq = mode === 'from' ? options.from! : mode === 'incremental' ? cp!.seq : 1;
    if (mode === 'from' && (!Number.isSafeInteger(startSeq) || startSeq < 1)) {
      throw new LogInvalidArgumentError('from', 'expected an integer ≥ 1');
    }
    const result: VerifyResult = { ok: true, mode, checked: 0, segments: 0, fromSeq: 0, toSeq: head.seq, prunedThroughSeq: 0, ms: 0 };
    const fail = (failure: VerifyFailure): VerifyResult => {
      result.ok = false;
      result.failure = failure;
      result.ms = Math.round(performance.now() - t0);
      return result;
    };

    if (mode === 'incremental' && cp!.seq > head.seq) {
      return fail({
        reason: 'sequence_mismatch',
        seq: head.seq + 1,
        segment: this.active?.name ?? sources.at(-1)?.name ?? '',
        detail: `log ends at ${head.seq} but seq ${cp!.seq} was verified before: entries were lost`,
      });
    }
    if (mode === 'incremental' && this.active && this.active.offsets.length > 0) startSeq = Math.min(startSeq, this.active.firstSeq);

    const fingerprints: Record<string, Fingerprint> = {};
    let prevHash = GENESIS_HASH;
    let prevName = '(genesis)';
    for (const seg of sources) {
      if (seg.kind === 'removed') {
        result.prunedThroughSeq = seg.lastSeq;
        prevHash = seg.record.lastHash;
        prevName = seg.name;
        continue;
      }
      const rec = seg.kind === 'active' ? undefined : seg.record;
      const file = seg.kind === 'archived' ? path.join(this.archiveDir, rec!.archive!.file) : path.join(this.segmentsDir, seg.name);
      const shownName = seg.kind === 'archived' ? rec!.archive!.file : seg.name;
      if (rec && rec.firstPrevHash !== prevHash) {
        return fail({ reason: 'broken_link', seq: seg.firstSeq, segment: shownName, detail: `segment links to ${rec.firstPrevHash.slice(0, 12)}… but ${prevName} ends with ${prevHash.slice(0, 12)}…` });
      }
      let stat: Fingerprint | undefined;
      try {
        const st = await fsp.stat(file);
        stat = { size: st.size, mtimeMs: st.mtimeMs };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (!stat) return fail({ reason: 'missing_segment', seq: seg.firstSeq, segment: shownName, detail: `${file} is missing` });

      const inRange = seg.lastSeq >= startSeq;
      const known = cp?.files[shownName];
      const changed = !known || known.size !== stat.size || known.mtimeMs !== stat.mtimeMs;
      if (!inRange && !(mode === 'incremental' && changed) && mode !== 'full') {
        if (rec) fingerprints[shownName] = known ?? stat;
        prevHash = rec ? rec.lastHash : prevHash;
        prevName = seg.name;
        continue;
      }

      let bytes = await fsp.readFile(file);
      if (seg.kind === 'archived') {
        if (sha256Hex(bytes) !== rec!.archive!.sha256) {
          return fail({ reason: 'segment_checksum_mismatch', seq: seg.firstSeq, segment: shownName, detail: 'archive SHA-256 differs from the manifest' });
        }
        try {
          bytes = await gunzip(bytes);
        } catch (err) {
          return fail({ reason: 'segment_checksum_mismatch', seq: seg.firstSeq, segment: shownName, detail: `archive does not decompress: ${(err as Error).message}` });
        }
      } else if (seg.kind === 'active') {
        bytes = bytes.subarray(0, activeSize);
      }
      const check = this.checkSegment({
        bytes,
        name: shownName,
        firstSeq: seg.firstSeq,
        expectedPrevHash: prevHash,
        expectedLastSeq: seg.lastSeq,
        expectedLastHash: rec?.lastHash,
        expectedSha256: rec?.sha256,
      });
      result.segments++;
      result.checked += check.checked;
      if (!check.ok) return fail(check.failure);
      if (mode === 'incremental' && cp && cp.seq >= seg.firstSeq && cp.seq <= seg.lastSeq) {
        const cpEntry = this.entryHashIn(bytes, seg.firstSeq, cp.seq);
        if (cpEntry !== cp.hash) {
          return fail({ reason: 'broken_link', seq: cp.seq, segment: shownName, detail: 'entry differs from the one the checkpoint verified' });
        }
      }
      if (result.fromSeq === 0) result.fromSeq = seg.firstSeq;
      if (rec) fingerprints[shownName] = stat;
      prevHash = check.lastHash;
      prevName = seg.name;
    }
    if (result.segments > 0 && head.seq > 0 && prevHash !== head.hash) {
      return fail({ reason: 'broken_link', seq: head.seq, segment: prevName, detail: 'chain does not end at the head hash' });
    }
    if (result.fromSeq === 0) result.fromSeq = Math.min(startSeq, head.seq);
    if (mode !== 'from') {
      this.checkpoint = { seq: head.seq, hash: head.hash, verifiedAt: this.now().toISOString(), files: fingerprints };
      // Idempotent: a whole-file replacement with what was just proven; rerunning writes the same facts.
      await writeFileAtomic(this.checkpointPath, JSON.stringify(this.checkpoint));
    }
    result.ms = Math.round(performance.now() - t0);
    return result;
  }

  private entryHashIn(bytes: Buffer, firstSeq: number, seq: number): string | undefined {
    const { offsets } = scanLines(bytes);
    const i = seq - firstSeq;
    const a = offsets[i];
    if (a === undefined) return undefined;
    const parsed = parseLine(bytes.subarray(a, offsets[i + 1] ?? bytes.length).toString('utf8').trimEnd());
    return parsed.ok ? parsed.entry.hash : undefined;
  }

  /** Checks one segment's bytes. Entry-level failures come first because they pinpoint a seq. */
  private checkSegment(c: SegmentCheck): SegmentCheckResult {
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

  // ---------------------------------------------------------------- maintenance

  /**
   * Rewrites every index from its segment (the active one included). Safe at any time; appends wait
   * while it runs.
   */
  rebuildIndex(): Promise<RebuildIndexResult> {
    return this.writeLock.run(async () => {
      const t0 = performance.now();
      let entries = 0;
      let segments = 0;
      for (const [name] of this.sealedOffsets) {
        const offsets = await this.rebuildSegmentIndex(name);
        this.sealedOffsets.set(name, offsets);
        entries += offsets.length;
        segments++;
      }
      if (this.active) {
        const buf = await fsp.readFile(path.join(this.segmentsDir, this.active.name));
        const { offsets } = scanLines(buf.subarray(0, this.active.size));
        this.active.offsets = offsets;
        await writeFileAtomic(path.join(this.indexDir, indexName(this.active.name)), encodeIndex(offsets));
        entries += offsets.length;
        segments++;
      }
      return { segments, entries, ms: Math.round(performance.now() - t0) };
    });
  }

  /**
   * Gzips every sealed segment except the newest `keep`: write the archive, fsync, read it back and
   * check it decompresses to the recorded SHA-256, record it in the manifest, then remove the
   * original. A crash at any point leaves either the original or a verified, recorded archive.
   *
   * @param options.keep sealed segments left uncompressed (@default 1)
   * @throws LogCorruptionError when a segment to archive no longer matches its checksum (it is kept)
   * @throws LogArchiveError when the written archive does not read back correctly
   */
  archiveSealed(options: { keep?: number } = {}): Promise<ArchiveResult> {
    const keep = options.keep ?? 1;
    if (!Number.isSafeInteger(keep) || keep < 0) throw new LogInvalidArgumentError('keep', 'expected an integer ≥ 0');
    return this.maintenanceLock.run(async () => {
      const t0 = performance.now();
      const sealed = this.manifest.segments.filter((r) => !r.archive && !r.removedAt);
      const result: ArchiveResult = { archived: [], bytesIn: 0, bytesOut: 0, ms: 0 };
      for (const rec of sealed.slice(0, Math.max(0, sealed.length - keep))) {
        const src = path.join(this.segmentsDir, rec.name);
        const raw = await fsp.readFile(src);
        if (sha256Hex(raw) !== rec.sha256) {
          throw new LogCorruptionError('segment_checksum_mismatch', rec.name, rec.firstSeq, 'refusing to archive a segment that fails its checksum');
        }
        const gz = await gzip(raw, { level: 6 });
        const file = archiveName(rec.name);
        const dst = path.join(this.archiveDir, file);
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
        await this.writeLock.run(async () => {
          rec.archive = { file, bytes: back.length, sha256: sha256Hex(back), archivedAt: this.now().toISOString() };
          await this.persistManifest();
          this.sealedOffsets.delete(rec.name);
        });
        // Idempotent: the manifest already names the archive; open removes an original a crash left here.
        await unlinkIfExists(src);
        await unlinkIfExists(path.join(this.indexDir, indexName(rec.name)));
        result.archived.push(rec.name);
        result.bytesIn += raw.length;
        result.bytesOut += back.length;
      }
      if (result.archived.length) await fsyncDir(this.segmentsDir);
      await this.refreshUsage();
      result.ms = Math.round(performance.now() - t0);
      return result;
    });
  }

  /**
   * Deletes the oldest archives: beyond the newest `maxArchives`, and those whose newest entry is
   * older than `maxAgeMs`. Only archived segments are ever deleted. Their manifest records stay,
   * marked removed, so verification still anchors the remaining chain on their last hash.
   */
  cleanupArchives(options: CleanupOptions): Promise<CleanupResult> {
    const { maxArchives, maxAgeMs } = options;
    if (maxArchives === undefined && maxAgeMs === undefined) {
      throw new LogInvalidArgumentError('options', 'give maxArchives or maxAgeMs');
    }
    if (maxArchives !== undefined && (!Number.isSafeInteger(maxArchives) || maxArchives < 0)) {
      throw new LogInvalidArgumentError('maxArchives', 'expected an integer ≥ 0');
    }
    if (maxAgeMs !== undefined && !(maxAgeMs >= 0)) throw new LogInvalidArgumentError('maxAgeMs', 'expected a number ≥ 0');
    return this.maintenanceLock.run(async () => {
      const archived = this.manifest.segments.filter((r) => r.archive && !r.removedAt);
      const cutoff = maxAgeMs === undefined ? -Infinity : this.now().getTime() - maxAgeMs;
      const doomed = archived.filter(
        (r, i) => (maxArchives !== undefined && i < archived.length - maxArchives) || Date.parse(r.lastTs) < cutoff,
      );
      const result: CleanupResult = { removed: [], freedBytes: 0, prunedThroughSeq: 0 };
      for (const rec of doomed) {
        await this.writeLock.run(async () => {
          rec.removedAt = this.now().toISOString();
          await this.persistManifest();
        });
        // Idempotent: recorded as removed first; a crash before the unlink leaves a file open deletes.
        await unlinkIfExists(path.join(this.archiveDir, rec.archive!.file));
        result.removed.push(rec.archive!.file);
        result.freedBytes += rec.archive!.bytes;
      }
      result.prunedThroughSeq = this.manifest.segments.filter((r) => r.removedAt).at(-1)?.lastSeq ?? 0;
      if (result.removed.length) await fsyncDir(this.archiveDir);
      await this.refreshUsage();
      return result;
    });
  }

  /** Bytes the log's directory uses, against its quota. */
  async usage(): Promise<LogUsage> {
    const u = await this.measure();
    this.usedBytes = u.usedBytes;
    return u;
  }

  /** Free and total bytes of the filesystem holding the log (statfs). */
  async diskFree(): Promise<DiskFree> {
    const s = await fsp.statfs(this.dir);
    return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
  }

  /**
   * Waits for queued appends to finish, closes the active segment and releases the lock. Appends
   * made after close starts fail with LogClosedError. Calling it again is a no-op.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.committing) await this.committing;
    await this.maintenanceLock.run(async () => undefined);
    await this.writeLock.run(async () => {
      if (this.active) {
        await fsp
          .writeFile(path.join(this.indexDir, indexName(this.active.name)), encodeIndex(this.active.offsets))
          .catch(() => undefined);
        await this.active.handle.close();
        this.active = null;
      }
    });
    await this.releaseLock?.();
    this.releaseLock = null;
  }

  // ---------------------------------------------------------------- internals

  private get manifestPath(): string {
    return path.join(this.dir, 'manifest.json');
  }

  private get checkpointPath(): string {
    return path.join(this.dir, 'checkpoint.json');
  }

  private sortManifest(): void {
    this.manifest.segments.sort((a, b) => a.firstSeq - b.firstSeq);
  }

  private async persistManifest(): Promise<void> {
    // Idempotent: the manifest is replaced whole and atomically from the in-memory copy.
    await writeFileAtomic(this.manifestPath, `${JSON.stringify(this.manifest, null, 1)}\n`);
  }

  private async refreshUsage(): Promise<void> {
    this.usedBytes = (await this.measure()).usedBytes;
  }

  private async measure(): Promise<LogUsage> {
    const sum = async (dir: string): Promise<number> => {
      let total = 0;
      for (const f of await fsp.readdir(dir, { withFileTypes: true })) {
        if (f.isFile()) total += (await fsp.stat(path.join(dir, f.name)).catch(() => ({ size: 0 }))).size;
      }
      return total;
    };
    const segmentBytes = await sum(this.segmentsDir);
    const archiveBytes = await sum(this.archiveDir);
    const indexBytes = await sum(this.indexDir);
    const otherBytes = await sum(this.dir);
    const usedBytes = segmentBytes + archiveBytes + indexBytes + otherBytes;
    const count = { active: this.active ? 1 : 0, sealed: 0, archived: 0, removed: 0 };
    for (const r of this.manifest.segments) {
      if (r.removedAt) count.removed++;
      else if (r.archive) count.archived++;
      else count.sealed++;
    }
    return {
      usedBytes,
      quotaBytes: this.quotaBytes,
      quotaFraction: this.quotaBytes === null ? null : usedBytes / this.quotaBytes,
      segmentBytes,
      archiveBytes,
      indexBytes,
      otherBytes,
      segments: count,
    };
  }
}
