/** Immutable-log actions: verify_log_chain, rebuild_log_index, archive_log_segments and cleanup_archives. */
import { immutableLogClient } from '../../kernels/registry';
import type { ImmutableLogClient } from '../../kernels/immutable-log/client';
import { action, ActionErrorType, failure, type ActionDeps, type ActionGroup } from './shared';

export function logActions({ config }: ActionDeps): ActionGroup<'verify_log_chain' | 'rebuild_log_index' | 'archive_log_segments' | 'cleanup_archives'> {
  const log = (timeoutMs: number): ImmutableLogClient => immutableLogClient(config, timeoutMs);
  return {
    verify_log_chain: action('verify_log_chain', async ({ full, require }) => {
      // Read-only.
      const res = await log(full ? 300_000 : 60_000).verify({ full });
      if (require && !res.ok) {
        throw failure(
          ActionErrorType.LOG_CHAIN_BROKEN,
          `the log chain does not verify: ${res.failure?.reason ?? 'unknown'} at seq ${res.failure?.seq ?? '?'} in ${res.failure?.segment ?? '?'}`,
          { failure: res.failure ?? null },
          false,
        );
      }
      return {
        ok: res.ok,
        checked: res.checked,
        firstBadSeq: res.failure?.seq ?? null,
        segment: res.failure?.segment ?? null,
        reason: res.failure?.reason ?? null,
      };
    }),

    rebuild_log_index: action('rebuild_log_index', async () => {
      // Idempotent: the index is derived from the segments, so a second rebuild writes the same files.
      const res = await log(120_000).rebuildIndex();
      return { entries: res.entries, segments: res.segments };
    }),

    archive_log_segments: action('archive_log_segments', async ({ keep }) => {
      // Idempotent: the log skips segments already archived.
      const res = await log(300_000).archive(keep);
      return { archived: res.archived.length, bytesSaved: Math.max(0, res.bytesIn - res.bytesOut) };
    }),

    cleanup_archives: action('cleanup_archives', async ({ maxArchives, maxAgeMs }) => {
      // Idempotent: an archive already deleted is not found again, so a retry removes nothing more.
      const res = await log(60_000).cleanup({
        ...(maxArchives !== undefined ? { maxArchives } : {}),
        ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
      });
      return { removed: res.removed.length, bytesFreed: res.freedBytes };
    }),
  };
}
