/** Snapshot actions: take_snapshot and restore_from_snapshot. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SnapshotStore, snapshotIdOf } from '../../src/snapshots/store';
import { reloadBus } from '../../kernels/message-bus/readiness';
import { busPaths } from '../../kernels/message-bus/render';
import { action, idempotencyKey, type ActionDeps, type ActionGroup } from './shared';

export function snapshotActions({ config, pm }: ActionDeps): ActionGroup<'take_snapshot' | 'restore_from_snapshot'> {
  const snapshots = new SnapshotStore(config.stateDir);
  return {
    take_snapshot: action('take_snapshot', async ({ paths, label, skipMissing }, meta) => {
      const key = idempotencyKey(meta);
      // Left out when missing, on request: the bus's rendered file is nats.conf or authorization.conf by mode.
      const taken = skipMissing ? paths.filter((p) => existsSync(path.resolve(config.stateDir, p))) : paths;
      // Idempotent: the snapshot id is derived from the run and step, so a retry finds (or
      // finishes) the same snapshot instead of taking another.
      const { manifest } = await snapshots.take({ id: snapshotIdOf(key), label, paths: taken, key });
      return { snapshot: manifest.id, files: manifest.files.length, bytes: manifest.files.reduce((a, f) => a + f.bytes, 0) };
    }),

    restore_from_snapshot: action('restore_from_snapshot', async ({ path: file, snapshot, reloadBus: reload }) => {
      // Idempotent: a file that already has the snapshot's checksum is not written (see SnapshotStore.restore).
      const restored = await snapshots.restore(file, snapshot);
      // Only the embedded bus loads a restored nats.conf by a reload (an external one throws, when asked, why not).
      const isBusConf = config.bus.embedded && path.resolve(config.stateDir, file) === busPaths(config).confFile;
      if (!(reload ?? isBusConf)) return restored;
      // A restored nats.conf undoes nothing until the bus loads it. Reloaded also when the file was
      // already restored (a retry after a crash between the write and the reload): a reload of the
      // same file changes nothing.
      const { configLoadTime } = await reloadBus(config, { render: false, pm });
      return { ...restored, configLoadTime };
    }),
  };
}
