/** Snapshot actions: take_snapshot and restore_from_snapshot. */
import { SnapshotStore, snapshotIdOf } from '../../src/snapshots/store';
import { action, idempotencyKey, type ActionDeps, type ActionGroup } from './shared';

export function snapshotActions({ config }: ActionDeps): ActionGroup<'take_snapshot' | 'restore_from_snapshot'> {
  const snapshots = new SnapshotStore(config.stateDir);
  return {
    take_snapshot: action('take_snapshot', async ({ paths, label }, meta) => {
      const key = idempotencyKey(meta);
      // Idempotent: the snapshot id is derived from the run and step, so a retry finds (or
      // finishes) the same snapshot instead of taking another.
      const { manifest } = await snapshots.take({ id: snapshotIdOf(key), label, paths, key });
      return { snapshot: manifest.id, files: manifest.files.length, bytes: manifest.files.reduce((a, f) => a + f.bytes, 0) };
    }),

    restore_from_snapshot: action('restore_from_snapshot', async ({ path: file, snapshot }) => {
      // Idempotent: a file that already has the snapshot's checksum is not written (see SnapshotStore.restore).
      return snapshots.restore(file, snapshot);
    }),
  };
}
