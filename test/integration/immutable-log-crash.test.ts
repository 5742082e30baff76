import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { ImmutableLogClient, ImmutableLogRequestError } from '../../kernels/immutable-log/client';
import { segmentName, type LogEntry } from '../../kernels/immutable-log/format';
import { readLogEntries } from '../../src/clients/audit-log';

const MAIN = path.resolve(__dirname, '../../kernels/immutable-log/main.js');

interface Running {
  child: ChildProcess;
  client: ImmutableLogClient;
  startLine: Record<string, unknown>;
}

/** Starts the real kernel process on a free port (`--port 0`; the start line says which). */
async function startServer(dir: string, extra: string[] = []): Promise<Running> {
  const child = spawn(process.execPath, [MAIN, '--dir', dir, '--port', '0', '--segment-kb', '8', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const startLine = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout! });
    rl.once('line', (line) => resolve(JSON.parse(line) as Record<string, unknown>));
    child.once('exit', (code) => reject(new Error(`server exited ${code} before listening: ${stderr}`)));
  });
  const client = new ImmutableLogClient({ baseUrl: `http://127.0.0.1:${startLine.port}`, timeoutMs: 5000 });
  return { child, client, startLine };
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function readAll(client: ImmutableLogClient): Promise<LogEntry[]> {
  return readLogEntries(client, 1);
}

/**
 * Appends from `writers` concurrent loops until the server stops answering; returns every append
 * the server acknowledged.
 */
function streamAppends(client: ImmutableLogClient, writers: number, round: number): { acked: Map<number, string>; done: Promise<void> } {
  const acked = new Map<number, string>();
  const loops = Array.from({ length: writers }, async (_, w) => {
    for (let i = 0; ; i++) {
      try {
        const r = await client.append('crash.test', { round, w, i, pad: 'x'.repeat((i * 37) % 300) });
        acked.set(r.seq, r.hash);
      } catch (err) {
        // The server is gone (killed) or closing; an unacknowledged append may or may not be there.
        if (err instanceof ImmutableLogRequestError && err.remoteName !== 'LogClosedError') throw err;
        return;
      }
    }
  });
  return { acked, done: Promise.all(loops).then(() => undefined) };
}

describe('immutable log kernel: kill -9 during a stream of appends', function () {
  this.timeout(120_000);
  let dir: string;
  let current: Running | undefined;
  const allAcked = new Map<number, string>();

  before(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'immutable-log-crash-'));
  });
  async function killCurrent(): Promise<void> {
    if (current && current.child.exitCode === null && current.child.signalCode === null) {
      current.child.kill('SIGKILL');
      await exited(current.child);
    }
  }
  // A failed round must not leave its server holding the directory for the next one.
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') await killCurrent();
  });
  after(async () => {
    // Never leave a server behind, whatever failed.
    await killCurrent();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  for (let round = 1; round <= 5; round++) {
    it(`round ${round}: every acknowledged entry survives kill -9 and the chain verifies`, async () => {
      current = await startServer(dir);
      const { client, child } = current;
      if (round > 1) {
        const head = await client.head();
        assert.ok(head.seq >= Math.max(...allAcked.keys()), 'restart sees at least every acknowledged entry');
      }
      const stream = streamAppends(client, 8, round);
      // Kill at a different point each round, so some kills land mid-roll (8 KiB segments roll every
      // ~40 appends).
      const target = 40 + round * 37;
      while (stream.acked.size < target) await new Promise((r) => setTimeout(r, 2));
      const countAtKill = stream.acked.size;
      child.kill('SIGKILL');
      await exited(child);
      await stream.done;
      assert.ok(countAtKill >= target);
      for (const [seq, hash] of stream.acked) allAcked.set(seq, hash);

      // Odd rounds also play a machine crash that tore the write in flight: half a line at the end.
      const torn = round % 2 === 1 ? '{"seq":999999,"ts":"2025-01-01T00:0' : '';
      if (torn) {
        // Into the active segment; or, if the kill fell between sealing one segment and creating the
        // next, into that next one, as the first write to it would have been.
        const newest = (await fsp.readdir(path.join(dir, 'segments'))).sort().at(-1)!;
        const m = JSON.parse(await fsp.readFile(path.join(dir, 'manifest.json'), 'utf8').catch(() => '{"segments":[]}')) as {
          segments: Array<{ name: string; lastSeq: number }>;
        };
        const sealed = m.segments.find((r) => r.name === newest);
        const target = sealed ? segmentName(sealed.lastSeq + 1) : newest;
        await fsp.appendFile(path.join(dir, 'segments', target), torn);
      }
      current = await startServer(dir);
      assert.equal(current.startLine.truncatedBytes, torn.length, 'the torn tail is cut on open');
      const entries = await readAll(current.client);
      assert.deepEqual(
        entries.map((e) => e.seq),
        Array.from({ length: entries.length }, (_, i) => i + 1),
        'seqs are dense from 1',
      );
      const bySeq = new Map(entries.map((e) => [e.seq, e.hash]));
      const lost = [...allAcked].filter(([seq, hash]) => bySeq.get(seq) !== hash);
      assert.deepEqual(lost, [], 'no acknowledged entry is lost or changed');
      const v = await current.client.verify({ full: true }, 30_000);
      assert.equal(v.ok, true, JSON.stringify(v.failure));
      assert.equal(v.checked, entries.length);
      const ready = await current.client.ready(1);
      assert.equal(ready.ready, true, JSON.stringify(ready.checks));
      current.child.kill('SIGKILL');
      await exited(current.child);
    });
  }

  it('SIGTERM finishes in-flight appends, answers them, and exits 0', async () => {
    current = await startServer(dir);
    const stream = streamAppends(current.client, 8, 99);
    await new Promise((r) => setTimeout(r, 300));
    current.child.kill('SIGTERM');
    const { code } = await exited(current.child);
    await stream.done;
    assert.equal(code, 0);
    for (const [seq, hash] of stream.acked) allAcked.set(seq, hash);

    current = await startServer(dir);
    assert.equal(current.startLine.truncatedBytes, 0, 'a clean stop leaves no torn tail');
    const bySeq = new Map((await readAll(current.client)).map((e) => [e.seq, e.hash]));
    assert.deepEqual([...allAcked].filter(([seq, hash]) => bySeq.get(seq) !== hash), []);
    assert.equal((await current.client.verify({ full: true }, 30_000)).ok, true);
  });

  it('serves the rest of the API: healthz, head, tail, usage, rebuild-index, archive, cleanup, typed errors', async () => {
    const c = current!.client;
    assert.equal((await c.healthz()).ok, true);
    const head = await c.head();
    assert.deepEqual((await c.tail(2)).entries.map((e) => e.seq), [head.seq - 1, head.seq]);
    assert.ok((await c.usage()).usage.usedBytes > 0);
    assert.ok((await c.rebuildIndex()).entries >= head.seq);
    const a = await c.archive(1);
    assert.ok(a.archived.length > 0);
    assert.equal((await c.verify({ full: true }, 30_000)).ok, true);
    const cl = await c.cleanup({ maxArchives: 1 });
    assert.ok(cl.prunedThroughSeq > 0);
    assert.equal((await c.verify({ full: true }, 30_000)).ok, true);
    await assert.rejects(c.append('', null), (err: unknown) => err instanceof ImmutableLogRequestError && err.status === 400 && err.remoteName === 'LogInvalidEntryError');
    assert.equal((await c.ready(1e9)).ready, false);
  });
});
