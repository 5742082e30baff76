/**
 * Activities the playbook workflow needs besides the actions: the kernel lock, the run's audit
 * entries in batches, and storing the finished report. The workflow calls them as LOCAL
 * activities (`beginPlaybookRun`, `acquireKernelLock`, `flushPlaybookAudit`, `finishPlaybookRun`):
 * they run inside the worker's workflow task, so each costs the milliseconds of its own store or
 * log calls rather than a server round trip (docs/self-healing.md, "The engine's own cost").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import type { LoadedConfig } from '../src/config/load';
import { immutableLogClient } from '../kernels/registry';
import type { ImmutableLogClient } from '../kernels/immutable-log/client';
import type { JsonValue } from '../kernels/immutable-log/format';
import type { PlaybookReport } from '../contracts/playbook';
import { AUDIT_META_FIELD, idempotencyKey } from './actions';
import { kernelLocks, type AcquireResult, type LockOwner } from './kernel-locks';
import { PLAYBOOK_RUNS_COLLECTION } from '../src/clients/collections';

export interface PlaybookActivityDeps {
  config: LoadedConfig;
  db: Db;
  temporal: Client;
}


/** The run an audit entry belongs to: with the entry's key, its `data.meta` (as append_audit writes it). */
export interface AuditRun {
  workflowId: string;
  runId: string;
  playbook: string;
  kernel: string | null;
}

/** One buffered audit entry of a run. */
export interface AuditEntry {
  /** `start`, a step id, or `finish`: the entry's idempotency key is `workflowId:runId:audit:<key>`. */
  key: string;
  kind: string;
  data: Record<string, unknown>;
  /** Workflow time (ms) when it was buffered: no attempt to append it can be older. */
  at: number;
}

export interface AuditFlush {
  run: AuditRun;
  /** In the order they happened. */
  entries: AuditEntry[];
  /**
   * A log seq read before any attempt of this flush could have run (the head when the run began,
   * then what the last flush saw), or null if unknown: the search for entries an earlier attempt
   * appended stops there, instead of going back by time.
   */
  afterSeq: number | null;
}

export interface AuditFlushResult {
  /** How many of the entries this call appended (the others were already in the log). */
  appended: number;
  /**
   * The seq of the batch's last entry in the log (found or appended): the next flush's `afterSeq`.
   * Not the head: a run's end lost with a killed worker may have appended *later* entries of the same
   * run, and the replacement, whose clock is the retried task's, may first flush an earlier prefix;
   * the end's retry must still find those entries (crash bench, `audit:finish ×2`).
   */
  seq: number;
}

export interface FinishInput {
  report: PlaybookReport;
  audit: AuditFlush;
  /** The kernel whose lock the run holds, or null. */
  lock: { kernel: string; owner: LockOwner } | null;
}

export interface FinishResult {
  /** Audit entries the log did not take (recorded in the stored report too). */
  auditErrors: string[];
  seq: number | null;
}

/** A flush is the log's fsync plus a scan of the few entries since `afterSeq`: seconds mean the log is unwell. */
const AUDIT_LOG_TIMEOUT_MS = 3_000;
/** How long the run's end tries its audit entries again before listing them in `auditErrors` (within `localFinishActivity`'s 12 s). */
export const FINISH_AUDIT_WAIT_MS = 5_000;
const FINISH_AUDIT_RETRY_MS = 250;
/** The search for an earlier attempt's entries, when `afterSeq` is unknown: this far before the oldest entry. */
const AUDIT_SLACK_MS = 60_000;
const LOG_PAGE = 1_000;
const MAX_PAGES = 20;
/** Entries per `POST /append-batch` (well under the log's 1024 and 4 MiB per request). */
const BATCH = 256;

/**
 * Appends the entries that are not in the log yet, in order, with `POST /append-batch`.
 *
 * Idempotent, so a retried attempt, or the attempt re-run by the next worker after a crash (a local
 * activity's result is only kept once its workflow task completes), never appends an entry twice:
 * what is already in the log is always a *prefix* of `entries` — a run flushes one batch at a time,
 * in order; a batch lands as a prefix even when the log refuses part of it; and entries leave the
 * run's buffer only once a flush succeeded. So the scan from the head back to `afterSeq` stops at
 * the newest entry carrying one of their keys, and everything after it is appended.
 */
export async function flushAudit(log: ImmutableLogClient, { run, entries, afterSeq }: AuditFlush): Promise<AuditFlushResult> {
  const keyed = entries.map((e) => {
    const meta = { workflowId: run.workflowId, runId: run.runId, stepId: `audit:${e.key}`, playbook: run.playbook, kernel: run.kernel };
    const key = idempotencyKey(meta);
    return { key, kind: e.kind, data: JSON.parse(JSON.stringify({ ...e.data, [AUDIT_META_FIELD]: { key, ...meta } })) as JsonValue };
  });
  // Usually one read: everything since `afterSeq` (a few entries), which also tells the head.
  const first = afterSeq !== null ? await log.entries(afterSeq + 1, LOG_PAGE) : null;
  const head = first ? first.head.seq : (await log.head()).seq;
  if (keyed.length === 0) return { appended: 0, seq: afterSeq ?? head };
  const index = new Map(keyed.map((e, i) => [e.key, i]));
  const since = Math.min(...entries.map((e) => e.at)) - AUDIT_SLACK_MS;
  let present = 0;
  // Where this batch's last entry is in the log: the next flush searches from after it. Not the head:
  // entries after it may be a lost attempt's of *later* entries of this run (see AuditFlushResult.seq).
  let lastSeq: number | null = null;
  let to = head;
  search: for (let page = 0; page < MAX_PAGES && to >= 1; page++) {
    const from = Math.max(afterSeq !== null ? afterSeq + 1 : 1, to - LOG_PAGE + 1);
    if (from > to) break;
    const got = first && afterSeq !== null && from === afterSeq + 1 && to === first.head.seq ? first.entries : (await log.entries(from, to - from + 1)).entries;
    for (const e of [...got].reverse()) {
      const m = e.data !== null && typeof e.data === 'object' && !Array.isArray(e.data) ? e.data[AUDIT_META_FIELD] : undefined;
      const i = m !== null && typeof m === 'object' && !Array.isArray(m) && typeof m.key === 'string' ? index.get(m.key) : undefined;
      if (i !== undefined && keyed[i].kind === e.kind) {
        present = i + 1;
        lastSeq = e.seq;
        break search;
      }
    }
    if (got.length === 0 || (afterSeq === null && Date.parse(got[0].ts) < since)) break;
    to = from - 1;
  }
  for (let i = present; i < keyed.length; i += BATCH) {
    const res = await log.appendBatch(keyed.slice(i, i + BATCH).map(({ kind, data }) => ({ kind, data })));
    lastSeq = res.entries.at(-1)!.seq;
  }
  return { appended: keyed.length - present, seq: lastSeq ?? afterSeq ?? head };
}

export function createPlaybookActivities({ config, db, temporal }: PlaybookActivityDeps) {
  const locks = kernelLocks({ db, temporal });
  const log = (): ImmutableLogClient => immutableLogClient(config, AUDIT_LOG_TIMEOUT_MS);
  const recordRun = async (report: PlaybookReport): Promise<void> => {
    await db
      .collection<PlaybookReport & { _id: string }>(PLAYBOOK_RUNS_COLLECTION)
      .replaceOne({ _id: report.workflowId }, report, { upsert: true });
  };

  return {
    /**
     * Local activity at the start of a run: the kernel lock (when the run has a kernel) and the log's
     * head (the lower bound of every later flush's search; null when the log does not answer, which
     * must not hold up a run that may be repairing the log). Idempotent: see `acquireKernelLock`; the
     * head is only read.
     */
    async beginPlaybookRun(input: { lock: { kernel: string; owner: LockOwner; mode: 'wait' | 'refuse' } | null }): Promise<{ lock: AcquireResult | null; logSeq: number | null }> {
      const [lock, logSeq] = await Promise.all([
        input.lock ? locks.acquire(input.lock.kernel, input.lock.owner, input.lock.mode) : Promise.resolve(null),
        immutableLogClient(config, 1_000)
          .head()
          .then((h) => h.seq)
          .catch(() => null),
      ]);
      return { lock, logSeq };
    },

    /**
     * Local activity: takes, queues for, or is refused the kernel's lock (activities/kernel-locks.ts);
     * also a waiting run's periodic re-check, which takes over from a holder whose run has ended.
     * Idempotent: the holder gets `granted` again, a waiter `queued` without a second place in line.
     */
    async acquireKernelLock(kernel: string, owner: LockOwner, mode: 'wait' | 'refuse'): Promise<AcquireResult> {
      return locks.acquire(kernel, owner, mode);
    },

    /** Local activity: appends the run's buffered audit entries. Idempotent: see {@link flushAudit}. */
    async flushPlaybookAudit(flush: AuditFlush): Promise<AuditFlushResult> {
      return flushAudit(log(), flush);
    },

    /**
     * Local activity at the end of a run: the remaining audit entries, the report, the lock handed
     * on. Idempotent, each part: the flush appends only what is missing, the report is a replace
     * keyed on the workflow id, the release is a compare-and-set that a retry finds done. The log
     * refusing entries does not fail it (they are listed in the report's `auditErrors`, as the run
     * may be repairing the log); the store not answering does, and it is retried.
     */
    async finishPlaybookRun({ report, audit, lock }: FinishInput): Promise<FinishResult> {
      const auditErrors: string[] = [];
      let seq: number | null = null;
      if (audit.entries.length > 0) {
        // A log being restarted (killed, crash-looping) is back within a second or two: its entries
        // are tried again meanwhile (the flush appends only what is missing), and given up only after
        // FINISH_AUDIT_WAIT_MS. A CI run's crash_loop remedy ended while the log restarted and left
        // no entry in it.
        const started = Date.now();
        for (;;) {
          try {
            seq = (await flushAudit(log(), audit)).seq;
            break;
          } catch (err) {
            if (Date.now() - started < FINISH_AUDIT_WAIT_MS) {
              await sleep(FINISH_AUDIT_RETRY_MS);
              continue;
            }
            const why = err instanceof Error ? err.message : String(err);
            for (const e of audit.entries) auditErrors.push(`${e.kind} ${e.key}: ${why}`);
            break;
          }
        }
      }
      // After the flush (the run's last entry lands before the next run can start), the two at once.
      await Promise.all([
        recordRun({ ...report, auditErrors: [...report.auditErrors, ...auditErrors] }),
        lock ? locks.release(lock.kernel, lock.owner) : Promise.resolve(),
      ]);
      return { auditErrors, seq };
    },
  };
}

export type PlaybookActivities = ReturnType<typeof createPlaybookActivities>;
