/** The audit action: append_audit, an entry in the immutable log that carries the run and step. */
import { immutableLogClient } from '../../kernels/registry';
import type { ImmutableLogClient } from '../../kernels/immutable-log/client';
import type { JsonValue, LogEntry } from '../../kernels/immutable-log/format';
import { activityContext } from './context';
import { action, ActionErrorType, failure, idempotencyKey, type ActionDeps, type ActionGroup } from './shared';

/** The field of an audit entry's data that carries the run and step (so it is reserved). */
export const AUDIT_META_FIELD = 'meta';

/** How far back append_audit looks for its own entry when there is no activity context to bound it. */
const AUDIT_LOOKBACK_MS = 60 * 60_000;
const AUDIT_LOOKBACK_PAGES = 20;
const LOG_PAGE = 1_000;

export function auditActions({ config }: ActionDeps): ActionGroup<'append_audit'> {
  return {
    append_audit: action('append_audit', async ({ kind, data }, meta) => {
      if (AUDIT_META_FIELD in data) {
        throw failure(ActionErrorType.INVALID_PARAMS, `append_audit: data.${AUDIT_META_FIELD} is reserved for the run and step`, { field: AUDIT_META_FIELD });
      }
      const key = idempotencyKey(meta);
      const client = immutableLogClient(config, 10_000);
      // Idempotent: the entry carries the run and step; a retry (even after an append whose answer
      // was lost) finds it in the log's tail and returns it instead of appending again. A first
      // attempt has nothing to find (the key is unique to this run and step), so it skips the look;
      // outside an activity (scripts, tests) it always looks.
      if ((activityContext()?.info.attempt ?? 2) > 1) {
        const existing = await findAuditEntry(client, kind, key);
        if (existing) return { seq: existing.seq, hash: existing.hash };
      }
      const res = await client.append(kind, toJson({ ...data, [AUDIT_META_FIELD]: { key, ...meta } }));
      return { seq: res.seq, hash: res.hash };
    }),
  };
}

function toJson(value: unknown): JsonValue {
  return JSON.parse(JSON.stringify(value)) as JsonValue;
}

/**
 * The entry of `kind` carrying `key`, searched from the head back to when this activity was first
 * scheduled (an earlier entry cannot be one of its attempts), or an hour outside an activity.
 */
async function findAuditEntry(client: ImmutableLogClient, kind: string, key: string): Promise<LogEntry | null> {
  const scheduled = activityContext()?.info.scheduledTimestampMs;
  // A minute of slack for clock skew between the worker and the log.
  const since = scheduled ? scheduled - 60_000 : Date.now() - AUDIT_LOOKBACK_MS;
  let to = (await client.head()).seq;
  for (let page = 0; page < AUDIT_LOOKBACK_PAGES && to >= 1; page++) {
    const from = Math.max(1, to - LOG_PAGE + 1);
    const { entries } = await client.entries(from, to - from + 1);
    for (const e of [...entries].reverse()) {
      const m = e.data !== null && typeof e.data === 'object' && !Array.isArray(e.data) ? e.data[AUDIT_META_FIELD] : undefined;
      if (e.kind === kind && m !== null && typeof m === 'object' && !Array.isArray(m) && m.key === key) return e;
    }
    if (entries.length === 0 || Date.parse(entries[0].ts) < since) return null;
    to = from - 1;
  }
  return null;
}
