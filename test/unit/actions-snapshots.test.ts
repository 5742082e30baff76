import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PathEscapeError } from '../../src/playbooks/paths';
import { ChecksumMismatchError, SnapshotNotFoundError, SnapshotStore, snapshotIdOf } from '../../src/snapshots/store';

describe('actions: snapshot store', () => {
  let base: string;
  let state: string;
  let store: SnapshotStore;
  const write = (rel: string, content: string) => {
    mkdirSync(path.dirname(path.join(state, rel)), { recursive: true });
    writeFileSync(path.join(state, rel), content);
  };
  const read = (rel: string) => readFileSync(path.join(state, rel), 'utf8');

  beforeEach(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'layer1-snap-'));
    state = path.join(base, 'state');
    write('conf/a.json', '{"a":1}');
    write('conf/sub/b.txt', 'bee');
    write('single.txt', 'one');
    store = new SnapshotStore(state);
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it('takes a snapshot of files and directories with a SHA-256 manifest, once per id', async () => {
    const id = snapshotIdOf('wf-1:step-a');
    const first = await store.take({ id, label: 'manual', paths: ['conf', 'single.txt'], key: 'wf-1:step-a' });
    assert.equal(first.created, true);
    assert.deepEqual(first.manifest.files.map((f) => f.path), ['conf/a.json', 'conf/sub/b.txt', 'single.txt']);
    assert.equal(first.manifest.files[0].sha256, '015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862');
    assert.equal(first.dir, path.join(state, 'snapshots', 'manual', id));
    assert.ok(existsSync(path.join(first.dir, 'manifest.json')));

    write('single.txt', 'changed');
    const again = await store.take({ id, label: 'manual', paths: ['conf', 'single.txt'] });
    assert.equal(again.created, false, 'a retry finds the snapshot instead of taking another');
    assert.deepEqual(again.manifest, first.manifest);
    assert.deepEqual(readdirSync(path.join(state, 'snapshots', 'manual')), [id]);
  });

  it('discards a half-written snapshot left by a crash and takes it again', async () => {
    const id = snapshotIdOf('wf-2:s');
    mkdirSync(path.join(state, 'snapshots', 'manual', `.tmp-${id}`, 'files'), { recursive: true });
    writeFileSync(path.join(state, 'snapshots', 'manual', `.tmp-${id}`, 'files', 'junk'), 'x');
    const res = await store.take({ id, label: 'manual', paths: ['single.txt'] });
    assert.equal(res.created, true);
    assert.deepEqual(readdirSync(path.join(state, 'snapshots', 'manual')), [id]);
    assert.deepEqual((await store.list()).map((m) => m.id), [id]);
  });

  it('restores a file from the newest snapshot that holds it, atomically, and only when it differs', async () => {
    await store.take({ id: 'snap-old', label: 'manual', paths: ['single.txt'] });
    write('single.txt', 'two');
    await new Promise((r) => setTimeout(r, 5));
    await store.take({ id: 'snap-new', label: 'nightly', paths: ['single.txt'] });
    write('single.txt', 'broken');

    const res = await store.restore('single.txt');
    assert.equal(res.snapshot, 'snap-new');
    assert.equal(res.restored, true);
    assert.equal(read('single.txt'), 'two');
    assert.deepEqual(readdirSync(state).filter((f) => f.includes('.tmp')), [], 'no temporary file left');

    const again = await store.restore('single.txt');
    assert.equal(again.restored, false, 'already the snapshot content: nothing written');
    const ino = statSync(path.join(state, 'single.txt')).ino;
    assert.equal((await store.restore('single.txt')).restored, false);
    assert.equal(statSync(path.join(state, 'single.txt')).ino, ino);

    const named = await store.restore('single.txt', 'snap-old');
    assert.equal(named.restored, true);
    assert.equal(read('single.txt'), 'one');
  });

  it('restores a deleted file, keeping its mode', async () => {
    await store.take({ id: 'snap-x', label: 'manual', paths: ['conf'] });
    rmSync(path.join(state, 'conf'), { recursive: true });
    const res = await store.restore('conf/sub/b.txt');
    assert.equal(res.restored, true);
    assert.equal(read('conf/sub/b.txt'), 'bee');
  });

  it('refuses to restore from a snapshot whose copy does not match the manifest, and leaves the file alone', async () => {
    const { dir } = await store.take({ id: 'snap-bad', label: 'manual', paths: ['single.txt'] });
    writeFileSync(path.join(dir, 'files', 'single.txt'), 'tampered');
    write('single.txt', 'current');
    await assert.rejects(
      store.restore('single.txt'),
      (err: unknown) => err instanceof ChecksumMismatchError && err.stage === 'snapshot' && err.file === 'single.txt',
    );
    assert.equal(read('single.txt'), 'current');
  });

  it('reports a missing snapshot or a file no snapshot holds', async () => {
    await store.take({ id: 'snap-y', label: 'manual', paths: ['single.txt'] });
    await assert.rejects(store.restore('single.txt', 'snap-nope'), SnapshotNotFoundError);
    await assert.rejects(store.restore('conf/a.json'), SnapshotNotFoundError);
    await assert.rejects(store.restore('conf/a.json', 'snap-y'), /does not hold conf\/a.json/);
  });

  it('refuses paths that escape the state directory, to take or to restore', async () => {
    writeFileSync(path.join(base, 'outside.txt'), 'x');
    symlinkSync(path.join(base, 'outside.txt'), path.join(state, 'link'));
    await assert.rejects(store.take({ id: 'snap-z', label: 'manual', paths: ['../outside.txt'] }), PathEscapeError);
    await assert.rejects(store.take({ id: 'snap-z', label: 'manual', paths: ['link'] }), PathEscapeError);
    await assert.rejects(store.restore('../outside.txt'), PathEscapeError);
    await assert.rejects(store.restore('link'), PathEscapeError);
  });
});
