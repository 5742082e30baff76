/**
 * Snapshot freshness: the newest snapshot (any label but the coding agent's model baseline, which
 * is taken once) must be younger than `detectors.snapshots.maxAgeMs`. No snapshot at all is stale too.
 *
 * Snapshots are kept, so there are ever more of them: a round reads a label's manifests only when
 * its directory changed since the last round (a snapshot committed into it or moved out of it), and
 * otherwise reuses what it learned, so a round costs one stat per label, not one read per snapshot.
 */
import { SnapshotStore } from '../../snapshots/store';
import { MODEL_SNAPSHOT_LABEL } from '../../coding-agent/models';
import { snapshotsConfig } from './snapshots.config';
import { defineDetector } from './types';

/** What a round learned of one label: its directory's mtime then, its newest snapshot and how many it holds. */
interface LabelSummary {
  stamp: number;
  newest: number | null;
  count: number;
}

export const staleSnapshots = defineDetector({
  name: 'stale_snapshots',
  config: snapshotsConfig,
  kinds: ['snapshot_stale'],
  createState: () => new Map<string, LabelSummary>(),
  async check({ config }, { maxAgeMs }, labels) {
    const store = new SnapshotStore(config.stateDir);
    const present = new Set((await store.labels()).filter((l) => l !== MODEL_SNAPSHOT_LABEL));
    for (const label of labels.keys()) if (!present.has(label)) labels.delete(label);
    let newest: number | null = null;
    let count = 0;
    for (const label of present) {
      // Read before the listing: a snapshot committed in between changes it again, so the next round rereads.
      const stamp = await store.labelStamp(label);
      if (stamp === null) {
        labels.delete(label);
        continue;
      }
      let summary = labels.get(label);
      if (summary?.stamp !== stamp) {
        const all = await store.listLabel(label);
        // File times tick coarsely (a few ms): a change within the same tick as the one just read
        // would keep the stamp, so a label changed less than a second ago is read again next round.
        const settled = Date.now() - stamp > 1000;
        summary = {
          stamp: settled ? stamp : Number.NaN,
          newest: all.reduce<number | null>((acc, m) => Math.max(acc ?? 0, Date.parse(m.createdAt)), null),
          count: all.length,
        };
        labels.set(label, summary);
      }
      if (summary.newest !== null) newest = Math.max(newest ?? 0, summary.newest);
      count += summary.count;
    }
    const age = newest === null ? null : Date.now() - newest;
    if (age !== null && age <= maxAgeMs) return [];
    return [
      {
        kind: 'snapshot_stale',
        kernel: null,
        key: `${newest ?? 'none'}`,
        detail: age === null ? 'there is no snapshot' : `the newest snapshot is ${Math.round(age / 1000)} s old (allowed ${Math.round(maxAgeMs / 1000)} s)`,
        data: { ageMs: age ?? -1, snapshots: count },
      },
    ];
  },
});
