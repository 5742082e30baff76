import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, type LoadedConfig } from '../../src/config/load';
import { PathEscapeError } from '../../src/playbooks/paths';
import { ChecksumMismatchError, SnapshotStore, type SnapshotManifest } from '../../src/snapshots/store';
import { listSnapshots, pruneTypedSnapshots, takeTypedSnapshots } from '../../src/snapshots/typed';
import { createHash } from 'node:crypto';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('snapshots: roots, restore confinement, typed snapshots and retention', () => {
  let base: string;
  let state: string;
  let project: string;
  let outside: string;
  let store: SnapshotStore;
  const put = (root: string, rel: string, content: string): void => {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), content);
  };
  const manifestFile = (m: { label: string; id: string }): string => path.join(state, 'snapshots', m.label, m.id, 'manifest.json');
  const rewrite = (m: { label: string; id: string }, fn: (m: SnapshotManifest) => void): void => {
    const doc = JSON.parse(readFileSync(manifestFile(m), 'utf8')) as SnapshotManifest;
    fn(doc);
    writeFileSync(manifestFile(m), JSON.stringify(doc));
  };

  beforeEach(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'layer1-typed-'));
    state = path.join(base, 'state');
    project = path.join(base, 'project');
    outside = path.join(base, 'outside');
    mkdirSync(state, { recursive: true });
    mkdirSync(outside, { recursive: true });
    put(project, 'playbooks/a.yaml', 'name: a\n');
    put(project, 'playbooks/b.yaml', 'name: b\n');
    put(state, 'bus/nats.conf', 'listen: 1\n');
    store = new SnapshotStore(state, { project });
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('takes files of several roots, each recorded with its root, and restores each into its own', async () => {
    const { manifest } = await store.take({ id: 'cfg-1', label: 'configs', sources: [{ root: 'project', path: 'playbooks' }, { root: 'state', path: 'bus/nats.conf' }] });
    assert.deepEqual(
      manifest.files.map((f) => [f.root ?? 'state', f.path]),
      [['state', 'bus/nats.conf'], ['project', 'playbooks/a.yaml'], ['project', 'playbooks/b.yaml']],
    );
    put(project, 'playbooks/a.yaml', 'broken');
    put(state, 'bus/nats.conf', 'broken');
    const restored = await store.restoreSnapshot('cfg-1');
    assert.deepEqual(restored.map((r) => [r.path, r.restored]), [['bus/nats.conf', true], ['playbooks/a.yaml', true], ['playbooks/b.yaml', false]]);
    assert.equal(readFileSync(path.join(project, 'playbooks/a.yaml'), 'utf8'), 'name: a\n');
    assert.equal(readFileSync(path.join(state, 'bus/nats.conf'), 'utf8'), 'listen: 1\n');
  });

  it('refuses to restore a manifest path outside the root, and writes nothing', async () => {
    await store.take({ id: 'cfg-2', label: 'configs', sources: [{ root: 'project', path: 'playbooks' }] });
    put(project, 'playbooks/a.yaml', 'broken');
    // A damaged (or forged) manifest names a file outside the project's root.
    rewrite({ label: 'configs', id: 'cfg-2' }, (m) => {
      m.files[1].path = '../outside/evil.yaml';
    });
    await assert.rejects(store.restoreSnapshot('cfg-2'), (err: unknown) => err instanceof PathEscapeError && err.reason === 'outside');
    assert.equal(existsSync(path.join(outside, 'evil.yaml')), false);
    assert.equal(readFileSync(path.join(project, 'playbooks/a.yaml'), 'utf8'), 'broken', 'checked before anything is written');
    assert.equal((await store.check((await store.get('cfg-2'))!)).ok, false, 'the listing shows the manifest as not ok');
    const listed = await listSnapshots({ stateDir: state } as LoadedConfig, store);
    assert.equal(listed.find((s) => s.id === 'cfg-2')?.manifestOk, false);
  });

  it('refuses to restore through a symlink that leaves the root, and writes nothing outside', async () => {
    await store.take({ id: 'cfg-3', label: 'configs', sources: [{ root: 'project', path: 'playbooks' }] });
    // The directory the files go back to is now a link to somewhere outside the project.
    rmSync(path.join(project, 'playbooks'), { recursive: true });
    symlinkSync(outside, path.join(project, 'playbooks'));
    await assert.rejects(store.restoreSnapshot('cfg-3'), (err: unknown) => err instanceof PathEscapeError && err.reason === 'symlink');
    assert.deepEqual(readdirSync(outside), []);
    // A state file behind a link that leaves the state directory is refused the same way.
    await store.take({ id: 'st-1', label: 'state', paths: ['bus/nats.conf'] });
    rmSync(path.join(state, 'bus'), { recursive: true });
    symlinkSync(outside, path.join(state, 'bus'));
    await assert.rejects(store.restoreSnapshot('st-1'), (err: unknown) => err instanceof PathEscapeError && err.reason === 'symlink');
    await assert.rejects(store.restore('bus/nats.conf', 'st-1'), PathEscapeError);
    assert.deepEqual(readdirSync(outside), []);
  });

  it('refuses a snapshot whose copy no longer has its checksum', async () => {
    await store.take({ id: 'cfg-4', label: 'configs', sources: [{ root: 'project', path: 'playbooks' }] });
    put(project, 'playbooks/a.yaml', 'broken');
    writeFileSync(path.join(state, 'snapshots/configs/cfg-4/files/playbooks/b.yaml'), 'tampered');
    await assert.rejects(store.restoreSnapshot('cfg-4'), ChecksumMismatchError);
    assert.equal(readFileSync(path.join(project, 'playbooks/a.yaml'), 'utf8'), 'broken');
  });

  it('does not copy a file that lacks its known-good checksum, and reports it', async () => {
    const res = await store.take({
      id: 'm-1',
      label: 'models',
      sources: [
        { root: 'project', path: 'playbooks/a.yaml', sha256: sha('name: a\n') },
        { root: 'project', path: 'playbooks/b.yaml', sha256: sha('something else') },
      ],
    });
    assert.deepEqual(res.manifest.files.map((f) => f.path), ['playbooks/a.yaml']);
    assert.deepEqual(res.refused.map((r) => r.path), ['playbooks/b.yaml']);
  });

  describe('typed snapshots', () => {
    let config: LoadedConfig;
    beforeEach(() => {
      const file = path.join(base, 'layer1.yaml');
      writeFileSync(file, `stateDir: ${state}\n`);
      config = parseConfig(readFileSync(file, 'utf8'), file, {});
    });

    it('takes one of each type, marks it latest, and lists it with a valid manifest', async () => {
      const taken = await takeTypedSnapshots(config, { key: 'boot-1', at: '2026-12-06T10:00:00.000Z', types: ['configs', 'playbooks', 'models', 'log_segments'] });
      const byType = Object.fromEntries(taken.map((t) => [t.type, t]));
      assert.equal(byType.configs.error, null);
      assert.match(byType.configs.id ?? '', /^configs-20261206T100000Z-[0-9a-f]{8}$/);
      assert.ok(byType.playbooks.files > 0);
      // No models and no sealed segment in a new state directory: nothing to take, and it says so.
      assert.match(byType.models.skipped ?? '', /nothing to snapshot yet/);
      assert.match(byType.log_segments.skipped ?? '', /nothing to snapshot yet/);
      const again = await takeTypedSnapshots(config, { key: 'boot-1', at: '2026-12-06T10:00:00.000Z', types: ['configs'] });
      assert.equal(again[0].created, false, 'a retried take finds its snapshot');
      const listed = await listSnapshots(config);
      const configs = listed.filter((s) => s.type === 'configs');
      assert.equal(configs.length, 1);
      assert.deepEqual(Object.keys(configs[0]).slice(0, 7), ['type', 'id', 'takenAt', 'latest', 'files', 'bytes', 'manifestOk']);
      assert.equal(configs[0].latest, true);
      assert.equal(configs[0].manifestOk, true);
      // The config file itself is kept relative to its own directory, with its root named.
      const m = JSON.parse(readFileSync(path.join(state, 'snapshots/configs', configs[0].id, 'manifest.json'), 'utf8')) as SnapshotManifest;
      assert.ok(m.files.some((f) => f.root === 'config' && f.path === 'layer1.yaml'));
    });

    it('prunes beyond 24 h and beyond 5 per type, keeping the latest however old', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 7; i += 1) {
        const [t] = await takeTypedSnapshots(config, { key: `run-${i}`, at: new Date(Date.UTC(2026, 11, 6, 10, i)).toISOString(), types: ['playbooks'] });
        ids.push(t.id!);
      }
      // Made old for real: the manifests of the first two now say they were taken two days ago.
      for (const id of ids.slice(0, 2)) {
        rewrite({ label: 'playbooks', id }, (m) => {
          m.createdAt = new Date(Date.now() - 2 * 86_400_000).toISOString();
        });
      }
      const pruned = await pruneTypedSnapshots(config, { maxAgeMs: 86_400_000, maxPerType: 5 }, { types: ['playbooks'], now: Date.now() });
      assert.deepEqual(pruned.filter((p) => p.reason === 'age').map((p) => p.id).sort(), ids.slice(0, 2).sort());
      const left = (await listSnapshots(config)).filter((s) => s.type === 'playbooks');
      assert.equal(left.length, 5);
      assert.equal(left.filter((s) => s.latest).length, 1);
      // Every one left is older than 24 h but the latest: only the latest stays.
      for (const s of left) rewrite({ label: 'playbooks', id: s.id }, (m) => void (m.createdAt = new Date(Date.now() - 3 * 86_400_000).toISOString()));
      await pruneTypedSnapshots(config, { maxAgeMs: 86_400_000, maxPerType: 5 }, { types: ['playbooks'], now: Date.now() });
      const last = (await listSnapshots(config)).filter((s) => s.type === 'playbooks');
      assert.deepEqual(last.map((s) => [s.id, s.latest]), [[ids[6], true]]);
      assert.deepEqual(readdirSync(path.join(state, 'snapshots/playbooks')).sort(), [ids[6], 'latest.json'].sort(), 'no trash left behind');
    });
  });
});
