/**
 * Reading the immutable log's audit entries: the run and step an entry carries (`data.meta`, written
 * by the append_audit action and the playbook workflow's audit flush), a search back from the head
 * for the entry an idempotent append may already have made, and reading entries forward page by page.
 */
import type { ImmutableLogClient } from '../../kernels/immutable-log/client';
import type { JsonValue, LogEntry } from '../../kernels/immutable-log/format';

/** The field of an audit entry's data that carries the run and step (so it is reserved). */
export const AUDIT_META_FIELD = 'meta';

/** Entries per `GET /entries` while scanning. */
export const LOG_PAGE = 1_000;

export type AuditMeta = { [key: string]: JsonValue };

/** The run and step an audit entry carries (its `data.meta` object), or null when it carries none. */
export function auditMetaOf(e: LogEntry): AuditMeta | null {
  const m = e.data !== null && typeof e.data === 'object' && !Array.isArray(e.data) ? e.data[AUDIT_META_FIELD] : undefined;
  return m !== null && m !== undefined && typeof m === 'object' && !Array.isArray(m) ? m : null;
}

export interface BackwardScan {
  /** The head's seq, when the caller already knows it. @default asked of the log */
  head?: number;
  /** Entries below this seq are not read. @default 1 */
  floorSeq?: number;
  /** Stop after a page whose oldest entry is older than this (ms since the epoch). @default no limit */
  sinceMs?: number;
  /** @default 20 */
  maxPages?: number;
  /** The page `floorSeq..head`, when the caller already read it. */
  firstPage?: LogEntry[];
}

/**
 * The newest entry `match` accepts, reading back from the head one page at a time, or null once the
 * scan reaches `floorSeq`, an empty page, a page older than `sinceMs`, or `maxPages`.
 */
export async function findLogEntryBackward(client: ImmutableLogClient, match: (e: LogEntry) => boolean, scan: BackwardScan = {}): Promise<LogEntry | null> {
  const { floorSeq = 1, sinceMs, maxPages = 20, firstPage } = scan;
  const head = scan.head ?? (await client.head()).seq;
  let to = head;
  for (let page = 0; page < maxPages && to >= 1; page++) {
    const from = Math.max(floorSeq, to - LOG_PAGE + 1);
    if (from > to) break;
    const entries = firstPage && from === floorSeq && to === head ? firstPage : (await client.entries(from, to - from + 1)).entries;
    for (const e of [...entries].reverse()) if (match(e)) return e;
    if (entries.length === 0 || (sinceMs !== undefined && Date.parse(entries[0].ts) < sinceMs)) return null;
    to = from - 1;
  }
  return null;
}

/** The entries from `fromSeq` on, in order: up to `toSeq`, or else up to the head. */
export async function readLogEntries(client: ImmutableLogClient, fromSeq: number, toSeq?: number): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for (let from = Math.max(1, fromSeq); toSeq === undefined || from <= toSeq; ) {
    const page = await client.entries(from, toSeq === undefined ? LOG_PAGE : Math.min(LOG_PAGE, toSeq - from + 1));
    if (page.entries.length === 0) break;
    out.push(...page.entries);
    from = page.entries[page.entries.length - 1].seq + 1;
    if (toSeq === undefined && from > page.head.seq) break;
  }
  return out;
}

/** The audit entries of one workflow's runs from `fromSeq` on (to the head), in log order, with the meta each carries. */
export async function auditEntriesOf(client: ImmutableLogClient, workflowId: string, fromSeq: number, toSeq?: number): Promise<Array<{ entry: LogEntry; meta: AuditMeta }>> {
  const out: Array<{ entry: LogEntry; meta: AuditMeta }> = [];
  for (const entry of await readLogEntries(client, fromSeq, toSeq)) {
    const meta = auditMetaOf(entry);
    if (meta?.workflowId === workflowId) out.push({ entry, meta });
  }
  return out;
}
