/**
 * Snapshot freshness: the newest snapshot (any label but the coding agent's model baseline, which
 * is taken once) must be younger than `detectors.snapshots.maxAgeMs`. No snapshot at all is stale too.
 */
import { SnapshotStore } from '../../snapshots/store';
import { MODEL_SNAPSHOT_LABEL } from '../../coding-agent/models';
import { snapshotsConfig } from './snapshots.config';
import { defineDetector } from './types';

export const staleSnapshots = defineDetector({
  name: 'stale_snapshots',
  config: snapshotsConfig,
  kinds: ['snapshot_stale'],
  createState: () => undefined,
  async check({ config }, { maxAgeMs }) {
    const all = (await new SnapshotStore(config.stateDir).list()).filter((m) => m.label !== MODEL_SNAPSHOT_LABEL);
    const newest = all.reduce<number | null>((acc, m) => Math.max(acc ?? 0, Date.parse(m.createdAt)), null);
    const age = newest === null ? null : Date.now() - newest;
    if (age !== null && age <= maxAgeMs) return [];
    return [
      {
        kind: 'snapshot_stale',
        kernel: null,
        key: `${newest ?? 'none'}`,
        detail: age === null ? 'there is no snapshot' : `the newest snapshot is ${Math.round(age / 1000)} s old (allowed ${Math.round(maxAgeMs / 1000)} s)`,
        data: { ageMs: age ?? -1, snapshots: all.length },
      },
    ];
  },
});
