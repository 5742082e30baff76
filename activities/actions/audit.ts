/** The audit action: append_audit, an entry in the immutable log that carries the run and step. */
import { AUDIT_META_FIELD, auditMetaOf, findLogEntryBackward } from '../../src/clients/audit-log';
import { immutableLogClient } from '../../kernels/registry';
import type { ImmutableLogClient } from '../../kernels/immutable-log/client';
import type { JsonValue, LogEntry } from '../../kernels/immutable-log/format';
import { activityContext } from './context';
import { action, ActionErrorType, failure, idempotencyKey, type ActionDeps, type ActionGroup } from './shared';

/** How far back append_audit looks for its own entry when there is no activity context to bound it. */
const AUDIT_LOOKBACK_MS = 60 * 60_000;
const AUDIT_LOOKBACK_PAGES = 20;

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
function findAuditEntry(client: ImmutableLogClient, kind: string, key: string): Promise<LogEntry | null> {
  const scheduled = activityContext()?.info.scheduledTimestampMs;
  // A minute of slack for clock skew between the worker and the log.
  const sinceMs = scheduled ? scheduled - 60_000 : Date.now() - AUDIT_LOOKBACK_MS;
  return findLogEntryBackward(client, (e) => e.kind === kind && auditMetaOf(e)?.key === key, { sinceMs, maxPages: AUDIT_LOOKBACK_PAGES });
}
