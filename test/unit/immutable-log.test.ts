import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sinon from 'sinon';
import {
  GENESIS_HASH,
  ImmutableLog,
  LogCorruptionError,
  LogInvalidArgumentError,
  LogInvalidEntryError,
  LogLockedError,
  LogQuotaExceededError,
  checkReadiness,
  computeHash,
  type ImmutableLogOptions,
  type VerifyResult,
} from '../../kernels/immutable-log';

describe('immutable log (library)', function () {
  this.timeout(20_000);
  let root: string;
  const open: ImmutableLog[] = [];

  before(async () => {
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'immutable-log-unit-'));
  });
  afterEach(async () => {
    for (const log of open.splice(0)) await log.close();
  });
  after(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  let n = 0;
  const freshDir = (): string => path.join(root, `log-${++n}`);
  async function openLog(options: ImmutableLogOptions): Promise<ImmutableLog> {
    const log = await ImmutableLog.open(options);
    open.push(log);
    return log;
  }
  async function closeLog(log: ImmutableLog): Promise<void> {
    await log.close();
    open.splice(open.indexOf(log), 1);
  }
  async function fill(log: ImmutableLog, count: number, kind = 'test.event'): Promise<void> {
    for (let i = 0; i < count; i++) await log.append(kind, { i, msg: `payload-${i}`, nested: { b: 2, a: 1 } });
  }
  async function segmentFiles(dir: string): Promise<string[]> {
    return (await fsp.readdir(path.join(dir, 'segments'))).sort();
  }
  async function manifest(dir: string): Promise<{ segments: Array<{ name: string; firstSeq: number; lastSeq: number; archive?: { file: string } }> }> {
    return JSON.parse(await fsp.readFile(path.join(dir, 'manifest.json'), 'utf8'));
  }
  /** Rewrites bytes of a (read-only) file in place, as bit rot or a careless editor would. */
  async function overwrite(file: string, position: number, bytes: string): Promise<void> {
    await fsp.chmod(file, 0o644);
    const h = await fsp.open(file, 'r+');
    const buf = Buffer.from(bytes);
    await h.write(buf, 0, buf.length, position);
    await h.close();
    await fsp.chmod(file, 0o444);
  }

  /**
   * Incremental verifies with `sweep` segments re-checked per call until one fails; asserts that
   * happens within the sweep's bound, ceil(sealed / sweep) calls (plus one for the frontier).
   */
  async function verifyUntilFailure(log: ImmutableLog, sealed: number, sweep: number): Promise<VerifyResult> {
    const bound = Math.ceil(sealed / sweep) + 1;
    for (let call = 1; call <= bound; call++) {
      const v = await log.verify({ sweepSegments: sweep });
      if (!v.ok) return v;
    }
    assert.fail(`no failure within ${bound} incremental verifies`);
  }

  it('links every entry to the one before and verifies across segments', async () => {
    const dir = freshDir();
    const log = await openLog({ dir, segmentBytes: 2048 });
    assert.deepEqual(log.head(), { seq: 0, hash: GENESIS_HASH, ts: null });
    await fill(log, 60);
    assert.ok((await segmentFiles(dir)).length >= 3, 'small segments roll');
    const entries = await log.read(1, 100);
    assert.deepEqual(entries.map((e) => e.seq), Array.from({ length: 60 }, (_, i) => i + 1));
    let prev = GENESIS_HASH;
    for (const e of entries) {
      assert.equal(e.prevHash, prev);
      assert.equal(computeHash(e), e.hash);
      prev = e.hash;
    }
    assert.deepEqual(entries[0]!.data, { i: 0, msg: 'payload-0', nested: { a: 1, b: 2 } });
    assert.equal(log.head().hash, prev);
    const v = await log.verify({ full: true });
    assert.equal(v.ok, true, JSON.stringify(v.failure));
    assert.equal(v.checked, 60);
    assert.deepEqual((await log.tail(3)).map((e) => e.seq), [58, 59, 60]);

    const m = await manifest(dir);
    const sealed = path.join(dir, 'segments', m.segments[0]!.name);
    assert.equal((await fsp.stat(sealed)).mode & 0o777, 0o444, 'sealed segments are read-only');

    // Survives a clean reopen, and continues the chain.
    await closeLog(log);
    const again = await openLog({ dir, segmentBytes: 2048 });
    assert.equal(again.head().seq, 60);
    assert.equal((await again.append('after.reopen', {})).seq, 61);
    assert.equal((await again.verify({ full: true })).ok, true);
  });

  it('pinpoints a flipped byte in a sealed segment: seq, segment and reason', async () => {
    const dir = freshDir();
    const log = await openLog({ dir, segmentBytes: 2048 });
    await fill(log, 60);
    assert.equal((await log.verify()).ok, true, 'sets the checkpoint');
    await closeLog(log);

    const rec = (await manifest(dir)).segments[1]!;
    const target = rec.firstSeq + 2;
    const file = path.join(dir, 'segments', rec.name);
    const text = await fsp.readFile(file, 'utf8');
    const lineStart = text.split('\n').slice(0, 2).join('\n').length + 1;
    const at = text.indexOf('payload-', lineStart);
    await overwrite(file, at, 'q');

    const reopened = await openLog({ dir, segmentBytes: 2048 });
    // Incremental: the segment was verified before, so the rolling sweep finds it, within its bound.
    const sealedCount = (await manifest(dir)).segments.length;
    const incremental = await verifyUntilFailure(reopened, sealedCount, 1);
    for (const v of [incremental, await reopened.verify({ full: true })]) {
      assert.equal(v.ok, false);
      assert.deepEqual(
        { reason: v.failure!.reason, seq: v.failure!.seq, segment: v.failure!.segment },
        { reason: 'hash_mismatch', seq: target, segment: rec.name },
      );
    }
  });

  it('detects a rewritten link and a segment checksum mismatch', async () => {
    const dir = freshDir();
    const log = await openLog({ dir, segmentBytes: 2048 });
    await fill(log, 40);
    await closeLog(log);
    const rec = (await manifest(dir)).segments[0]!;
    const file = path.join(dir, 'segments', rec.name);
    const text = await fsp.readFile(file, 'utf8');
    // Second entry: change the first hex digit of its prevHash.
    const second = text.indexOf('\n') + 1;
    const at = text.indexOf('"prevHash":"', second) + '"prevHash":"'.length;
    await overwrite(file, at, text[at] === 'a' ? 'b' : 'a');
    const reopened = await openLog({ dir, segmentBytes: 2048 });
    const v = await reopened.verify({ full: true });
    assert.equal(v.failure?.reason, 'broken_link');
    assert.equal(v.failure?.seq, 2);
    await closeLog(reopened);

    // Restore the byte, then change bytes no entry check can see: swapped keys parse to the same
    // object, so every hash still verifies and only the segment's recorded SHA-256 catches it.
    await overwrite(file, at, text[at]!);
    const swapAt = text.indexOf('"a":1,"b":2');
    await overwrite(file, swapAt, '"b":2,"a":1');
    const third = await openLog({ dir, segmentBytes: 2048 });
    const w = await third.verify({ full: true });
    assert.equal(w.ok, false);
    assert.deepEqual(
      { reason: w.failure?.reason, seq: w.failure?.seq, segment: w.failure?.segment },
      { reason: 'segment_checksum_mismatch', seq: rec.firstSeq, segment: rec.name },
    );
  });

  it('cuts a torn tail on open and reports the bytes dropped', async () => {
    const dir = freshDir();
    const log = await openLog({ dir });
    await fill(log, 5);
    const head = log.head();
    await closeLog(log);
    const [active] = await segmentFiles(dir);
    const torn = '{"seq":6,"ts":"2025-01-01T00:00:00.000Z","prevHash":"ab';
    await fsp.appendFile(path.join(dir, 'segments', active!), torn);

    const reopened = await openLog({ dir });
    assert.equal(reopened.openReport.truncatedBytes, Buffer.byteLength(torn));
    assert.equal(reopened.openReport.truncatedSegment, active);
    assert.deepEqual(reopened.head(), head);
    assert.equal((await reopened.append('after.torn', {})).seq, 6);
    assert.equal((await reopened.verify({ full: true })).ok, true);
    await closeLog(reopened);

    // Blocks a machine crash left unwritten read back as NULs, here followed by a newline.
    await fsp.appendFile(path.join(dir, 'segments', active!), Buffer.from('\0\0\0\0\0\0\n\0\0'));
    const third = await openLog({ dir });
    assert.equal(third.openReport.truncatedBytes, 9);
    assert.equal(third.head().seq, 6);
  });

  it('keeps a complete but corrupt newest entry as evidence and refuses to build on it', async () => {
    const dir = freshDir();
    const log = await openLog({ dir });
    await fill(log, 3);
    await closeLog(log);
    const file = path.join(dir, 'segments', (await segmentFiles(dir))[0]!);
    const text = await fsp.readFile(file, 'utf8');
    await overwrite(file, text.lastIndexOf('payload-'), 'X');
    const reopened = await openLog({ dir });
    assert.equal(reopened.openReport.truncatedBytes, 0);
    assert.equal(reopened.openReport.tailCorruption?.reason, 'hash_mismatch');
    assert.equal(reopened.writable().ok, false);
    await assert.rejects(reopened.append('x', {}), LogCorruptionError);
    const ready = await checkReadiness(reopened, { minFreeBytes: 0 });
    assert.equal(ready.ready, false);
    assert.deepEqual(ready.checks.map((c) => [c.name, c.ok]), [['writable', false], ['integrity', false], ['disk_space', true]]);
  });

  it('rebuilds a missing or inconsistent index on open, and on demand', async () => {
    const dir = freshDir();
    const log = await openLog({ dir, segmentBytes: 2048 });
    await fill(log, 50);
    await closeLog(log);
    const idx = (await fsp.readdir(path.join(dir, 'index'))).sort();
    await fsp.rm(path.join(dir, 'index', idx[0]!));
    await fsp.writeFile(path.join(dir, 'index', idx[1]!), Buffer.alloc(16, 7));

    const reopened = await openLog({ dir, segmentBytes: 2048 });
    const m = await manifest(dir);
    assert.deepEqual(reopened.openReport.indexRebuilt, [m.segments[0]!.name, m.segments[1]!.name]);
    assert.deepEqual((await reopened.read(1, 50)).map((e) => e.seq), Array.from({ length: 50 }, (_, i) => i + 1));
    const r = await reopened.rebuildIndex();
    assert.equal(r.entries, 50);
    assert.deepEqual((await reopened.read(17, 5)).map((e) => e.seq), [17, 18, 19, 20, 21]);
  });

  it('incremental verify: finds a flipped byte in the active segment at once, verified part or new entries', async () => {
    const dir = freshDir();
    const log = await openLog({ dir, segmentBytes: 1024 * 1024 });
    await fill(log, 30);
    assert.equal((await log.verify()).mode, 'full', 'no checkpoint yet: full');
    const active = (await segmentFiles(dir))[0]!;
    const file = path.join(dir, 'segments', active);
    const text = await fsp.readFile(file, 'utf8');
    // Seq 5, already verified: the active segment's verified prefix no longer hashes to the checkpoint's digest.
    const at5 = text.indexOf('payload-4');
    await overwrite(file, at5, 'X');
    const v = await log.verify({ sweepSegments: 0 });
    assert.equal(v.mode, 'incremental');
    assert.deepEqual({ ok: v.ok, reason: v.failure?.reason, seq: v.failure?.seq, segment: v.failure?.segment }, { ok: false, reason: 'hash_mismatch', seq: 5, segment: active });
    await overwrite(file, at5, 'p');
    await fsp.chmod(file, 0o644);
    const clean = await log.verify({ sweepSegments: 0 });
    assert.equal(clean.ok, true, JSON.stringify(clean.failure));
    assert.equal(clean.checked, 0, 'nothing new: the verified prefix is hashed, not parsed');

    // Entries appended after the checkpoint are parsed and checked one by one.
    await fill(log, 10, 'later.event');
    const later = await fsp.readFile(file, 'utf8');
    const at35 = later.indexOf('payload-4', later.indexOf('"seq":35'));
    await overwrite(file, at35, 'X');
    await fsp.chmod(file, 0o644);
    const w = await log.verify({ sweepSegments: 0 });
    assert.deepEqual({ reason: w.failure?.reason, seq: w.failure?.seq, segment: w.failure?.segment }, { reason: 'hash_mismatch', seq: 35, segment: active });
    await overwrite(file, at35, 'p');
    await fsp.chmod(file, 0o644);
    const again = await log.verify({ sweepSegments: 0 });
    assert.equal(again.ok, true, JSON.stringify(again.failure));
    assert.equal(again.checked, 10, 'only the ten new entries are parsed');
  });

  it('incremental verify with no new entries reads no sealed segment but the sweep\'s share, and the sweep covers them all', async () => {
    const dir = freshDir();
    const log = await openLog({ dir, segmentBytes: 2048 });
    await fill(log, 120);
    assert.equal((await log.verify()).ok, true);
    const sealed = (await manifest(dir)).segments.map((r) => r.name);
    assert.ok(sealed.length >= 8, `${sealed.length} sealed segments`);
    const reads: string[] = [];
    const spy = sinon.spy(fsp, 'readFile');
    try {
      const seen = new Set<string>();
      const rounds = Math.ceil(sealed.length / 3);
      for (let round = 0; round < rounds; round++) {
        spy.resetHistory();
        const v = await log.verify({ sweepSegments: 3 });
        assert.equal(v.ok, true, JSON.stringify(v.failure));
        assert.equal(v.checked, 0, 'no entry parsed: nothing was appended');
        assert.equal(v.swept!.length, 3);
        const read = spy.getCalls().map((c) => path.basename(String(c.args[0]))).filter((f) => f.endsWith('.seg'));
        reads.push(...read);
        assert.deepEqual(read, v.swept, 'the only sealed segments read are the ones swept');
        for (const name of v.swept!) seen.add(name);
      }
      assert.deepEqual([...seen].sort(), sealed, `every sealed segment re-read within ceil(${sealed.length} / 3) = ${rounds} calls`);
    } finally {
      spy.restore();
    }
    assert.equal(reads.length, Math.ceil(sealed.length / 3) * 3);
  });

  it('finds a flipped byte in the oldest sealed segment within the sweep bound, and only through the sweep', async () => {
    const dir = freshDir();
    const log = await openLog({ dir, segmentBytes: 2048 });
    await fill(log, 120);
    assert.equal((await log.verify()).ok, true);
    // Move the cursor off the oldest segment, so the sweep has to come round to it.
    assert.equal((await log.verify({ sweepSegments: 2 })).ok, true);
    const m = await manifest(dir);
    const oldest = m.segments[0]!;
    const file = path.join(dir, 'segments', oldest.name);
    const text = await fsp.readFile(file, 'utf8');
    const at = text.indexOf('payload-', text.indexOf('\n') + 1);
    await overwrite(file, at, 'q');

    // Without the sweep, an incremental verify never reads an old sealed segment: it stays unseen.
    for (let i = 0; i <= m.segments.length; i++) assert.equal((await log.verify({ sweepSegments: 0 })).ok, true);

    const sweep = 2;
    let calls = 0;
    let v: VerifyResult;
    do {
      v = await log.verify({ sweepSegments: sweep });
      calls++;
    } while (v.ok && calls <= m.segments.length);
    assert.ok(calls <= Math.ceil(m.segments.length / sweep), `found in ${calls} calls, bound ceil(${m.segments.length} / ${sweep})`);
    assert.deepEqual({ reason: v.failure?.reason, seq: v.failure?.seq, segment: v.failure?.segment }, { reason: 'hash_mismatch', seq: 2, segment: oldest.name });
    // The cursor stays on the damage: every call reports it until it is repaired.
    for (let i = 0; i < 3; i++) assert.equal((await log.verify({ sweepSegments: sweep })).failure?.seq, 2);
    await overwrite(file, at, 'p');
    assert.equal((await log.verify({ sweepSegments: sweep })).ok, true);
  });

  it('archives sealed segments, verifies across them, and cleans up while keeping the chain anchored', async () => {
    const dir = freshDir();
    const log = await openLog({ dir, segmentBytes: 2048 });
    await fill(log, 80);
    const before = await manifest(dir);
    const a = await log.archiveSealed({ keep: 1 });
    assert.equal(a.archived.length, before.segments.length - 1);
    assert.ok(a.bytesOut < a.bytesIn, 'gzip shrinks JSON lines');
    const live = await segmentFiles(dir);
    for (const name of a.archived) assert.ok(!live.includes(name), `${name} removed after archiving`);
    const after = await manifest(dir);
    assert.ok(after.segments.slice(0, -1).every((s) => s.archive));

    const v = await log.verify({ full: true });
    assert.equal(v.ok, true, JSON.stringify(v.failure));
    assert.equal(v.checked, 80);
    assert.deepEqual((await log.read(1, 80)).map((e) => e.seq), Array.from({ length: 80 }, (_, i) => i + 1));
    assert.equal((await log.append('after.archive', {})).seq, 81);

    // Reopen across archives, then damage one archive.
    await closeLog(log);
    const reopened = await openLog({ dir, segmentBytes: 2048 });
    assert.equal((await reopened.verify({ full: true })).ok, true);
    const gz = path.join(dir, 'archive', after.segments[1]!.archive!.file);
    const size = (await fsp.stat(gz)).size;
    // A byte that differs from the one there (gzip bytes vary with the entries' times: writing a
    // fixed 'Z' left the file unchanged about one run in 256).
    const mid = Math.floor(size / 2);
    const was = (await fsp.readFile(gz))[mid]!;
    await overwrite(gz, mid, was === 0x5a ? 'Y' : 'Z');
    const bad = await reopened.verify({ full: true });
    assert.equal(bad.ok, false);
    assert.equal(bad.failure?.reason, 'segment_checksum_mismatch');
    assert.equal(bad.failure?.seq, after.segments[1]!.firstSeq);
    assert.equal(bad.failure?.segment, after.segments[1]!.archive!.file);
    const incremental = await verifyUntilFailure(reopened, after.segments.length, 1);
    assert.equal(incremental.failure?.reason, 'segment_checksum_mismatch', 'a changed archive is re-checked by the sweep');
    assert.equal(incremental.failure?.segment, after.segments[1]!.archive!.file);

    const c = await reopened.cleanupArchives({ maxArchives: 0 });
    assert.equal(c.removed.length, a.archived.length);
    assert.equal(c.prunedThroughSeq, after.segments.at(-2)!.lastSeq);
    const pruned = await reopened.verify({ full: true });
    assert.equal(pruned.ok, true, JSON.stringify(pruned.failure));
    assert.equal(pruned.prunedThroughSeq, c.prunedThroughSeq);
    assert.equal((await reopened.read(1, 5))[0]!.seq, c.prunedThroughSeq + 1);
  });

  it('refuses appends beyond the quota with a typed error and keeps the chain intact', async () => {
    const dir = freshDir();
    const log = await openLog({ dir, quotaBytes: 16 * 1024 });
    let err: unknown;
    let last = 0;
    for (let i = 0; i < 1000 && !err; i++) {
      try {
        last = (await log.append('fill', { pad: 'x'.repeat(200) })).seq;
      } catch (e) {
        err = e;
      }
    }
    assert.ok(err instanceof LogQuotaExceededError, String(err));
    assert.equal(err.quotaBytes, 16 * 1024);
    assert.ok(err.usedBytes + err.requestedBytes > err.quotaBytes);
    assert.equal(log.head().seq, last);
    const u = await log.usage();
    assert.ok(u.usedBytes <= 16 * 1024 && u.quotaFraction! > 0.9, JSON.stringify(u));
    assert.equal((await log.verify({ full: true })).ok, true);
    // Small entries that still fit are accepted: the quota is about bytes, not a latch.
    assert.ok((await log.diskFree()).freeBytes > 0);
  });

  it('answers usage without walking the directory: the last measurement plus the appends since', async () => {
    const dir = freshDir();
    const log = await openLog({ dir, segmentBytes: 4096 });
    await fill(log, 100);
    const spy = sinon.spy(fsp, 'readdir');
    let u: Awaited<ReturnType<ImmutableLog['usage']>>;
    try {
      await fill(log, 3);
      u = await log.usage();
      assert.equal(spy.callCount, 0, 'no readdir per call, however many segments');
    } finally {
      spy.restore();
    }
    // What the quota counts: every byte on disk, the active segment's index records included.
    const onDisk = async (sub: string): Promise<number> => {
      let total = 0;
      for (const f of await fsp.readdir(path.join(dir, sub))) total += (await fsp.stat(path.join(dir, sub, f))).size;
      return total;
    };
    const active = (await segmentFiles(dir)).at(-1)!;
    // The active segment's index file is written on open and close only; the quota counts its records as they land.
    const activeIdx = (await fsp.stat(path.join(dir, 'index', active.replace('.seg', '.idx'))).catch(() => ({ size: 0 }))).size;
    const activeEntries = log.head().seq - (await manifest(dir)).segments.at(-1)!.lastSeq;
    assert.equal(u.segmentBytes, await onDisk('segments'));
    assert.equal(u.indexBytes, (await onDisk('index')) - activeIdx + activeEntries * 8);
    assert.equal(u.segments.sealed, (await manifest(dir)).segments.length);
    assert.equal(u.segments.active, 1);
  });

  it('serialises concurrent appends in call order, dense seqs, one valid chain', async () => {
    const dir = freshDir();
    const log = await openLog({ dir, segmentBytes: 16 * 1024 });
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => log.append('concurrent', { i })));
    assert.deepEqual(results.map((r) => r.seq), Array.from({ length: 500 }, (_, i) => i + 1));
    const entries = await log.read(1, 500);
    assert.deepEqual(entries.map((e) => (e.data as { i: number }).i), Array.from({ length: 500 }, (_, i) => i));
    assert.deepEqual(entries.map((e) => e.hash), results.map((r) => r.hash));
    const v = await log.verify({ full: true });
    assert.equal(v.ok, true, JSON.stringify(v.failure));
    assert.equal(v.checked, 500);
  });

  it('appends a batch in order and contiguously, and lands only a prefix of it when one entry is refused', async () => {
    const log = await openLog({ dir: freshDir(), quotaBytes: 16 * 1024 });
    const single = log.append('other', { before: true });
    const batch = log.appendBatch([1, 2, 3].map((i) => ({ kind: 'batch', data: { i } })));
    const after = log.append('other', { after: true });
    const [s, b, a] = await Promise.all([single, batch, after]);
    assert.deepEqual([s.seq, ...b.map((r) => r.seq), a.seq], [1, 2, 3, 4, 5], 'in call order, nothing between the batch entries');
    assert.deepEqual((await log.read(2, 3)).map((e) => (e.data as { i: number }).i), [1, 2, 3]);
    // Invalid input appends nothing at all.
    await assert.rejects(log.appendBatch([{ kind: 'ok' }, { kind: '' }]), LogInvalidEntryError);
    await assert.rejects(log.appendBatch([]), LogInvalidArgumentError);
    assert.equal(log.head().seq, 5);
    // A batch that crosses the quota: the entries before the refused one land, none after it.
    const big = Array.from({ length: 60 }, (_, i) => ({ kind: 'fill', data: { i, pad: 'x'.repeat(200) } }));
    await assert.rejects(log.appendBatch(big), LogQuotaExceededError);
    const landed = await log.read(6, 100);
    assert.ok(landed.length > 0 && landed.length < 60, `${landed.length} landed`);
    assert.deepEqual(landed.map((e) => (e.data as { i: number }).i), Array.from({ length: landed.length }, (_, i) => i));
    assert.equal((await log.verify({ full: true })).ok, true);
  });

  it('reads and verifies consistently while segments roll and get archived underneath', async () => {
    const log = await openLog({ dir: freshDir(), segmentBytes: 1024 });
    let writing = true;
    const writer = (async () => {
      for (let i = 0; i < 400; i++) await log.append('busy', { i });
      writing = false;
    })();
    const readers = (async () => {
      while (writing) {
        const head = log.head().seq;
        const got = await log.read(Math.max(1, head - 30), 30);
        got.forEach((e, k) => assert.equal(e.seq, got[0]!.seq + k));
        await log.archiveSealed({ keep: 2 });
        const v = await log.verify();
        assert.equal(v.ok, true, JSON.stringify(v.failure));
      }
    })();
    await Promise.all([writer, readers]);
    assert.equal((await log.verify({ full: true })).checked, 400);
  });

  it('passes its readiness self-test, and fails disk_space above free space', async () => {
    const log = await openLog({ dir: freshDir() });
    const ok = await checkReadiness(log, { minFreeBytes: 1 });
    assert.equal(ok.ready, true, JSON.stringify(ok.checks));
    assert.deepEqual(ok.checks.map((c) => c.name), ['writable', 'integrity', 'disk_space']);
    assert.equal((await log.tail(1))[0]!.kind, 'probe');
    const full = await checkReadiness(log, { minFreeBytes: Number.MAX_SAFE_INTEGER });
    assert.equal(full.ready, false);
    assert.equal(full.checks.find((c) => c.name === 'disk_space')!.ok, false);
  });

  it('lets one holder at a time open a directory', async () => {
    const dir = freshDir();
    await openLog({ dir });
    await assert.rejects(ImmutableLog.open({ dir }), LogLockedError);
  });
});
