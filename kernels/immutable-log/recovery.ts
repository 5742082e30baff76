/**
 * Opening a log directory: finish what a crash interrupted (a roll, an archive, a write of a
 * `.tmp` file), cut a torn tail from the active segment, and check every index, rebuilding the
 * missing or inconsistent ones. What it found and repaired is the {@link OpenReport}.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { GENESIS_HASH, indexName, parseSegmentName } from './format';
import { fsyncDir, unlinkIfExists } from './fsutil';
import { persistManifest, readCheckpoint, readManifest, sortManifest } from './manifest';
import { refreshUsage } from './quota';
import { loadSealedIndex, rebuildSegmentIndex } from './segment-index';
import { checkContiguity, openActiveSegment, sealFile } from './segments';
import type { LogContext, OpenReport, SegmentRecord } from './types';

/** Loads the log in `ctx.dir` into `ctx.state`, repairing what a crash left; the caller holds the directory lock. */
export async function recover(ctx: LogContext): Promise<OpenReport> {
  const t0 = performance.now();
  const { state } = ctx;
  for (const d of [ctx.segmentsDir, ctx.indexDir, ctx.archiveDir]) await fsp.mkdir(d, { recursive: true });
  // The subdirectories' own entries must be durable before the first acknowledged append lands in one.
  await fsyncDir(ctx.dir);
  const report: OpenReport = {
    truncatedBytes: 0,
    truncatedSegment: null,
    indexRebuilt: [],
    sealedOnOpen: [],
    removedLeftovers: [],
    tailCorruption: null,
    head: state.head,
    ms: 0,
  };
  const manifest = await readManifest(ctx.dir);
  if (manifest) state.manifest = manifest;
  state.checkpoint = await readCheckpoint(ctx.dir);
  await removeTmpFiles(ctx, report);

  const records = new Map(state.manifest.segments.map((r) => [r.name, r]));
  const live = (await fsp.readdir(ctx.segmentsDir)).filter((f) => parseSegmentName(f) !== undefined).sort();
  await removeArchivedOriginals(ctx, records, live, report);
  await sealRolledSegments(ctx, records, live, report);
  await loadIndexes(ctx, records, live, report);

  const lastRecord = state.manifest.segments.at(-1);
  state.head = lastRecord ? { seq: lastRecord.lastSeq, hash: lastRecord.lastHash, ts: lastRecord.lastTs } : { seq: 0, hash: GENESIS_HASH, ts: null };
  const newest = live.at(-1);
  if (newest && !records.has(newest)) await openActiveSegment(ctx, newest, report);
  checkContiguity(state);
  await refreshUsage(ctx);
  report.head = { ...state.head };
  report.ms = Math.round(performance.now() - t0);
  if (report.tailCorruption) state.failed = report.tailCorruption;
  return report;
}

/** Leftovers of an interrupted atomic write. */
async function removeTmpFiles(ctx: LogContext, report: OpenReport): Promise<void> {
  for (const d of [ctx.dir, ctx.archiveDir, ctx.indexDir]) {
    for (const f of await fsp.readdir(d)) {
      if (f.endsWith('.tmp')) {
        await unlinkIfExists(path.join(d, f));
        report.removedLeftovers.push(f);
      }
    }
  }
}

/** A crash between recording an archive and removing its original leaves both; the archive won. */
async function removeArchivedOriginals(ctx: LogContext, records: Map<string, SegmentRecord>, live: string[], report: OpenReport): Promise<void> {
  for (const name of [...live]) {
    const rec = records.get(name);
    if (rec && (rec.archive || rec.removedAt)) {
      await fsp.chmod(path.join(ctx.segmentsDir, name), 0o644).catch(() => undefined);
      await unlinkIfExists(path.join(ctx.segmentsDir, name));
      await unlinkIfExists(path.join(ctx.indexDir, indexName(name)));
      live.splice(live.indexOf(name), 1);
      report.removedLeftovers.push(name);
    }
  }
}

/** Every live file but the newest is sealed; one a crash left rolled but unrecorded gets sealed now. */
async function sealRolledSegments(ctx: LogContext, records: Map<string, SegmentRecord>, live: string[], report: OpenReport): Promise<void> {
  for (const name of live.slice(0, -1)) {
    if (records.has(name)) continue;
    const rec = await sealFile(ctx, name, parseSegmentName(name)!);
    ctx.state.manifest.segments.push(rec);
    records.set(name, rec);
    report.sealedOnOpen.push(name);
  }
  if (report.sealedOnOpen.length) {
    sortManifest(ctx);
    await persistManifest(ctx);
  }
}

/** Each sealed segment's index, checked; a missing or inconsistent one is rebuilt. */
async function loadIndexes(ctx: LogContext, records: Map<string, SegmentRecord>, live: string[], report: OpenReport): Promise<void> {
  for (const name of live) {
    const rec = records.get(name);
    if (!rec) continue;
    const offsets = await loadSealedIndex(ctx, rec);
    if (!offsets) {
      report.indexRebuilt.push(name);
      ctx.state.sealedOffsets.set(name, await rebuildSegmentIndex(ctx, name));
    } else {
      ctx.state.sealedOffsets.set(name, offsets);
    }
  }
}
