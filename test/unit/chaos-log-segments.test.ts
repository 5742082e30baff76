/**
 * Which sealed segment `log_entry_corruption` corrupts, and what its steady-state probe asks: the
 * newest sealed segment that the newest snapshot holding it has as it is now. Real files in a
 * temporary state directory (a log manifest, segment files, snapshots taken by the SnapshotStore).
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load';
import { snapshottedSealedSegment } from '../../src/chaos/faults/log';
import { SnapshotStore } from '../../src/snapshots/store';

describe('the sealed segment a snapshot holds as it is (log_entry_corruption)', () => {
  let stateDir: string;
  let config: ReturnType<typeof parseConfig>;
  const segments: Array<{ name: string }> = [];

  /** A sealed segment: its file, and its record in the log's manifest. */
  function seal(name: string, text: string): void {
    writeFileSync(path.join(stateDir, 'log', 'segments', name), text);
    segments.push({ name });
    writeFileSync(path.join(stateDir, 'log', 'manifest.json'), JSON.stringify({ segments }));
  }

  let n = 0;
  const snapshot = async (): Promise<string> => {
    const id = `s${++n}`;
    await new SnapshotStore(stateDir).take({ id, label: 'hygiene', paths: ['log/segments'] });
    // Snapshots are ordered by their creation time (ms): one per ms at least.
    await new Promise((r) => setTimeout(r, 5));
    return id;
  };

  beforeEach(() => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'layer1-segments-'));
    mkdirSync(path.join(stateDir, 'log', 'segments'), { recursive: true });
    config = parseConfig(`stateDir: ${stateDir}`, path.join(stateDir, 'temporal.config.yaml'), {});
    segments.length = 0;
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  it('none without a sealed segment, or without a snapshot, and says which', async () => {
    const empty = await snapshottedSealedSegment(config);
    assert.equal(empty.segment, null);
    assert.match('why' in empty ? empty.why : '', /no sealed segment yet/);
    seal('0001.seg', 'a');
    const none = await snapshottedSealedSegment(config);
    assert.equal(none.segment, null);
    assert.match('why' in none ? none.why : '', /no snapshot holds log\/segments\/0001\.seg/);
  });

  it('the newest covered one, not one sealed after the snapshot', async () => {
    seal('0001.seg', 'a');
    seal('0002.seg', 'b');
    const id = await snapshot();
    seal('0003.seg', 'c');
    const found = await snapshottedSealedSegment(config);
    assert.ok(found.segment !== null);
    assert.equal(found.segment.name, '0002.seg');
    assert.equal('snapshot' in found && found.snapshot, id);
  });

  it('passes over a segment whose newest copy was taken before it was sealed', async () => {
    seal('0001.seg', 'a');
    writeFileSync(path.join(stateDir, 'log', 'segments', '0002.seg'), 'half');
    await snapshot(); // 0002.seg still being written: its copy is partial
    seal('0002.seg', 'half');
    appendFileSync(path.join(stateDir, 'log', 'segments', '0002.seg'), ' and the rest');
    const found = await snapshottedSealedSegment(config);
    assert.equal(found.segment?.name, '0001.seg');
    // A newer snapshot that has it as it is now: that one counts (the repair restores the newest copy).
    await snapshot();
    assert.equal((await snapshottedSealedSegment(config)).segment?.name, '0002.seg');
  });
});
