/**
 * manifest.json (each sealed segment's range, SHA-256, first link and last hash) and
 * checkpoint.json (the last verified seq and hash): read on open, replaced whole and atomically.
 */
import * as path from 'node:path';
import { LogCorruptionError } from './errors';
import { readIfExists, writeFileAtomic } from './fsutil';
import type { Checkpoint, LogContext, Manifest } from './types';

export function manifestPath(dir: string): string {
  return path.join(dir, 'manifest.json');
}

export function checkpointPath(dir: string): string {
  return path.join(dir, 'checkpoint.json');
}

/** The manifest on disk, or undefined when there is none yet. */
export async function readManifest(dir: string): Promise<Manifest | undefined> {
  const bytes = await readIfExists(manifestPath(dir));
  if (!bytes) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8')) as Manifest;
  } catch (err) {
    // The manifest is only ever replaced atomically, so unreadable means damaged, not torn.
    throw new LogCorruptionError('unparsable_line', 'manifest.json', null, 'manifest is not JSON', { cause: err });
  }
}

/** The checkpoint on disk; null when there is none or it does not parse. */
export async function readCheckpoint(dir: string): Promise<Checkpoint | null> {
  const bytes = await readIfExists(checkpointPath(dir));
  if (!bytes) return null;
  try {
    return JSON.parse(bytes.toString('utf8')) as Checkpoint;
  } catch {
    // The checkpoint only saves work; without it the next incremental verify is a full one.
    return null;
  }
}

export async function persistManifest(ctx: LogContext): Promise<void> {
  // Idempotent: the manifest is replaced whole and atomically from the in-memory copy.
  await writeFileAtomic(manifestPath(ctx.dir), `${JSON.stringify(ctx.state.manifest, null, 1)}\n`);
}

export function sortManifest(ctx: LogContext): void {
  ctx.state.manifest.segments.sort((a, b) => a.firstSeq - b.firstSeq);
}
