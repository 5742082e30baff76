/**
 * One error class per way the immutable log can fail. Each sets `name` (so it survives JSON and the
 * HTTP API as a stable discriminator), forwards `cause`, and carries the typed fields a caller needs
 * to act without parsing the message.
 */

/** Why a stretch of the log failed verification. */
export type CorruptionReason =
  /** The stored hash differs from the SHA-256 recomputed over the entry's canonical encoding. */
  | 'hash_mismatch'
  /** The entry's `prevHash` differs from the hash of the entry before it (or the recorded anchor). */
  | 'broken_link'
  /** A line is not JSON or lacks a field of an entry. */
  | 'unparsable_line'
  /** The sequence number is not the one the position in the chain implies (gap, duplicate, missing tail). */
  | 'sequence_mismatch'
  /** A sealed or archived segment's SHA-256 differs from the one recorded in the manifest. */
  | 'segment_checksum_mismatch'
  /** A segment the manifest lists is not on disk. */
  | 'missing_segment';

/** Base class, so callers can catch every log failure at once. */
export class ImmutableLogError extends Error {
  override name = 'ImmutableLogError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }

  /** The typed fields, for the HTTP API: everything but message, stack and cause. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, message: this.message };
    for (const [k, v] of Object.entries(this)) {
      if (k !== 'name' && k !== 'cause' && k !== 'stack') out[k] = v;
    }
    return out;
  }
}

/** Stored bytes do not form a valid chain; `seq` and `segment` point at the first bad spot. */
export class LogCorruptionError extends ImmutableLogError {
  override name = 'LogCorruptionError';
  constructor(
    readonly reason: CorruptionReason,
    readonly segment: string,
    readonly seq: number | null,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`log corrupt at ${seq === null ? '?' : `seq ${seq}`} in ${segment}: ${reason}: ${detail}`, options);
  }
}

/** The append would take the log's directory beyond its size quota. Archive or clean up, then retry. */
export class LogQuotaExceededError extends ImmutableLogError {
  override name = 'LogQuotaExceededError';
  constructor(
    readonly usedBytes: number,
    readonly quotaBytes: number,
    readonly requestedBytes: number,
  ) {
    super(`log quota exceeded: ${usedBytes} B used + ${requestedBytes} B requested > ${quotaBytes} B quota`);
  }
}

/** The entry's `kind` or `data` cannot be stored (not JSON, empty kind, ...). */
export class LogInvalidEntryError extends ImmutableLogError {
  override name = 'LogInvalidEntryError';
  constructor(
    readonly field: 'kind' | 'data',
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`invalid log entry: ${field}: ${problem}`, options);
  }
}

/** The encoded entry is larger than `maxEntryBytes`. */
export class LogEntryTooLargeError extends ImmutableLogError {
  override name = 'LogEntryTooLargeError';
  constructor(
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`log entry of ${bytes} B exceeds the ${maxBytes} B limit`);
  }
}

/** A caller passed an option the log cannot honour. */
export class LogInvalidArgumentError extends ImmutableLogError {
  override name = 'LogInvalidArgumentError';
  constructor(
    readonly argument: string,
    readonly problem: string,
  ) {
    super(`invalid argument ${argument}: ${problem}`);
  }
}

/** Another live process (or another instance in this one) holds the directory's lock. */
export class LogLockedError extends ImmutableLogError {
  override name = 'LogLockedError';
  constructor(
    readonly dir: string,
    readonly holderPid: number,
  ) {
    super(`log directory ${dir} is locked by pid ${holderPid}`);
  }
}

/** The log was closed (or is closing); nothing more is accepted. */
export class LogClosedError extends ImmutableLogError {
  override name = 'LogClosedError';
  constructor(readonly dir: string) {
    super(`log ${dir} is closed`);
  }
}

/**
 * A write or fsync failed. After a failed fsync the kernel may have dropped the dirty pages and a
 * retried fsync can report success for data that never reached the disk (PostgreSQL's "fsyncgate"),
 * so the log refuses further appends until it is reopened, which re-reads what is really on disk.
 */
export class LogWriteFailedError extends ImmutableLogError {
  override name = 'LogWriteFailedError';
  constructor(
    readonly segment: string,
    readonly operation: 'write' | 'fsync' | 'seal' | 'create',
    options?: { cause?: unknown },
  ) {
    super(`log ${operation} failed on ${segment}; appends are refused until the log is reopened`, options);
  }
}

/** Writing or checking a compressed archive failed; the original segment was kept. */
export class LogArchiveError extends ImmutableLogError {
  override name = 'LogArchiveError';
  constructor(
    readonly segment: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`archiving ${segment} failed: ${problem}`, options);
  }
}
