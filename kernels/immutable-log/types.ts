/**
 * The immutable log's data types: its options and results (public, re-exported by log.ts), and the
 * records and plans its modules pass each other (the manifest, the checkpoint, the active segment,
 * a planned commit).
 */
import type { FileHandle } from 'node:fs/promises';
import type { CorruptionReason, ImmutableLogError, LogCorruptionError } from './errors';
import type { Mutex } from './fsutil';

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

export interface Manifest {
  version: 1;
  segments: SegmentRecord[];
}

export interface Fingerprint {
  size: number;
  mtimeMs: number;
}

/**
 * The verified frontier. Every sealed or archived segment that ends at or before `seq` has been
 * verified entry by entry once and matched its manifest SHA-256; the rolling sweep re-checks them
 * by that digest. Constant size: nothing in it grows with the log's history.
 */
export interface Checkpoint {
  seq: number;
  hash: string;
  verifiedAt: string;
  /** The active segment's verified prefix: its first `bytes` bytes (ending with seq's line) hash to `sha256`. */
  active?: { name: string; bytes: number; sha256: string };
  /** First seq of the segment the rolling sweep re-checks next (0 or absent: the oldest). */
  sweepNextSeq?: number;
}

export interface ActiveSegment {
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
  /**
   * Incremental mode only: how many already-verified sealed or archived segments the rolling sweep
   * re-checks (by SHA-256) in this call. @default 1
   */
  sweepSegments?: number;
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
  /** Incremental mode: the already-verified segments the rolling sweep re-checked in this call (file names). */
  swept?: string[];
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

export interface PendingAppend {
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

export interface PlannedEntry {
  item: PendingAppend;
  seq: number;
  ts: string;
  hash: string;
  line: Buffer;
}

/** A run of planned entries that go into one segment with one write and one fsync. */
export interface PlannedPart {
  rollFirst: boolean;
  entries: PlannedEntry[];
}

export type SegmentSource =
  | { kind: 'active'; name: string; firstSeq: number; lastSeq: number }
  | { kind: 'sealed' | 'archived' | 'removed'; name: string; firstSeq: number; lastSeq: number; record: SegmentRecord };

export interface SegmentCheck {
  bytes: Buffer;
  name: string;
  firstSeq: number;
  expectedPrevHash: string;
  expectedLastSeq?: number;
  expectedLastHash?: string;
  expectedSha256?: string;
}

export type SegmentCheckResult = { ok: true; checked: number; lastHash: string } | { ok: false; checked: number; failure: VerifyFailure };

/** What the log holds in memory between calls; the modules read and update it under the locks below. */
export interface LogState {
  manifest: Manifest;
  checkpoint: Checkpoint | null;
  active: ActiveSegment | null;
  /** Line offsets of sealed, unarchived segments, by name; loaded and checked on open. */
  sealedOffsets: Map<string, number[]>;
  head: LogHead;
  usedBytes: number;
  /** The directory as last walked (open, roll, archive, cleanup) and the head then; {@link LogUsage} adds appends since. */
  measured: { usage: LogUsage; headSeq: number } | null;
  /** Set once appends are refused: a failed write, or a corrupt newest entry found on open. */
  failed: ImmutableLogError | null;
}

/** One open log as its modules see it: its directories, limits, clock, state and locks. */
export interface LogContext {
  readonly dir: string;
  readonly segmentsDir: string;
  readonly indexDir: string;
  readonly archiveDir: string;
  readonly segmentBytes: number;
  readonly quotaBytes: number | null;
  readonly maxEntryBytes: number;
  readonly now: () => Date;
  readonly state: LogState;
  /** Held while bytes are written, a segment rolls, or the manifest changes. */
  readonly writeLock: Mutex;
  /** Held by verify, archive and cleanup so none removes a file another is reading. */
  readonly maintenanceLock: Mutex;
}
