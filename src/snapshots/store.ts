/**
 * Snapshots of files, for playbooks that must be able to put a file back and for the scheduled
 * snapshots of each type (src/snapshots/types.ts).
 *
 * A snapshot is a directory `<stateDir>/snapshots/<label>/<snapshotId>/` holding a copy of each
 * file under `files/` (at its path relative to its root: the state directory, or for the scheduled
 * `configs` and `playbooks` the project's root or the config file's directory, named in the
 * manifest) and `manifest.json` with each file's root, SHA-256, size and mode. It is written under
 * a temporary name and renamed into place only once every file and the manifest are fsynced, so a
 * snapshot that exists is complete. Restoring checks the snapshot's copy against the manifest
 * before copying and the copy after, then renames it over the target, so the target is either the
 * old file or the verified one, never half of each; a target is written only inside its root.
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
const TRASH_PREFIX = '.trash-';
/** `<label>/latest.json`: which snapshot of the label is the latest (written atomically). */
export const LATEST_FILE = 'latest.json';

/**
 * What a file's path is relative to: the state directory, the project's root (the repository:
 * playbooks, the ACL policy) or the directory of the config file. A restore writes only inside the
 * file's root.
 */
export type SnapshotRoot = 'state' | 'project' | 'config';

const ROOT_NAMES: Record<SnapshotRoot, string> = {
  state: 'the state directory',
  project: "the project's root",
  config: "the config file's directory",
};

/** One thing to copy into a snapshot: a file or a directory, relative to its root. */
export interface SnapshotSource {
  root: SnapshotRoot;
  path: string;
  /**
   * The SHA-256 the file must have (a model file's manifest, a sealed segment's): a file that has
   * another is not copied, so a damaged file never becomes a restore point, and is reported in
   * `refused` instead.
   */
  sha256?: string;
}

export interface SnapshotFile {
  /** Relative to its root (the state directory when `root` is absent); also its place under `files/`. */
  path: string;
  /** Absent in snapshots of the state directory (and in every snapshot taken before roots existed). */
  root?: SnapshotRoot;
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
  /** Files not copied because they did not have the SHA-256 their source said (empty for an existing snapshot). */
  refused: Array<{ root: SnapshotRoot; path: string; reason: string }>;
}

/** Whether a snapshot's copies still match its manifest, and each problem when not. */
export interface SnapshotCheck {
  ok: boolean;
  problems: string[];
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
  private readonly roots: Partial<Record<SnapshotRoot, string>>;

  /** @param roots the other roots files may be taken from and restored to (see {@link SnapshotRoot}) */
  constructor(
    readonly stateDir: string,
    roots: Partial<Record<Exclude<SnapshotRoot, 'state'>, string>> = {},
  ) {
    this.root = path.join(path.resolve(stateDir), SNAPSHOTS_DIR);
    this.roots = { ...roots, state: stateDir };
  }

  /** The directory of a root. @throws Error when this store was not given it */
  rootDir(root: SnapshotRoot): string {
    const dir = this.roots[root];
    if (!dir) throw new Error(`no directory is known for snapshot root "${root}"`);
    return dir;
  }

  /**
   * Copies `paths` (files or directories, relative to the state directory) and `sources` (each
   * relative to its root) into snapshot `id`. Idempotent: when the snapshot exists it is returned
   * as it is; a half-written one left by a crash is discarded and written again.
   * @throws PathEscapeError when a path leaves its root (lexically or through a symlink)
   */
  async take(options: { id: string; label: string; paths?: string[]; sources?: SnapshotSource[]; key?: string }): Promise<TakeResult> {
    const { id, label } = options;
    const labelDir = path.join(this.root, label);
    const dir = path.join(labelDir, id);
    const existing = await readManifest(dir);
    if (existing) return { manifest: existing, created: false, dir, refused: [] };

    const all: SnapshotSource[] = [...(options.paths ?? []).map((p) => ({ root: 'state' as const, path: p })), ...(options.sources ?? [])];
    const found = new Map<string, { root: SnapshotRoot; rel: string; abs: string; sha256?: string }>();
    const snapshotsDir = confinePath(this.stateDir, SNAPSHOTS_DIR);
    for (const src of all) {
      const base = this.rootDir(src.root);
      for (const abs of await this.walk(base, src.root, confinePath(base, src.path, ROOT_NAMES[src.root]), snapshotsDir)) {
        const rel = relativeToState(base, abs);
        const seen = found.get(rel);
        // Copies live at files/<path>: two roots may give one path only when it is the same file.
        if (seen && seen.abs !== abs) throw new Error(`snapshot ${id}: ${rel} names both ${seen.abs} and ${abs}`);
        found.set(rel, { root: src.root, rel, abs, sha256: src.sha256 ?? seen?.sha256 });
      }
    }
    const tmp = path.join(labelDir, `${TMP_PREFIX}${id}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(path.join(tmp, FILES), { recursive: true });
    const files: SnapshotFile[] = [];
    const refused: TakeResult['refused'] = [];
    for (const f of [...found.values()].sort((a, b) => a.rel.localeCompare(b.rel))) {
      const copy = path.join(tmp, FILES, f.rel);
      await mkdir(path.dirname(copy), { recursive: true });
      await copyFile(f.abs, copy);
      await fsyncPath(copy);
      // The checksum is of the copy, so the manifest describes exactly what the snapshot holds.
      const sha256 = await sha256File(copy);
      if (f.sha256 !== undefined && sha256 !== f.sha256) {
        await rm(copy, { force: true });
        refused.push({ root: f.root, path: f.rel, reason: `SHA-256 ${sha256} is not the expected ${f.sha256}` });
        continue;
      }
      const st = await stat(copy);
      files.push({ path: f.rel, ...(f.root === 'state' ? {} : { root: f.root }), sha256, bytes: st.size, mode: (await stat(f.abs)).mode & 0o7777 });
    }
    const manifest: SnapshotManifest = { version: 1, id, label, createdAt: new Date().toISOString(), key: options.key ?? null, files };
    await writeFile(path.join(tmp, MANIFEST), JSON.stringify(manifest, null, 2) + '\n');
    await fsyncPath(path.join(tmp, MANIFEST));
    await fsyncPath(tmp);
    // The rename is the commit point: before it there is no snapshot, after it a complete one.
    await rename(tmp, dir);
    await fsyncPath(labelDir);
    return { manifest, created: true, dir, refused };
  }

  /** Makes `id` the label's latest snapshot. Idempotent: the pointer is replaced whole, atomically. */
  async setLatest(label: string, id: string): Promise<void> {
    await writeFileAtomic(path.join(this.root, label, LATEST_FILE), `${JSON.stringify({ id, at: new Date().toISOString() })}\n`);
  }

  /** The id of the label's latest snapshot, or null when none was marked. */
  async latestOf(label: string): Promise<string | null> {
    try {
      const { id } = JSON.parse(await readFile(path.join(this.root, label, LATEST_FILE), 'utf8')) as { id?: unknown };
      return typeof id === 'string' ? id : null;
    } catch {
      return null;
    }
  }

  /**
   * Removes a snapshot: renamed out of sight first (so it disappears at once, whole), then deleted.
   * Idempotent: a snapshot already gone is nothing to do.
   */
  async remove(label: string, id: string): Promise<boolean> {
    const dir = path.join(this.root, label, id);
    const trash = path.join(this.root, label, `${TRASH_PREFIX}${id}`);
    try {
      await rename(dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await rm(trash, { recursive: true, force: true });
      return false;
    }
    await rm(trash, { recursive: true, force: true });
    return true;
  }

  /**
   * Whether every copy in snapshot `m` has its manifest's SHA-256 and size, and every path stays in
   * its snapshot (a manifest naming `../x` is damaged, whatever the files say).
   */
  async check(m: SnapshotManifest): Promise<SnapshotCheck> {
    const problems: string[] = [];
    for (const f of m.files) {
      let copy: string;
      try {
        copy = this.confinedCopy(m, f);
      } catch (err) {
        problems.push((err as Error).message);
        continue;
      }
      const sha = await sha256File(copy).catch(() => null);
      if (sha === null) problems.push(`${f.path}: the copy is missing`);
      else if (sha !== f.sha256) problems.push(`${f.path}: SHA-256 ${sha}, manifest says ${f.sha256}`);
    }
    return { ok: problems.length === 0, problems };
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
      if (id.startsWith(TMP_PREFIX) || id.startsWith(TRASH_PREFIX) || id === LATEST_FILE) continue;
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

  /** The copy of `f` in `m`. @throws PathEscapeError when the manifest's path leaves the snapshot */
  private confinedCopy(m: SnapshotManifest, f: SnapshotFile): string {
    return confinePath(path.join(this.root, m.label, m.id, FILES), f.path, `snapshot ${m.id}`);
  }

  /**
   * Puts back every file of snapshot `id`, each into its root. Every copy is checked against the
   * manifest and every target confined to its root before anything is written, so a damaged
   * snapshot or one naming a path outside its root (`..`, or through a symlink that leaves it)
   * writes nothing. Idempotent: a file that already has the snapshot's checksum is left alone.
   * @throws SnapshotNotFoundError, PathEscapeError, ChecksumMismatchError
   */
  async restoreSnapshot(id: string): Promise<RestoreResult[]> {
    const m = await this.get(id);
    if (!m) throw new SnapshotNotFoundError(id, null);
    const plan: Array<{ entry: SnapshotFile; source: string; target: string }> = [];
    for (const entry of m.files) {
      const root = entry.root ?? 'state';
      const target = confinePath(this.rootDir(root), entry.path, ROOT_NAMES[root]);
      const source = this.confinedCopy(m, entry);
      const sha = await sha256File(source);
      if (sha !== entry.sha256) throw new ChecksumMismatchError(m.id, entry.path, 'snapshot', entry.sha256, sha);
      plan.push({ entry, source, target });
    }
    const out: RestoreResult[] = [];
    for (const p of plan) out.push({ ...(await this.put(m, p.entry, p.source, p.target)), path: p.entry.path });
    return out;
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
      manifest = (await this.list()).find((m) => m.files.some((f) => isStateFile(f, rel)));
    }
    const entry = manifest?.files.find((f) => isStateFile(f, rel));
    if (!manifest || !entry) throw new SnapshotNotFoundError(snapshotId ?? null, rel);

    const source = this.confinedCopy(manifest, entry);
    const before = await sha256File(source);
    if (before !== entry.sha256) throw new ChecksumMismatchError(manifest.id, rel, 'snapshot', entry.sha256, before);
    return this.put(manifest, entry, source, target);
  }

  /** Writes the verified copy `source` over `target` (atomically), unless it has the content already. */
  private async put(manifest: SnapshotManifest, entry: SnapshotFile, source: string, target: string): Promise<RestoreResult> {
    const rel = entry.path;

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

  /** Regular files at or under `abs` (inside `base`); the snapshots themselves are never part of a snapshot. */
  private async walk(base: string, root: SnapshotRoot, abs: string, snapshotsRoot: string): Promise<string[]> {
    if (abs === snapshotsRoot || abs.startsWith(`${snapshotsRoot}${path.sep}`)) return [];
    const st = await lstat(abs);
    // A link is followed only while it stays inside its root (confinePath refuses it otherwise).
    if (st.isSymbolicLink()) return this.walk(base, root, confinePath(base, abs, ROOT_NAMES[root]), snapshotsRoot);
    if (st.isFile()) return [abs];
    if (!st.isDirectory()) return [];
    const out: string[] = [];
    for (const name of (await readdir(abs)).sort()) out.push(...(await this.walk(base, root, path.join(abs, name), snapshotsRoot)));
    return out;
  }
}

/** A file of the state directory at `rel` (the only kind a restore by path puts back). */
export function isStateFile(f: SnapshotFile, rel: string): boolean {
  return f.path === rel && (f.root ?? 'state') === 'state';
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
