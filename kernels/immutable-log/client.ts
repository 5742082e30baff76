/**
 * A typed client of the immutable-log kernel's loopback API, for the other parts of Layer 1. Uses
 * the global `fetch`; every call has a timeout.
 */
import type { CorruptionReason } from './errors';
import type { JsonValue, LogEntry } from './format';
import type {
  AppendResult,
  ArchiveResult,
  CleanupOptions,
  CleanupResult,
  DiskFree,
  LogHead,
  LogUsage,
  RebuildIndexResult,
  VerifyOptions,
  VerifyResult,
} from './log';
import type { ReadinessReport } from './readiness';

/** The server answered with an error. `remoteName` is the log's error class (`LogQuotaExceededError`, ...). */
export class ImmutableLogRequestError extends Error {
  override name = 'ImmutableLogRequestError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly remoteName: string,
    /** The typed fields the server sent with the error (for example `usedBytes`, `quotaBytes`). */
    readonly details: Record<string, unknown>,
  ) {
    super(`${method} ${path} → ${status} ${remoteName}: ${String(details.message ?? '')}`);
  }
}

/** No answer within the timeout. The request may still have been applied (an append, say). */
export class ImmutableLogTimeoutError extends Error {
  override name = 'ImmutableLogTimeoutError';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`${method} ${path}: no answer within ${timeoutMs} ms`, options);
  }
}

/** The server could not be reached (refused, reset). */
export class ImmutableLogUnreachableError extends Error {
  override name = 'ImmutableLogUnreachableError';
  constructor(
    readonly baseUrl: string,
    options?: { cause?: unknown },
  ) {
    super(`immutable log at ${baseUrl} is unreachable`, options);
  }
}

export interface ImmutableLogClientOptions {
  /** For example `http://127.0.0.1:4700`. */
  baseUrl: string;
  /** Per-request timeout. @default 5000 */
  timeoutMs?: number;
}

export interface EntriesPage {
  entries: LogEntry[];
  head: LogHead;
}

export interface Healthz {
  ok: boolean;
  pid: number;
  uptimeMs: number;
  writable: boolean;
}

/** Mirrors the HTTP API one method per route. */
export class ImmutableLogClient {
  readonly baseUrl: string;
  readonly timeoutMs: number;

  constructor(options: ImmutableLogClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /** `POST /append`: resolves once the entry is fsynced on the server. */
  append(kind: string, data: JsonValue = null): Promise<AppendResult> {
    return this.call('POST', '/append', { kind, data });
  }

  /**
   * `POST /append-batch`: appends the entries in order, contiguously, with one fsync; resolves with
   * one result per entry once all are on disk. On an error, a prefix of them may have landed.
   */
  appendBatch(entries: ReadonlyArray<{ kind: string; data?: JsonValue }>): Promise<{ entries: AppendResult[] }> {
    return this.call('POST', '/append-batch', { entries: entries.map(({ kind, data }) => ({ kind, data: data ?? null })) });
  }

  /** `GET /entries`: up to `limit` (≤ 1000) entries from `from`. */
  entries(from = 1, limit = 100): Promise<EntriesPage> {
    return this.call('GET', `/entries?from=${from}&limit=${limit}`);
  }

  /** `GET /tail`: the newest `n` entries. */
  tail(n = 10): Promise<EntriesPage> {
    return this.call('GET', `/tail?n=${n}`);
  }

  /** `GET /head`. */
  head(): Promise<LogHead> {
    return this.call('GET', '/head');
  }

  /** `POST /verify`: incremental by default; `{ full: true }` for everything. */
  verify(options: VerifyOptions = {}, timeoutMs?: number): Promise<VerifyResult> {
    return this.call('POST', '/verify', options, timeoutMs);
  }

  /**
   * `GET /ready`: the readiness self-test. Answers the report whether ready or not (the server
   * says 503 when not ready; that is a result here, not an error).
   */
  ready(minFreeMb?: number): Promise<ReadinessReport> {
    return this.call('GET', `/ready${minFreeMb !== undefined ? `?minFreeMb=${minFreeMb}` : ''}`, undefined, undefined, [503]);
  }

  /** `GET /healthz`: cheap liveness. */
  healthz(): Promise<Healthz> {
    return this.call('GET', '/healthz');
  }

  /** `GET /usage`. */
  usage(): Promise<{ usage: LogUsage; disk: DiskFree }> {
    return this.call('GET', '/usage');
  }

  /** `POST /rebuild-index`. */
  rebuildIndex(): Promise<RebuildIndexResult> {
    return this.call('POST', '/rebuild-index', {});
  }

  /** `POST /archive`. */
  archive(keep?: number): Promise<ArchiveResult> {
    return this.call('POST', '/archive', keep !== undefined ? { keep } : {});
  }

  /** `POST /cleanup`. */
  cleanup(options: CleanupOptions): Promise<CleanupResult> {
    return this.call('POST', '/cleanup', options);
  }

  private async call<T>(method: string, path: string, body?: unknown, timeoutMs = this.timeoutMs, okStatuses: number[] = []): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        signal: AbortSignal.timeout(timeoutMs),
        ...(body !== undefined ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {}),
      });
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError') throw new ImmutableLogTimeoutError(method, path, timeoutMs, { cause: err });
      throw new ImmutableLogUnreachableError(this.baseUrl, { cause: err });
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') throw new ImmutableLogTimeoutError(method, path, timeoutMs, { cause: err });
      throw new ImmutableLogRequestError(method, path, res.status, 'InvalidResponse', { message: 'response is not JSON' });
    }
    if (res.ok || okStatuses.includes(res.status)) return json as T;
    const error = ((json as { error?: Record<string, unknown> }).error ?? {}) as Record<string, unknown>;
    throw new ImmutableLogRequestError(method, path, res.status, String(error.name ?? 'Error'), error);
  }
}

export type { CorruptionReason };
