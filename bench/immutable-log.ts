/**
 * Immutable log throughput: appends/s with an fsync per acknowledgement (one writer), the same with
 * concurrent writers sharing fsyncs (group commit), and verification speed.
 *
 *     npx tsc -p tsconfig.json && node dist/bench/immutable-log.js [--entries N] [--dir DIR]
 *
 * DIR defaults to a temp folder under os.tmpdir(); point it at the disk the log will really use,
 * since fsync latency is what the first figure measures.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ImmutableLog } from '../kernels/immutable-log';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const payload = (i: number): Record<string, unknown> => ({
  actor: 'control-plane',
  action: 'kernel.restart',
  kernel: 'message_bus',
  attempt: i,
  reason: 'liveness probe failed 3 times in a row',
});

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { entries: { type: 'string', default: '2000' }, dir: { type: 'string' } } });
  const n = Number(values.entries);
  const base = values.dir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'immutable-log-bench-')));
  const rows: string[] = [];
  try {
    // 1. One writer, each append awaited: one write + one fdatasync per acknowledged entry.
    const single = await ImmutableLog.open({ dir: path.join(base, 'single') });
    const lat: number[] = [];
    let t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const a = performance.now();
      await single.append('audit', payload(i));
      lat.push(performance.now() - a);
    }
    let secs = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    rows.push(
      `single writer, fsync per ack : ${Math.round(n / secs)} appends/s  (p50 ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms, ${n} appends)`,
    );
    await single.close();

    // 2. 64 concurrent writers: appends that arrive during an fsync share the next one.
    const grouped = await ImmutableLog.open({ dir: path.join(base, 'grouped') });
    const total = n * 10;
    const writers = 64;
    t0 = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = w; i < total; i += writers) await grouped.append('audit', payload(i));
      }),
    );
    secs = (performance.now() - t0) / 1000;
    rows.push(`64 writers, group commit     : ${Math.round(total / secs)} appends/s  (${total} appends)`);

    // 3. Verification over everything the grouped run wrote (about 40 segments of 1 MiB at the default N).
    const head = grouped.head().seq;
    t0 = performance.now();
    const full = await grouped.verify({ full: true });
    secs = (performance.now() - t0) / 1000;
    if (!full.ok) throw new Error(`verify failed: ${JSON.stringify(full.failure)}`);
    rows.push(`full verify                  : ${Math.round(full.checked / secs)} entries/s  (${full.checked} entries, ${full.segments} segments, ${(secs * 1000).toFixed(0)} ms)`);

    const archived = await grouped.archiveSealed({ keep: 1 });
    t0 = performance.now();
    const acrossArchives = await grouped.verify({ full: true });
    secs = (performance.now() - t0) / 1000;
    if (!acrossArchives.ok) throw new Error(`verify failed: ${JSON.stringify(acrossArchives.failure)}`);
    rows.push(
      `full verify, archived (gzip) : ${Math.round(acrossArchives.checked / secs)} entries/s  (${archived.archived.length} segments archived, ${(archived.bytesIn / 1048576).toFixed(1)} MiB → ${(archived.bytesOut / 1048576).toFixed(1)} MiB in ${archived.ms} ms)`,
    );

    await grouped.append('audit', payload(-1));
    t0 = performance.now();
    const inc = await grouped.verify();
    rows.push(`incremental verify           : ${(performance.now() - t0).toFixed(1)} ms  (${inc.checked} entries re-checked of ${head + 1})`);
    await grouped.close();
  } finally {
    if (!values.dir) await fsp.rm(base, { recursive: true, force: true });
  }
  console.log(`immutable-log bench (node ${process.version}, ${os.platform()} ${os.arch()}, dir ${base})`);
  for (const r of rows) console.log(`  ${r}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
