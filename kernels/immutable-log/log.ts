/**
 * The immutable log: an append-only, SHA-256 hash-chained log in segment files, with an index, a
 * manifest of sealed and archived segments, a verification checkpoint and a size quota.
 *
 * This module is the public class; its parts are modules of their own: `recovery.ts` (open),
 * `append.ts` (the write path), `segments.ts` and `segment-index.ts` (segment files and their
 * indexes), `verify.ts`, `archive.ts` (archive and cleanup), `quota.ts` (usage), `manifest.ts`
 * (manifest.json, checkpoint.json) and `types.ts`.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { LogClosedError, LogEntryTooLargeError, LogInvalidArgumentError, LogInvalidEntryError } from './errors';
import { GENESIS_HASH, canonicalJson, encodeIndex, indexName, toJsonValue, type LogEntry } from './format';
import { Mutex, acquireDirLock } from './fsutil';
import { commitBatch } from './append';
import { archiveSealed, checkCleanupOptions, cleanupArchives } from './archive';
import { currentUsage, refreshUsage } from './quota';
import { recover } from './recovery';
import { rebuildIndexes } from './segment-index';
import { readFromSegment, segmentSources } from './segments';
import { verifyChain } from './verify';
import type {
  AppendResult,
  ArchiveResult,
  CleanupOptions,
  CleanupResult,
  DiskFree,
  ImmutableLogOptions,
  LogContext,
  LogHead,
  LogUsage,
  OpenReport,
  PendingAppend,
  RebuildIndexResult,
  VerifyOptions,
  VerifyResult,
} from './types';

export type {
  AppendResult,
  ArchiveResult,
  CleanupOptions,
  CleanupResult,
  DiskFree,
  ImmutableLogOptions,
  LogHead,
  LogUsage,
  OpenReport,
  RebuildIndexResult,
  SegmentRecord,
  VerifyFailure,
  VerifyOptions,
  VerifyResult,
} from './types';

const MiB = 1024 * 1024;

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

  /** The directories, limits, clock, state and locks the modules work on. */
  private readonly ctx: LogContext;
  private pending: PendingAppend[] = [];
  private committing: Promise<void> | null = null;
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
    this.ctx = {
      dir: this.dir,
      segmentsDir: this.segmentsDir,
      indexDir: this.indexDir,
      archiveDir: this.archiveDir,
      segmentBytes: this.segmentBytes,
      quotaBytes: this.quotaBytes,
      maxEntryBytes: this.maxEntryBytes,
      now: options.now ?? (() => new Date()),
      state: {
        manifest: { version: 1, segments: [] },
        checkpoint: null,
        active: null,
        sealedOffsets: new Map(),
        head: { seq: 0, hash: GENESIS_HASH, ts: null },
        usedBytes: 0,
        measured: null,
        failed: null,
      },
      writeLock: new Mutex(),
      maintenanceLock: new Mutex(),
    };
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
      log.openReport = await recover(log.ctx);
    } catch (err) {
      await log.releaseLock();
      throw err;
    }
    return log;
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
      if (this.ctx.state.failed) throw this.ctx.state.failed;
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
      if (this.ctx.state.failed) throw this.ctx.state.failed;
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
        await this.ctx.writeLock.run(() => commitBatch(this.ctx, batch)).catch((err: unknown) => {
          for (const item of batch) item.reject(err);
        });
      }
    } finally {
      this.committing = null;
    }
  }

  // ---------------------------------------------------------------- read

  /** The newest entry's seq, hash and time; seq 0 and the genesis hash when empty. */
  head(): LogHead {
    return { ...this.ctx.state.head };
  }

  /** False once appends are refused (closed, failed write, or a corrupt newest entry); `reason` says why. */
  writable(): { ok: boolean; reason: string | null } {
    if (this.closed) return { ok: false, reason: 'closed' };
    if (this.ctx.state.failed) return { ok: false, reason: this.ctx.state.failed.message };
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
    fromSeq = Math.max(fromSeq, (this.ctx.state.manifest.segments.filter((r) => r.removedAt).at(-1)?.lastSeq ?? 0) + 1);
    const toSeq = Math.min(this.ctx.state.head.seq, fromSeq + limit - 1);
    for (let attempt = 0; ; attempt++) {
      out.length = 0;
      try {
        for (const seg of segmentSources(this.ctx.state, this.ctx.state.head.seq)) {
          if (seg.lastSeq < fromSeq || seg.firstSeq > toSeq || seg.kind === 'removed') continue;
          const from = Math.max(fromSeq, seg.firstSeq);
          const to = Math.min(toSeq, seg.lastSeq);
          out.push(...(await readFromSegment(this.ctx, seg, from, to)));
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
    const head = this.ctx.state.head.seq;
    if (head === 0 || n <= 0) return [];
    const from = Math.max(1, head - n + 1);
    return this.read(from, head - from + 1);
  }

  // ---------------------------------------------------------------- verify

  /**
   * Checks the chain: every entry's hash and link, seqs dense, each sealed or archived segment's
   * SHA-256 against the manifest, and the links between segments (anchored on the manifest's record
   * of a deleted archive). A failure is returned, not thrown: the first bad seq, its segment, why.
   *
   * - `{ full: true }`: every segment.
   * - `{ from: n }`: the segment holding `n` and everything after it.
   * - `{}` (incremental): work that does not grow with the history. Entries after the checkpoint
   *   (whose own entry must still hash as verified) are parsed and checked; a segment sealed since,
   *   once, with its manifest SHA-256; the active segment's verified part by its SHA-256 (so damage
   *   there is found at once); and a rolling sweep re-reads the next `sweepSegments` (default 1)
   *   segments verified before and compares them with their manifest SHA-256, so each of S such
   *   segments is re-read at least once every ceil(S / sweepSegments) calls. Falls back to full
   *   without a checkpoint.
   *
   * On success with `full` or incremental, the checkpoint advances to the head it verified (and
   * the sweep's cursor moves on; a failure leaves it on the damaged segment).
   */
  verify(options: VerifyOptions = {}): Promise<VerifyResult> {
    return this.ctx.maintenanceLock.run(() => verifyChain(this.ctx, options));
  }

  // ---------------------------------------------------------------- maintenance

  /**
   * Rewrites every index from its segment (the active one included). Safe at any time; appends wait
   * while it runs.
   */
  rebuildIndex(): Promise<RebuildIndexResult> {
    return this.ctx.writeLock.run(() => rebuildIndexes(this.ctx));
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
    return this.ctx.maintenanceLock.run(() => archiveSealed(this.ctx, keep));
  }

  /**
   * Deletes the oldest archives: beyond the newest `maxArchives`, and those whose newest entry is
   * older than `maxAgeMs`. Only archived segments are ever deleted. Their manifest records stay,
   * marked removed, so verification still anchors the remaining chain on their last hash.
   */
  cleanupArchives(options: CleanupOptions): Promise<CleanupResult> {
    checkCleanupOptions(options);
    return this.ctx.maintenanceLock.run(() => cleanupArchives(this.ctx, options));
  }

  /**
   * Bytes the log's directory uses, against its quota: as measured at the last open, roll, archive
   * or cleanup, plus the appends since (what the quota itself counts). Costs nothing per call.
   */
  async usage(): Promise<LogUsage> {
    const current = currentUsage(this.ctx);
    if (current) return current;
    await refreshUsage(this.ctx);
    return currentUsage(this.ctx)!;
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
    await this.ctx.maintenanceLock.run(async () => undefined);
    await this.ctx.writeLock.run(async () => {
      const { state } = this.ctx;
      if (state.active) {
        await fsp
          .writeFile(path.join(this.indexDir, indexName(state.active.name)), encodeIndex(state.active.offsets))
          .catch(() => undefined);
        await state.active.handle.close();
        state.active = null;
      }
    });
    await this.releaseLock?.();
    this.releaseLock = null;
  }
}
