/**
 * The immutable-log process at rest, before and after a million entries: its CPU while the
 * `log_integrity` detector's verify calls arrive on their period, and the time until a flipped byte
 * in the oldest sealed segment is reported (issue #15, part 5).
 *
 *     npm run build && npm run bench:log-at-rest -- [--entries 1000000] [--port 29380] [--dir DIR]
 *       [--every-ms 10000] [--window-s 60] [--sweep 4] [--detect-every-ms 1000] [--segment-kb 1024]
 *
 * Starts `dist/kernels/immutable-log/main.js` on its own directory (a temp folder unless `--dir`)
 * and port, and stops it at the end. CPU is the process's utime + stime from /proc/PID/stat over
 * the window, while the bench calls `POST /verify` with `sweepSegments` every `--every-ms`, as the
 * trigger monitor's detector does (and `GET /usage` every 2 s and 5 s, as log_quota and disk_pressure
 * poll it). The detection phase calls verify every `--detect-every-ms` (to
 * keep the bench short) and reports rounds as well as time: at the detector's period the time is
 * rounds × everyMs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ImmutableLogClient } from '../kernels/immutable-log/client';
import type { JsonValue } from '../kernels/immutable-log/format';
import type { SegmentRecord, VerifyResult } from '../kernels/immutable-log/log';
import { REPO_ROOT } from '../src/stack/tools';
import { printTable } from './support';

/** Clock ticks per second of /proc/PID/stat (`getconf CLK_TCK`; 100 on Linux). */
const CLK_TCK = 100;

const payload = (i: number): JsonValue => ({
  actor: 'control-plane',
  action: 'kernel.restart',
  kernel: 'message_bus',
  attempt: i,
  reason: 'liveness probe failed 3 times in a row',
});

function cpuTicks(pid: number): number {
  // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th of the line.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[11]) + Number(rest[12]);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startLog(dir: string, port: number, segmentKb: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'kernels', 'immutable-log', 'main.js'), '--dir', dir, '--port', String(port), '--segment-kb', String(segmentKb)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`immutable-log exited with ${code} before listening`)));
    lines.on('line', (line) => {
      if (line.includes('"immutable-log listening"')) resolve();
    });
  });
  return child;
}

async function stopLog(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

interface AtRest {
  cpuPercent: number;
  calls: number;
  verifyMsP50: number;
  verifyMsMax: number;
  segmentsPerCall: number;
}

/**
 * The process's CPU over `windowS` while a verify arrives every `everyMs`, as the detector sends them,
 * and `GET /usage` every 2 s and 5 s, as the log_quota and disk_pressure detectors poll it.
 */
async function measureAtRest(client: ImmutableLogClient, pid: number, windowS: number, everyMs: number, sweep: number): Promise<AtRest> {
  const ms: number[] = [];
  let segments = 0;
  const pollers = [2000, 5000].map((period) => setInterval(() => void client.usage().catch(() => undefined), period));
  const t0 = performance.now();
  const ticks0 = cpuTicks(pid);
  const end = t0 + windowS * 1000;
  for (let next = t0; next < end; next += everyMs) {
    await sleep(Math.max(0, next - performance.now()));
    const v = await client.verify({ sweepSegments: sweep }, 120_000);
    if (!v.ok) throw new Error(`verify failed at rest: ${JSON.stringify(v.failure)}`);
    ms.push(v.ms);
    segments += v.segments;
  }
  await sleep(Math.max(0, end - performance.now()));
  const ticks = cpuTicks(pid) - ticks0;
  for (const p of pollers) clearInterval(p);
  const elapsedS = (performance.now() - t0) / 1000;
  ms.sort((a, b) => a - b);
  return {
    cpuPercent: (ticks / CLK_TCK / elapsedS) * 100,
    calls: ms.length,
    verifyMsP50: ms[Math.floor(ms.length / 2)]!,
    verifyMsMax: ms.at(-1)!,
    segmentsPerCall: segments / ms.length,
  };
}

async function appendMany(client: ImmutableLogClient, total: number, batch: number, parallel: number): Promise<number> {
  let sent = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (sent < total) {
      const n = Math.min(batch, total - sent);
      const first = sent;
      sent += n;
      await client.appendBatch(Array.from({ length: n }, (_, i) => ({ kind: 'audit', data: payload(first + i) })));
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return performance.now() - t0;
}

async function manifestOf(dir: string): Promise<SegmentRecord[]> {
  const text = await fsp.readFile(path.join(dir, 'manifest.json'), 'utf8').catch(() => '{"segments":[]}');
  return (JSON.parse(text) as { segments: SegmentRecord[] }).segments;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      entries: { type: 'string', default: '1000000' },
      port: { type: 'string', default: '29380' },
      dir: { type: 'string' },
      'every-ms': { type: 'string', default: '10000' },
      'window-s': { type: 'string', default: '60' },
      sweep: { type: 'string', default: '4' },
      'detect-every-ms': { type: 'string', default: '1000' },
      'segment-kb': { type: 'string', default: '1024' },
    },
  });
  const entries = Number(values.entries);
  const port = Number(values.port);
  const everyMs = Number(values['every-ms']);
  const windowS = Number(values['window-s']);
  const sweep = Number(values.sweep);
  const detectEveryMs = Number(values['detect-every-ms']);
  const base = values.dir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'log-at-rest-')));
  const dir = path.join(base, 'log');
  await fsp.rm(dir, { recursive: true, force: true });
  const child = await startLog(dir, port, Number(values['segment-kb']));
  const pid = child.pid!;
  const client = new ImmutableLogClient({ baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 120_000 });
  const rows: Array<Record<string, string | number>> = [];
  const row = (phase: string, r: AtRest, head: number, sealed: number): void => {
    rows.push({ phase, entries: head, sealed, 'cpu % of a core': r.cpuPercent.toFixed(2), 'verify calls': r.calls, 'verify ms p50/max': `${r.verifyMsP50}/${r.verifyMsMax}`, 'segments read/call': r.segmentsPerCall.toFixed(1) });
  };
  try {
    console.log(`immutable-log pid ${pid} on port ${port}, dir ${dir}; verify every ${everyMs} ms with sweepSegments ${sweep}, CPU over ${windowS} s`);
    // A small history first, so "before" has an active segment to verify like any running log.
    await appendMany(client, 1000, 1000, 1);
    await client.verify({}, 120_000);
    row('before', await measureAtRest(client, pid, windowS, everyMs, sweep), (await client.head()).seq, (await manifestOf(dir)).length);

    const appendMs = await appendMany(client, entries, 1000, 4);
    console.log(`appended ${entries} entries in ${(appendMs / 1000).toFixed(1)} s (${Math.round(entries / (appendMs / 1000))}/s, batches of 1000, 4 in flight)`);
    const catchUp = await client.verify({ sweepSegments: sweep }, 600_000);
    console.log(`first incremental verify after the appends (each new segment verified once): ${catchUp.checked} entries, ${catchUp.segments} segments, ${catchUp.ms} ms, ok ${catchUp.ok}`);
    const full = await client.verify({ full: true }, 600_000);
    console.log(`one full verify for comparison (what the detector did every round before): ${full.checked} entries, ${full.segments} segments, ${full.ms} ms = ${((full.ms / everyMs) * 100).toFixed(1)}% of a core at one per ${everyMs} ms`);
    const records = await manifestOf(dir);
    const head = (await client.head()).seq;
    row('after', await measureAtRest(client, pid, windowS, everyMs, sweep), head, records.length);
    printTable(rows);

    // A flipped byte in the oldest sealed segment, inside an entry's payload (the line still parses).
    const oldest = records[0]!;
    const file = path.join(dir, 'segments', oldest.name);
    const bytes = await fsp.readFile(file);
    const second = bytes.indexOf(0x0a) + 1;
    const at = bytes.indexOf('liveness probe', second) + 1;
    const original = bytes[at]!;
    const flip = async (value: number): Promise<void> => {
      await fsp.chmod(file, 0o644);
      const h = await fsp.open(file, 'r+');
      await h.write(Buffer.from([value]), 0, 1, at);
      await h.close();
      await fsp.chmod(file, 0o444);
    };
    await flip(original ^ 0x01);
    const bound = Math.ceil(records.length / sweep);
    try {
      const t0 = performance.now();
      let rounds = 0;
      let v: VerifyResult;
      for (let next = t0; ; next += detectEveryMs) {
        await sleep(Math.max(0, next - performance.now()));
        v = await client.verify({ sweepSegments: sweep }, 120_000);
        rounds++;
        if (!v.ok || rounds > bound + 1) break;
      }
      const seconds = (performance.now() - t0) / 1000;
      console.log(
        v.ok
          ? `NOT FOUND within ${rounds} rounds (bound ${bound})`
          : `flipped byte in the oldest sealed segment ${oldest.name} (seq ${oldest.firstSeq + 1}) reported after ${rounds} rounds, ${seconds.toFixed(1)} s at one round per ${detectEveryMs} ms: ${v.failure!.reason} at seq ${v.failure!.seq} in ${v.failure!.segment}`,
      );
      console.log(
        `bound: ceil(${records.length} sealed segments / ${sweep}) = ${bound} rounds = ${((bound * everyMs) / 1000).toFixed(0)} s at the detector's ${everyMs} ms; this run's ${rounds} rounds would take ${((rounds * everyMs) / 1000).toFixed(0)} s at that period`,
      );
    } finally {
      await flip(original);
    }
    const repaired = await client.verify({ sweepSegments: sweep }, 120_000);
    console.log(`byte restored: verify ok ${repaired.ok}`);
  } finally {
    await stopLog(child);
    if (!values.dir) await fsp.rm(base, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
