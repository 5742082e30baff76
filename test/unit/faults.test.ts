import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Script } from 'node:vm';
import { FaultError, FAULTS, flipByte, jsonStringByteOffset, pickPayloadByte, runawayScript, withoutPublishAllow } from '../../src/chaos/faults';
import * as faults from '../../src/chaos/faults';
import { canonicalJson, computeHash, encodeLine, entryHash, GENESIS_HASH, ImmutableLog, parseLine, type JsonValue } from '../../kernels/immutable-log';
import { DEFAULT_POLICY_FILE, loadPolicy } from '../../kernels/message-bus/policy';
import { renderNatsConf } from '../../kernels/message-bus/render';

/** A segment's bytes as the log writes them. */
function segment(datas: JsonValue[]): Buffer {
  let prev = GENESIS_HASH;
  const ts = '2026-01-02T03:04:05.678Z';
  return Buffer.from(
    datas
      .map((data, i) => {
        const c = canonicalJson(data);
        const hash = entryHash(i + 1, ts, prev, 'test.event', c);
        const line = encodeLine(i + 1, ts, prev, hash, 'test.event', c);
        prev = hash;
        return line;
      })
      .join(''),
  );
}

/** The line of `buf` holding byte `offset`, parsed. */
function lineAt(buf: Buffer, offset: number) {
  const start = buf.lastIndexOf(0x0a, offset) + 1;
  const parsed = parseLine(buf.subarray(start, buf.indexOf(0x0a, offset)).toString('utf8'));
  assert.ok(parsed.ok, 'the line still parses');
  return parsed.entry;
}

describe('chaos faults: pure helpers', () => {
  it('catalogues every injector it exports', () => {
    for (const name of Object.keys(FAULTS)) assert.equal(typeof (faults as Record<string, unknown>)[name], 'function', name);
  });

  it('finds a letter or digit inside a JSON string, never in numbers, literals or escapes', () => {
    const text = Buffer.from('{"k":12,"s":"\\u00e9\\"Ab"}');
    // "k" is the first string byte; after the key "s", the value's A (past both escapes).
    assert.equal(jsonStringByteOffset(text), 2);
    const a = jsonStringByteOffset(text, 0, text.length, 10);
    assert.equal(String.fromCharCode(text[a]), 'A');
    assert.equal(jsonStringByteOffset(Buffer.from('[1,true,null,"\\n"]')), -1);
    for (const c of 'azAZ09') {
      const flipped = Buffer.from(`"${String.fromCharCode(flipByte(c.charCodeAt(0)))}"`);
      assert.equal(typeof JSON.parse(flipped.toString()), 'string', `${c} flipped stays a JSON string`);
    }
  });

  it('picks a payload byte whose flip breaks exactly that entry\'s hash and keeps the line parseable', () => {
    const buf = segment([null, { note: 'first entry' }, [1, 2], { a: { deep: 'x\u00e9y' }, n: 3 }, 7]);
    const pick = pickPayloadByte(buf);
    assert.ok(pick);
    assert.equal(lineAt(buf, pick.offset).seq, pick.seq);
    // The middle entry (seq 3) has no string: the next one with a string is chosen.
    assert.equal(pick.seq, 4);
    const before = lineAt(buf, pick.offset);
    assert.equal(computeHash(before), before.hash);
    buf[pick.offset] = flipByte(buf[pick.offset]);
    const after = lineAt(buf, pick.offset);
    assert.notEqual(computeHash(after), after.hash);
    assert.equal(after.seq, before.seq);
    assert.equal(after.kind, before.kind);
    assert.notDeepEqual(after.data, before.data);
  });

  it('finds nothing to pick when no entry has a string in its data', () => {
    assert.equal(pickPayloadByte(segment([null, 1, [true, false]])), null);
    assert.equal(pickPayloadByte(Buffer.alloc(0)), null);
  });

  it('a picked byte in a real sealed segment is reported by verify as hash_mismatch at its seq', async function () {
    this.timeout(20_000);
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'faults-unit-'));
    try {
      let log = await ImmutableLog.open({ dir, segmentBytes: 2048 });
      for (let i = 0; i < 40; i++) await log.append('test.event', { i, msg: `payload-${i}` });
      await log.close();
      const manifest = JSON.parse(await fsp.readFile(path.join(dir, 'manifest.json'), 'utf8')) as { segments: Array<{ name: string }> };
      const file = path.join(dir, 'segments', manifest.segments[0].name);
      const buf = await fsp.readFile(file);
      const pick = pickPayloadByte(buf);
      assert.ok(pick);
      await fsp.chmod(file, 0o644);
      const fh = await fsp.open(file, 'r+');
      await fh.write(Buffer.from([flipByte(buf[pick.offset])]), 0, 1, pick.offset);
      await fh.close();
      log = await ImmutableLog.open({ dir, segmentBytes: 2048 });
      try {
        const r = await log.verify({ full: true });
        assert.equal(r.ok, false);
        assert.deepEqual({ reason: r.failure?.reason, seq: r.failure?.seq }, { reason: 'hash_mismatch', seq: pick.seq });
      } finally {
        await log.close();
      }
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  describe('withoutPublishAllow', () => {
    const policy = loadPolicy(DEFAULT_POLICY_FILE);
    const conf = renderNatsConf({
      policy,
      policyFile: DEFAULT_POLICY_FILE,
      host: '127.0.0.1',
      port: 4222,
      monitorPort: 8222,
      storeDir: '/tmp/js',
      passwords: Object.fromEntries(Object.keys(policy.users).map((u) => [u, `pw-${u}`])),
    });

    it('takes one subject out of one user\'s publish allow list and changes nothing else', () => {
      const tampered = withoutPublishAllow(conf, 'control_plane', 'system.control');
      const before = conf.split('\n');
      const after = tampered.split('\n');
      assert.equal(after.length, before.length);
      const changed = before.map((l, i) => [l, after[i]]).filter(([a, b]) => a !== b);
      assert.equal(changed.length, 1);
      assert.match(changed[0][0], /publish: \{ allow: \["system\.control", "system\.control\.>"/);
      assert.match(changed[0][1], /^\s*publish: \{ allow: \["system\.control\.>", "layer1\.events\.>", "telemetry\.layer1\.>"\], deny: \[\] \}$/);
    });

    it('refuses a user that is not there, and a permission it does not have', () => {
      assert.throws(() => withoutPublishAllow(conf, 'nobody', 'system.control'), FaultError);
      assert.throws(() => withoutPublishAllow(conf, 'immutable_log', 'system.control'), /no publish permission on system\.control/);
      const once = withoutPublishAllow(conf, 'control_plane', 'system.control');
      assert.throws(() => withoutPublishAllow(once, 'control_plane', 'system.control'), FaultError);
    });
  });

  it('runaway programs compile, and the memory hog touches every MB it holds', () => {
    for (const kind of ['cpu', 'memory'] as const) assert.doesNotThrow(() => new Script(runawayScript(kind, 64)));
    assert.match(runawayScript('memory', 64), /i < 64; .*Buffer\.alloc\(1048576, /);
  });
});
