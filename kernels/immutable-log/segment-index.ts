/**
 * Segment indexes (`index/<first seq>.idx`: each entry's byte offset, 8 bytes per entry). Derived
 * from the segments, so any of them can be checked against its segment and rebuilt.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { INDEX_RECORD_BYTES, decodeIndex, encodeIndex, indexName, parseLine, scanLines } from './format';
import { readIfExists, writeFileAtomic } from './fsutil';
import type { LogContext, RebuildIndexResult, SegmentRecord } from './types';

type Dirs = Pick<LogContext, 'segmentsDir' | 'indexDir'>;

/**
 * Loads a sealed segment's index and checks it against the manifest and the segment: right
 * length, first offset 0, increasing, and the last offset pointing at the line of the last seq.
 * Returns undefined when any of that fails.
 */
export async function loadSealedIndex(dirs: Dirs, rec: SegmentRecord): Promise<number[] | undefined> {
  const buf = await readIfExists(path.join(dirs.indexDir, indexName(rec.name)));
  if (!buf || buf.length !== rec.count * INDEX_RECORD_BYTES) return undefined;
  const offsets = decodeIndex(buf);
  if (offsets[0] !== 0) return undefined;
  for (let i = 1; i < offsets.length; i++) if (offsets[i]! <= offsets[i - 1]!) return undefined;
  const last = offsets.at(-1)!;
  if (last >= rec.bytes) return undefined;
  const h = await fsp.open(path.join(dirs.segmentsDir, rec.name), 'r');
  try {
    const len = rec.bytes - last;
    const { buffer } = await h.read(Buffer.alloc(len), 0, len, last);
    const parsed = parseLine(buffer.toString('utf8').replace(/\n$/, ''));
    if (!parsed.ok || parsed.entry.seq !== rec.lastSeq) return undefined;
  } finally {
    await h.close();
  }
  return offsets;
}

export async function rebuildSegmentIndex(dirs: Dirs, name: string): Promise<number[]> {
  const buf = await fsp.readFile(path.join(dirs.segmentsDir, name));
  const { offsets } = scanLines(buf);
  // Idempotent: the index is a pure function of the segment, so rewriting it changes nothing else.
  await writeFileAtomic(path.join(dirs.indexDir, indexName(name)), encodeIndex(offsets));
  return offsets;
}

/** Rewrites every index from its segment, the active one included (up to its acknowledged size). */
export async function rebuildIndexes(ctx: LogContext): Promise<RebuildIndexResult> {
  const t0 = performance.now();
  const { state } = ctx;
  let entries = 0;
  let segments = 0;
  for (const [name] of state.sealedOffsets) {
    const offsets = await rebuildSegmentIndex(ctx, name);
    state.sealedOffsets.set(name, offsets);
    entries += offsets.length;
    segments++;
  }
  if (state.active) {
    const buf = await fsp.readFile(path.join(ctx.segmentsDir, state.active.name));
    const { offsets } = scanLines(buf.subarray(0, state.active.size));
    state.active.offsets = offsets;
    await writeFileAtomic(path.join(ctx.indexDir, indexName(state.active.name)), encodeIndex(offsets));
    entries += offsets.length;
    segments++;
  }
  return { segments, entries, ms: Math.round(performance.now() - t0) };
}
