/**
 * Snapshots of files of the state directory, for playbooks that must be able to put a file back.
 *
 * A snapshot is a directory `<stateDir>/snapshots/<label>/<snapshotId>/` holding a copy of each
 * file under `files/` (at its path relative to the state directory) and `manifest.json` with each
 * file's SHA-256, size and mode. It is written under a temporary name and renamed into place only
 * once every file and the manifest are fsynced, so a snapshot that exists is complete. Restoring
 * checks the snapshot's copy against the manifest before copying and the copy after, then renames
 * it over the target, so the target is either the old file or the verified one, never half of each.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { confinePath, relativeToState } from '../playbooks/paths';

export const SNAPSHOTS_DIR = 'snapshots';
const MANIFEST = 'manifest.json';
const FILES = 'files';
const TMP_PREFIX = '.tmp-';

export interface SnapshotFile {
  /** Relative to the state directory. */
  path: string;
  sha256: string;
  bytes: number;
  mode: number;
}

export interface SnapshotManifest {
  version: 1;
  id: string;
  label: string;
  createdAt: string;
  /** What the id was derived from (a playbook run and step), when given. */
  key: string | null;
  files: SnapshotFile[];
}

/** No snapshot with that id, or none that holds the file. */
export class SnapshotNotFoundError extends Error {
  override name = 'SnapshotNotFoundError';
  constructor(
    readonly snapshot: string | null,
    readonly file: string | null,
  ) {
    super(
      snapshot && file
        ? `snapshot ${snapshot} does not hold ${file}`
        : snapshot
          ? `no snapshot with id ${snapshot}`
          : `no snapshot holds ${file}`,
    );
  }
}

/** A file's SHA-256 is not what the manifest says: the snapshot copy is damaged, or the restored copy is. */
export class ChecksumMismatchError extends Error {
  override name = 'ChecksumMismatchError';
  constructor(
    readonly snapshot: string,
    readonly file: string,
    /** `snapshot`: the copy inside the snapshot; `restored`: the copy written for the restore. */
    readonly stage: 'snapshot' | 'restored',
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${stage === 'snapshot' ? 'snapshot copy' : 'restored copy'} of ${file} in ${snapshot} has SHA-256 ${actual}, manifest says ${expected}`);
  }
}

export interface TakeResult {
  manifest: SnapshotManifest;
  /** False when the snapshot already existed (a retry of the same take). */
  created: boolean;
  dir: string;
}

export interface RestoreResult {
  path: string;
  snapshot: string;
  sha256: string;
  /** False when the file already had the snapshot's content. */
  restored: boolean;
}

/** A snapshot id derived from an idempotency key, so a retried take finds the same snapshot. */
export function snapshotIdOf(key: string): string {
  return `snap-${createHash('sha256').update(key).digest('hex').slice(0, 24)}`;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** fsync a file or a directory (a directory's entry list: makes a rename or create durable). */
export async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `content` to `file` atomically: a temporary file in the same directory, fsync, rename, fsync of the directory. */
export async function writeFileAtomic(file: string, content: string | Buffer): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content);
  await fsyncPath(tmp);
  await rename(tmp, file);
  await fsyncPath(path.dirname(file));
}

export class SnapshotStore {
  /** `<stateDir>/snapshots` */
  readonly root: string;

  constructor(readonly stateDir: string) {
    this.root = path.join(path.resolve(stateDir), SNAPSHOTS_DIR);
  }

  /**
   * Copies `paths` (files or directories, relative to the state directory) into snapshot `id`.
   * Idempotent: when the snapshot exists it is returned as it is; a half-written one left by a
   * crash is discarded and written again.
   * @throws PathEscapeError when a path leaves the state directory
   */
  async take(options: { id: string; label: string; paths: string[]; key?: string }): Promise<TakeResult> {
    const { id, label } = options;
    const labelDir = path.join(this.root, label);
    const dir = path.join(labelDir, id);
    const existing = await readManifest(dir);
    if (existing) return { manifest: existing, created: false, dir };

    const sources = new Map<string, string>();
    const realRoot = confinePath(this.stateDir, SNAPSHOTS_DIR);
    for (const p of options.paths) {
      for (const abs of await this.walk(confinePath(this.stateDir, p), realRoot)) sources.set(relativeToState(this.stateDir, abs), abs);
    }
    const tmp = path.join(labelDir, `${TMP_PREFIX}${id}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(path.join(tmp, FILES), { recursive: true });
    const files: SnapshotFile[] = [];
    for (const [rel, abs] of [...sources].sort(([a], [b]) => a.localeCompare(b))) {
      const copy = path.join(tmp, FILES, rel);
      await mkdir(path.dirname(copy), { recursive: true });
      await copyFile(abs, copy);
      await fsyncPath(copy);
      // The checksum is of the copy, so the manifest describes exactly what the snapshot holds.
      const st = await stat(copy);
      files.push({ path: rel, sha256: await sha256File(copy), bytes: st.size, mode: (await stat(abs)).mode & 0o7777 });
    }
    const manifest: SnapshotManifest = { version: 1, id, label, createdAt: new Date().toISOString(), key: options.key ?? null, files };
    await writeFile(path.join(tmp, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    await fsyncPath(path.join(tmp, MANIFEST));
    await fsyncPath(tmp);
    // The rename is the commit point: before it there is no snapshot, after it a complete one.
    await rename(tmp, dir);
    await fsyncPath(labelDir);
    return { manifest, created: true, dir };
  }

  /** Every complete snapshot, newest first. */
  async list(): Promise<SnapshotManifest[]> {
    const out: SnapshotManifest[] = [];
    for (const label of await this.labels()) out.push(...(await this.listLabel(label)));
    return out.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  }

  /** The labels snapshots were taken under (one directory each). */
  labels(): Promise<string[]> {
    return readdirOrEmpty(this.root);
  }

  /** Every complete snapshot of one label, in no particular order. */
  async listLabel(label: string): Promise<SnapshotManifest[]> {
    const out: SnapshotManifest[] = [];
    for (const id of await readdirOrEmpty(path.join(this.root, label))) {
      if (id.startsWith(TMP_PREFIX)) continue;
      const m = await readManifest(path.join(this.root, label, id));
      if (m) out.push(m);
    }
    return out;
  }

  /**
   * The modification time of a label's directory, or null when it is gone: it changes whenever a
   * snapshot is committed into the label (the rename) or moved out of it, so a reader can keep what
   * it learned of a label until it changes instead of reading every manifest again.
   */
  async labelStamp(label: string): Promise<number | null> {
    try {
      return (await stat(path.join(this.root, label))).mtimeMs;
    } catch {
      return null;
    }
  }

  /** The snapshot with that id, in any label. */
  async get(id: string): Promise<SnapshotManifest | null> {
    return (await this.list()).find((m) => m.id === id) ?? null;
  }

  /** Where snapshot `m` keeps its copy of `file`. */
  copyPath(m: SnapshotManifest, file: string): string {
    return path.join(this.root, m.label, m.id, FILES, file);
  }

  /**
   * Puts `requested` back as snapshot `snapshotId` (default: the newest snapshot that holds it) has it.
   * Idempotent: a file that already has the snapshot's checksum is left alone.
   * @throws PathEscapeError, SnapshotNotFoundError, ChecksumMismatchError
   */
  async restore(requested: string, snapshotId?: string): Promise<RestoreResult> {
    const target = confinePath(this.stateDir, requested);
    const rel = relativeToState(this.stateDir, target);
    let manifest: SnapshotManifest | undefined;
    if (snapshotId) {
      const m = await this.get(snapshotId);
      if (!m) throw new SnapshotNotFoundError(snapshotId, null);
      manifest = m;
    } else {
      manifest = (await this.list()).find((m) => m.files.some((f) => f.path === rel));
    }
    const entry = manifest?.files.find((f) => f.path === rel);
    if (!manifest || !entry) throw new SnapshotNotFoundError(snapshotId ?? null, rel);

    const source = this.copyPath(manifest, rel);
    const before = await sha256File(source);
    if (before !== entry.sha256) throw new ChecksumMismatchError(manifest.id, rel, 'snapshot', entry.sha256, before);

    // Idempotent: the target already is the snapshot's file (a retry after the rename, or nothing to do).
    if ((await sha256File(target).catch(() => null)) === entry.sha256) {
      return { path: rel, snapshot: manifest.id, sha256: entry.sha256, restored: false };
    }
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = `${target}.restore-${process.pid}.tmp`;
    try {
      await copyFile(source, tmp);
      await chmod(tmp, entry.mode);
      await fsyncPath(tmp);
      const after = await sha256File(tmp);
      if (after !== entry.sha256) throw new ChecksumMismatchError(manifest.id, rel, 'restored', entry.sha256, after);
      // Atomic: readers see the old file or the verified copy, never a partial write.
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
    await fsyncPath(path.dirname(target));
    return { path: rel, snapshot: manifest.id, sha256: entry.sha256, restored: true };
  }

  /** Regular files at or under `abs`; the snapshots themselves are never part of a snapshot. */
  private async walk(abs: string, snapshotsRoot: string): Promise<string[]> {
    if (abs === snapshotsRoot || abs.startsWith(`${snapshotsRoot}${path.sep}`)) return [];
    const st = await lstat(abs);
    // A link is followed only while it stays inside the state directory (confinePath refuses it otherwise).
    if (st.isSymbolicLink()) return this.walk(confinePath(this.stateDir, abs), snapshotsRoot);
    if (st.isFile()) return [abs];
    if (!st.isDirectory()) return [];
    const out: string[] = [];
    for (const name of (await readdir(abs)).sort()) out.push(...(await this.walk(path.join(abs, name), snapshotsRoot)));
    return out;
  }
}

async function readManifest(dir: string): Promise<SnapshotManifest | null> {
  try {
    return JSON.parse(await readFile(path.join(dir, MANIFEST), 'utf8')) as SnapshotManifest;
  } catch {
    return null;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}
