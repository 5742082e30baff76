/**
 * Typed snapshots: one snapshot per configured type (src/snapshots/types.ts), taken by boot phase 6
 * and by the hourly snapshot schedule, marked `latest`, and pruned to the retention
 * (`snapshots.maxAgeMs`, `snapshots.maxPerType`) by the same schedule: the store keeps files on
 * disk and has no TTL of its own.
 */
import { createHash } from 'node:crypto';
import type { LoadedConfig } from '../config/load';
import { errorText } from '../domain/errors';
import { SNAPSHOT_TYPE_DEFS, typedSnapshotStore, type SnapshotType } from './types';
import type { SnapshotManifest, SnapshotStore } from './store';
import type { PrunedSnapshot, TypedSnapshotResult } from '../../contracts/schedules';

export type { PrunedSnapshot, TypedSnapshotResult };

export interface RetentionSettings {
  maxAgeMs: number;
  maxPerType: number;
}

/** One line of `layer1 snapshots list --json` (a contract: fields are added, never renamed). */
export interface SnapshotListing {
  type: string;
  id: string;
  takenAt: string;
  latest: boolean;
  files: number;
  bytes: number;
  manifestOk: boolean;
  problems: string[];
}

/** `20261206T093000Z`: sorts with time, reads in a directory listing. */
function compactTime(iso: string): string {
  return iso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/**
 * The id of a typed snapshot: its type, its time and a hash of what asked for it (the boot or the
 * scheduled run), so a retried take finds the same snapshot and two takes never share one.
 */
export function typedSnapshotId(type: SnapshotType, at: string, key: string): string {
  return `${type}-${compactTime(at)}-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

/**
 * Takes one snapshot of each type and marks it latest. A type's failure is reported in its result
 * and does not stop the others.
 * @param opts.key what asked (boot id, scheduled workflow id): with `at`, it names the snapshots
 */
export async function takeTypedSnapshots(
  config: LoadedConfig,
  opts: { key: string; at: string; types: readonly SnapshotType[] },
  store: SnapshotStore = typedSnapshotStore(config),
): Promise<TypedSnapshotResult[]> {
  const out: TypedSnapshotResult[] = [];
  for (const type of opts.types) {
    const base: TypedSnapshotResult = { type, id: null, created: false, files: 0, bytes: 0, refused: [], skipped: null, error: null };
    try {
      const sources = SNAPSHOT_TYPE_DEFS[type].sources(config);
      if (sources.length === 0) {
        out.push({ ...base, skipped: `nothing to snapshot yet: ${SNAPSHOT_TYPE_DEFS[type].description}` });
        continue;
      }
      const id = typedSnapshotId(type, opts.at, opts.key);
      // Idempotent: the id is derived from the key and time, so a retry returns the snapshot taken.
      const taken = await store.take({ id, label: type, sources, key: opts.key });
      await store.setLatest(type, id);
      out.push({
        ...base,
        id,
        created: taken.created,
        files: taken.manifest.files.length,
        bytes: taken.manifest.files.reduce((a, f) => a + f.bytes, 0),
        refused: taken.refused.map(({ path, reason }) => ({ path, reason })),
      });
    } catch (err) {
      out.push({ ...base, error: errorText(err) });
    }
  }
  return out;
}

/**
 * Removes typed snapshots beyond the retention: older than `maxAgeMs`, or beyond the newest
 * `maxPerType` of their type. A type's latest snapshot is always kept, however old, so a restore
 * always finds a source. Idempotent: removing what is gone already is nothing.
 */
export async function pruneTypedSnapshots(
  config: LoadedConfig,
  retention: RetentionSettings,
  opts: { types: readonly SnapshotType[]; now: number },
  store: SnapshotStore = typedSnapshotStore(config),
): Promise<PrunedSnapshot[]> {
  const removed: PrunedSnapshot[] = [];
  for (const type of opts.types) {
    const latest = await store.latestOf(type);
    const all = (await store.listLabel(type)).sort(newestFirst);
    for (const [rank, m] of all.entries()) {
      if (m.id === latest) continue;
      const reason = opts.now - Date.parse(m.createdAt) > retention.maxAgeMs ? 'age' : rank >= retention.maxPerType ? 'count' : null;
      if (!reason) continue;
      if (await store.remove(type, m.id)) removed.push({ type, id: m.id, takenAt: m.createdAt, reason });
    }
  }
  return removed;
}

function newestFirst(a: SnapshotManifest, b: SnapshotManifest): number {
  return b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);
}

/** Every snapshot (every label, the typed ones and those playbooks took), newest first, each checked against its manifest. */
export async function listSnapshots(config: LoadedConfig, store: SnapshotStore = typedSnapshotStore(config)): Promise<SnapshotListing[]> {
  const out: SnapshotListing[] = [];
  for (const label of await store.labels()) {
    const latest = await store.latestOf(label);
    for (const m of await store.listLabel(label)) {
      const check = await store.check(m);
      out.push({
        type: label,
        id: m.id,
        takenAt: m.createdAt,
        latest: m.id === latest,
        files: m.files.length,
        bytes: m.files.reduce((a, f) => a + f.bytes, 0),
        manifestOk: check.ok,
        problems: check.problems,
      });
    }
  }
  return out.sort((a, b) => b.takenAt.localeCompare(a.takenAt) || b.id.localeCompare(a.id));
}
