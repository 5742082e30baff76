/**
 * Applying a change set safely (issue 16, "Apply safely"): checked before anything is written,
 * staged and verified in a scratch copy, promoted to the live tree atomically with a backup, and
 * rolled back from that backup exactly.
 *
 * Layout, all under `<stateDir>/coding-agent/`:
 *  - `scratch/<id>/project/` — the scratch copy of the project, `scratch/<id>/state/` — the staged
 *    state files, `scratch/<id>/staged.json` — what staging computed (the before-hash and the new
 *    bytes of every file), which promote writes as is (a diff is applied once, in staging).
 *  - `backups/<id>/files/<n>` and `backups/<id>/manifest.json` — the live bytes before promotion
 *    and their hashes; `backups/<id>/rolled-back.json` once rolled back.
 *
 * Choices:
 *  - **The scratch copy** is a plain copy of the project tree (every file but `.git`, `node_modules`,
 *    the state directory when it lies inside and the top-level `.layer1*` state directories of other
 *    configs), with `node_modules` symlinked to the live one (copied when the change set writes there).
 *    Not `git worktree add`: a worktree has HEAD only — no `dist/` (what the kernels run and the
 *    targeted tests execute), no uncommitted work — and it writes into the shared `.git`. The copy
 *    works offline, takes a fraction of a second for this project, and the checks run in it exactly
 *    as in the live tree (`runProjectCheck` with `root`).
 *  - **Which project files a change set may write**: files tracked by git (`git ls-files
 *    --error-unmatch`, new files included when they are tracked at HEAD) and files under
 *    `node_modules/` or `dist/` — generated output, restorable from the lock file or the build, and
 *    exactly where the syntax-error and import-error fixers write. Anything else (an untracked file,
 *    `.git/`, a path whose real location leaves the root) is refused. State files must be inside the
 *    state directory (again by real path), and not under `coding-agent/` (this module's own records).
 *
 * Idempotence: staging starts from a fresh copy each time; promote backs up once (the manifest is
 * written only after every backup is on disk, and a file whose live hash is already the after-hash
 * is not written again); rollback writes the backed-up bytes, which is the same however often it runs.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, realpathSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, readlink, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { applyPatch, createTwoFilesPatch, parsePatch } from 'diff';
import { writeFileAtomic } from '../snapshots/store';
import { readProposal } from './proposals';
import { runCommand } from '../verification/loop';
import { refuseUnsafePath, UnsafeChangeError, type ApplyCommand, type ChangeSet, type FileChange } from './change-set';
import type { VerificationCheckReport } from '../../contracts/verification';

const execFileP = promisify(execFile);

/** Where this module keeps its scratch copies and backups, under the state directory. */
export const CODING_AGENT_DIR = 'coding-agent';
/** Project folders a change set may write although git does not track them: generated output. */
export const GENERATED_DIRS: readonly string[] = ['node_modules', 'dist'];
/** Default timeout of a change set's command. */
export const COMMAND_TIMEOUT_MS = 120_000;

export interface ApplyRoots {
  projectRoot: string;
  stateDir: string;
}

export interface ApplyOptions extends ApplyRoots {
  /** The change set's id: names its scratch copy, its backup and its records. */
  id: string;
}

export const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

/** The sha256 of a file, or null when it does not exist. */
export async function hashFile(file: string): Promise<string | null> {
  try {
    return sha256(await readFile(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

const rootDir = (roots: ApplyRoots, root: FileChange['root']): string => path.resolve(root === 'project' ? roots.projectRoot : roots.stateDir);

/** The real path of `p`, or of its nearest existing parent joined with the rest (a file not yet there). */
function realpathNearest(p: string): string {
  let cur = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(realpathSync(cur), ...rest.reverse());
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return p;
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

const inside = (dir: string, p: string): boolean => p === dir || p.startsWith(dir.endsWith(path.sep) ? dir : dir + path.sep);

async function gitTracked(projectRoot: string, rel: string): Promise<boolean> {
  try {
    await execFileP('git', ['ls-files', '--error-unmatch', '--', rel], { cwd: projectRoot });
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses a change set before anything is written: a path that is absolute or climbs out (`..`), a
 * file or parent that is a symlink leading out of its root, a project file neither tracked by git
 * nor generated output, a state file under this module's own folder, a file named twice, a change
 * with both or neither of `content` and `diff`.
 * @throws UnsafeChangeError naming the path and the reason
 */
export async function checkChangeSet(cs: ChangeSet, roots: ApplyRoots): Promise<void> {
  const seen = new Set<string>();
  for (const f of cs.files) {
    refuseUnsafePath(f);
    const key = `${f.root}:${path.posix.normalize(f.path)}`;
    if (seen.has(key)) throw new UnsafeChangeError(`${key}: named twice in the change set`);
    seen.add(key);
    const hasContent = f.content !== undefined;
    if (hasContent === (f.diff !== undefined)) throw new UnsafeChangeError(`${key}: a file change needs exactly one of content and diff`);
    const root = realpathNearest(rootDir(roots, f.root));
    const target = path.join(rootDir(roots, f.root), f.path);
    const real = realpathNearest(target);
    if (!inside(root, real)) throw new UnsafeChangeError(`${key}: resolves to ${real}, outside its root ${root} (a symlink leaves it)`);
    try {
      if (lstatSync(target).isSymbolicLink()) throw new UnsafeChangeError(`${key}: is a symlink; a change set writes regular files only`);
    } catch (err) {
      if (err instanceof UnsafeChangeError) throw err;
    }
    const rel = path.relative(root, real).split(path.sep).join('/');
    if (f.root === 'state') {
      if (rel === CODING_AGENT_DIR || rel.startsWith(`${CODING_AGENT_DIR}/`)) throw new UnsafeChangeError(`${key}: the coding agent's own scratch copies and backups are not writable by a change set`);
      continue;
    }
    const first = rel.split('/')[0]!;
    if (first === '.git') throw new UnsafeChangeError(`${key}: inside .git`);
    if (GENERATED_DIRS.includes(first)) continue;
    if (!(await gitTracked(root, rel))) throw new UnsafeChangeError(`${key}: not tracked by git and not generated output (${GENERATED_DIRS.join('/, ')}/): refused`);
  }
}

/** One file as staged: its hash before (live, when staged), its new bytes (base64; null: deleted). */
export interface StagedFile {
  root: FileChange['root'];
  path: string;
  source: string;
  beforeSha256: string | null;
  afterSha256: string | null;
  /** base64 of the new bytes; null to delete. */
  after: string | null;
  /** The unified diff from the live file to the new one (jsdiff's createTwoFilesPatch; binary files say so). */
  diff: string;
}

export interface Staged {
  id: string;
  /** The scratch copy of the project, where the checks run. */
  scratchRoot: string;
  files: StagedFile[];
  /** The commands run in the scratch copy, with their output. */
  commands: Array<{ why: string; command: string; ok: boolean; exitCode: number | null; output: string }>;
  /** False when a scratch command failed: not verified, never promoted. */
  ok: boolean;
  /** What the checks see in the copy, as one hash ({@link scratchFingerprint}); null when staging failed. */
  fingerprint?: string | null;
}

export const scratchDirOf = (stateDir: string, id: string): string => path.join(path.resolve(stateDir), CODING_AGENT_DIR, 'scratch', id);
export const backupDirOf = (stateDir: string, id: string): string => path.join(path.resolve(stateDir), CODING_AGENT_DIR, 'backups', id);

function refuseBadId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) throw new UnsafeChangeError(`change set id "${id}": letters, digits, . _ - only`);
}

const isText = (buf: Buffer): boolean => !buf.includes(0);

/** The new bytes of one change, from the live bytes: its content, or its diff applied (refused when it does not apply). */
function newBytes(f: FileChange, live: Buffer | null, stateDir: string): Buffer | null {
  const key = `${f.root}:${f.path}`;
  if (f.diff !== undefined) {
    let patches;
    try {
      patches = parsePatch(f.diff);
    } catch (err) {
      throw new UnsafeChangeError(`${key}: the diff does not parse: ${(err as Error).message}`);
    }
    if (patches.length !== 1) throw new UnsafeChangeError(`${key}: the diff must patch exactly one file, it patches ${patches.length}`);
    const out = applyPatch(live ? live.toString('utf8') : '', patches[0]!);
    if (out === false) throw new UnsafeChangeError(`${key}: the diff does not apply to the current file`);
    return Buffer.from(out, 'utf8');
  }
  if (f.content === null || f.content === undefined) return null;
  if (f.content.encoding === 'proposal') return readProposal(stateDir, f.content.data, key);
  return Buffer.from(f.content.data, f.content.encoding);
}

/** `{root}` in a command's argv replaced by the tree it runs in. */
const argvIn = (cmd: ApplyCommand, root: string): string[] => cmd.argv.map((a) => a.split('{root}').join(root));

async function readOrNull(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * Checks the change set, makes a fresh scratch copy of the project, writes the new files there (and
 * the state files under `scratch/<id>/state/`), runs the change set's commands in the copy, and
 * records what it computed in `staged.json`. Never writes to the live tree.
 */
export async function stageChangeSet(cs: ChangeSet, opts: ApplyOptions): Promise<Staged> {
  refuseBadId(opts.id);
  await checkChangeSet(cs, opts);
  const projectRoot = path.resolve(opts.projectRoot);
  const stateDir = path.resolve(opts.stateDir);
  // Every diff applied (and refused) before any copy is made: a change set that does not apply costs nothing.
  const files: StagedFile[] = [];
  for (const f of cs.files) {
    const live = await readOrNull(path.join(rootDir(opts, f.root), f.path));
    const after = newBytes(f, live, opts.stateDir);
    const label = `${f.root}/${f.path}`;
    const diff = (live === null || isText(live)) && (after === null || isText(after))
      ? createTwoFilesPatch(`a/${label}`, `b/${label}`, live?.toString('utf8') ?? '', after?.toString('utf8') ?? '')
      : `Binary file ${label}: ${live ? sha256(live) : 'absent'} -> ${after ? sha256(after) : 'absent'}\n`;
    files.push({
      root: f.root,
      path: path.posix.normalize(f.path),
      source: f.source,
      beforeSha256: live ? sha256(live) : null,
      afterSha256: after ? sha256(after) : null,
      after: after ? after.toString('base64') : null,
      diff,
    });
  }

  const scratch = scratchDirOf(stateDir, opts.id);
  const scratchRoot = path.join(scratch, 'project');
  // A fresh copy each time: a retried staging never sees a half-written earlier one.
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  // Left out: git's own data, node_modules (symlinked below), this state directory, and the state
  // directories of the project's other configs (`.layer1*`: logs and snapshots, large and changing).
  const skip = new Set([path.join(projectRoot, '.git'), path.join(projectRoot, 'node_modules'), stateDir]);
  for (const name of await readdir(projectRoot)) if (name.startsWith('.layer1')) skip.add(path.join(projectRoot, name));
  await copyTree(projectRoot, scratchRoot, skip);
  if (existsSync(path.join(projectRoot, 'node_modules'))) await symlink(realpathSync(path.join(projectRoot, 'node_modules')), path.join(scratchRoot, 'node_modules'));
  for (const f of files) {
    const base = f.root === 'project' ? scratchRoot : path.join(scratch, 'state');
    const target = path.join(base, f.path);
    // A write under node_modules in the copy would land in the live one through the symlink: replace the link with a copy first.
    if (f.root === 'project' && f.path.split('/')[0] === 'node_modules') await unshareNodeModules(projectRoot, scratchRoot);
    if (f.after === null) await rm(target, { force: true });
    else {
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, Buffer.from(f.after, 'base64'));
    }
  }
  const commands: Staged['commands'] = [];
  let ok = true;
  for (const c of cs.commands) {
    const r = await runCommand(argvIn(c, scratchRoot), { cwd: scratchRoot, timeoutMs: c.timeoutMs ?? COMMAND_TIMEOUT_MS, name: c.why, env: { LAYER1_TEST_STACK: 'off' } });
    commands.push({ why: c.why, command: r.command, ok: r.ok, exitCode: r.exitCode, output: r.output });
    if (!r.ok) {
      ok = false;
      break;
    }
  }
  const fingerprint = ok ? await scratchFingerprint(scratchRoot, projectRoot, files) : null;
  const staged: Staged = { id: opts.id, scratchRoot, files, commands, ok, fingerprint };
  await writeFileAtomic(path.join(scratch, 'staged.json'), JSON.stringify(staged));
  return staged;
}

/**
 * What the checks in a scratch copy can see, as one SHA-256: every file of the copy but
 * node_modules (its path and content; a symlink by its target), the lock file node_modules was
 * installed from (`node_modules/.package-lock.json`), and the change set's own files under
 * node_modules and in the state tree. Two copies with the same fingerprint give the checks the same
 * bytes, so a verification of one holds for the other (the change-set workflow keeps it).
 */
export async function scratchFingerprint(scratchRoot: string, projectRoot: string, files: readonly StagedFile[]): Promise<string> {
  const lines: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (r === 'node_modules') continue;
      const abs = path.join(dir, e.name);
      if (e.isSymbolicLink()) lines.push(`${r}\0link\0${await readlink(abs)}`);
      else if (e.isDirectory()) await walk(abs, r);
      else if (e.isFile()) lines.push(`${r}\0${sha256(await readFile(abs))}`);
    }
  };
  await walk(scratchRoot, '');
  const lock = await readOrNull(path.join(projectRoot, 'node_modules', '.package-lock.json'));
  lines.push(`node_modules/.package-lock.json\0${lock ? sha256(lock) : 'absent'}`);
  for (const f of files) if (f.root === 'state' || f.path.startsWith('node_modules/')) lines.push(`${f.root}:${f.path}\0${f.afterSha256 ?? 'absent'}`);
  return sha256(Buffer.from(lines.join('\n')));
}

/**
 * Copies `src` to `dst` without the `skip` paths. A folder holding a skipped path (the state
 * directory, and with it the scratch copy itself, often lies inside the project) is walked by hand:
 * `fs.cp` refuses to copy a folder into its own subfolder, even one its filter would leave out.
 */
async function copyTree(src: string, dst: string, skip: Set<string>): Promise<void> {
  await mkdir(dst, { recursive: true });
  for (const name of await readdir(src)) {
    const from = path.join(src, name);
    if (skip.has(from)) continue;
    const holdsSkipped = [...skip].some((k) => inside(from, k));
    if (holdsSkipped && lstatSync(from).isDirectory()) await copyTree(from, path.join(dst, name), skip);
    else await cp(from, path.join(dst, name), { recursive: true, verbatimSymlinks: true });
  }
}

async function unshareNodeModules(projectRoot: string, scratchRoot: string): Promise<void> {
  const nm = path.join(scratchRoot, 'node_modules');
  if (!lstatSync(nm).isSymbolicLink()) return;
  await unlink(nm);
  // In a child process (`cp -a`, symlinks kept as they are): copying hundreds of MB in this worker
  // would keep it above the cpu_pressure threshold for seconds, and its own playbook would kill it.
  await execFileP('cp', ['-a', '--reflink=auto', path.join(projectRoot, 'node_modules'), nm]);
}

/** What staging recorded, read back (promote writes these bytes, not the diff again). */
export async function readStaged(stateDir: string, id: string): Promise<Staged> {
  refuseBadId(id);
  const file = path.join(scratchDirOf(stateDir, id), 'staged.json');
  const raw = await readOrNull(file);
  if (!raw) throw new UnsafeChangeError(`change set ${id}: not staged (no ${file})`);
  return JSON.parse(raw.toString('utf8')) as Staged;
}

/** A check's report: the verification contract's (contracts/verification.ts), any check name. */
export type CheckReport = Omit<VerificationCheckReport, 'name' | 'passedAt'> & { name: string };

/** A check runs in a root with the changed project files; injectable, so tests can make one fail. */
export type StagedCheck = (root: string, changedFiles: string[]) => Promise<CheckReport>;

/** A check that runs one argv in the root (`{root}` replaced). */
export function commandCheck(name: string, argv: string[], timeoutMs = COMMAND_TIMEOUT_MS): StagedCheck {
  return async (root) => {
    const startedAt = new Date();
    const r = await runCommand(argv.map((a) => a.split('{root}').join(root)), { cwd: root, timeoutMs, name, env: { LAYER1_TEST_STACK: 'off' } });
    return { name, ok: r.ok, command: r.command, exitCode: r.exitCode, output: r.output, ms: r.ms, startedAt: startedAt.toISOString() };
  };
}

export interface Verified {
  ok: boolean;
  checks: CheckReport[];
}

/**
 * Runs every check in the scratch copy (all of them, even after a failure, so the incident shows
 * every failing output at once). A staging whose commands failed is not verified.
 */
export async function verifyStaged(staged: Staged, checks: StagedCheck[]): Promise<Verified> {
  if (!staged.ok) return { ok: false, checks: [] };
  const changed = staged.files.filter((f) => f.root === 'project').map((f) => f.path);
  const out: CheckReport[] = [];
  for (const check of checks) out.push(await check(staged.scratchRoot, changed));
  return { ok: out.every((c) => c.ok), checks: out };
}

/** One file of a backup manifest. */
export interface BackupEntry {
  root: FileChange['root'];
  path: string;
  beforeSha256: string | null;
  afterSha256: string | null;
  /** Under the backup dir; null when the file was absent before (rollback deletes it). */
  backupFile: string | null;
}

export interface BackupManifest {
  id: string;
  createdAt: string;
  files: BackupEntry[];
  /** The commands run live after the files are in place, and again after a rollback. */
  liveCommands: ApplyCommand[];
}

export interface Promoted {
  id: string;
  files: Array<{ root: FileChange['root']; path: string; beforeSha256: string | null; afterSha256: string | null; written: boolean }>;
  commands: Array<{ why: string; command: string; ok: boolean; exitCode: number | null; output: string }>;
  ok: boolean;
}

async function runLive(cmds: ApplyCommand[], projectRoot: string): Promise<Promoted['commands']> {
  const out: Promoted['commands'] = [];
  for (const c of cmds) {
    const r = await runCommand(argvIn(c, projectRoot), { cwd: projectRoot, timeoutMs: c.timeoutMs ?? COMMAND_TIMEOUT_MS, name: c.why, env: { LAYER1_TEST_STACK: 'off' } });
    out.push({ why: c.why, command: r.command, ok: r.ok, exitCode: r.exitCode, output: r.output });
    if (!r.ok) break;
  }
  return out;
}

async function readManifest(stateDir: string, id: string): Promise<BackupManifest | null> {
  const raw = await readOrNull(path.join(backupDirOf(stateDir, id), 'manifest.json'));
  return raw ? (JSON.parse(raw.toString('utf8')) as BackupManifest) : null;
}

/** The backup manifest of a promoted change set. @throws UnsafeChangeError when there is none */
export async function backupManifest(stateDir: string, id: string): Promise<BackupManifest> {
  refuseBadId(id);
  const m = await readManifest(stateDir, id);
  if (!m) throw new UnsafeChangeError(`change set ${id}: no backup (it was never promoted)`);
  return m;
}

/**
 * Promotes a staged (and verified) change set to the live tree: backs up every file it changes
 * (bytes and sha256, or "absent"), writes the manifest once every backup is on disk, then writes
 * each file atomically (temp file + rename) and runs the `live` commands.
 *
 * Idempotent: a retry after a crash finds the manifest and never backs up again (the live file may
 * already be the new one); a file already at its after-hash is not written again. A live file that
 * is neither its before- nor its after-hash changed since staging: refused, nothing more written.
 */
export async function promote(cs: ChangeSet, opts: ApplyOptions): Promise<Promoted> {
  refuseBadId(opts.id);
  const staged = await readStaged(opts.stateDir, opts.id);
  if (!staged.ok) throw new UnsafeChangeError(`change set ${opts.id}: its staging failed; not promoted`);
  await checkChangeSet(cs, opts);
  const dir = backupDirOf(opts.stateDir, opts.id);
  let manifest = await readManifest(opts.stateDir, opts.id);
  if (!manifest) {
    // Nothing written live yet: every live file must still be what staging saw.
    const entries: BackupEntry[] = [];
    await rm(dir, { recursive: true, force: true });
    await mkdir(path.join(dir, 'files'), { recursive: true });
    for (const [i, f] of staged.files.entries()) {
      const live = await readOrNull(path.join(rootDir(opts, f.root), f.path));
      const now = live ? sha256(live) : null;
      if (now !== f.beforeSha256) throw new UnsafeChangeError(`${f.root}:${f.path}: changed since it was staged (sha256 ${now ?? 'absent'}, staged from ${f.beforeSha256 ?? 'absent'}); stage again`);
      let backupFile: string | null = null;
      if (live) {
        backupFile = `files/${i}`;
        await writeFileAtomic(path.join(dir, backupFile), live);
      }
      entries.push({ root: f.root, path: f.path, beforeSha256: f.beforeSha256, afterSha256: f.afterSha256, backupFile });
    }
    manifest = { id: opts.id, createdAt: new Date().toISOString(), files: entries, liveCommands: cs.commands.filter((c) => c.live) };
    await writeFileAtomic(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  }
  const files: Promoted['files'] = [];
  for (const f of staged.files) {
    const target = path.join(rootDir(opts, f.root), f.path);
    const now = await hashFile(target);
    if (now === f.afterSha256) {
      files.push({ root: f.root, path: f.path, beforeSha256: f.beforeSha256, afterSha256: f.afterSha256, written: false });
      continue;
    }
    if (now !== f.beforeSha256) throw new UnsafeChangeError(`${f.root}:${f.path}: changed by someone else during promotion (sha256 ${now ?? 'absent'})`);
    if (f.after === null) await rm(target, { force: true });
    else {
      await mkdir(path.dirname(target), { recursive: true });
      await writeFileAtomic(target, Buffer.from(f.after, 'base64'));
    }
    const after = await hashFile(target);
    if (after !== f.afterSha256) throw new Error(`${f.root}:${f.path}: written, but its sha256 is ${after ?? 'absent'}, not ${f.afterSha256 ?? 'absent'}`);
    files.push({ root: f.root, path: f.path, beforeSha256: f.beforeSha256, afterSha256: f.afterSha256, written: true });
  }
  const commands = await runLive(manifest.liveCommands, path.resolve(opts.projectRoot));
  return { id: opts.id, files, commands, ok: commands.every((c) => c.ok) };
}

export interface RolledBack {
  id: string;
  files: Array<{ root: FileChange['root']; path: string; restoredSha256: string | null; expectedSha256: string | null; ok: boolean }>;
  commands: Promoted['commands'];
  ok: boolean;
}

/**
 * Restores every file of a promoted change set exactly from its backup (deleting the files that were
 * absent), checks each hash against the before-hash, and runs the live commands again (a rebuild of
 * what depends on them). Refuses, writing nothing, when a file is neither its promoted nor its
 * previous bytes. Idempotent: it writes the same bytes however often it runs.
 */
export async function rollback(opts: ApplyOptions): Promise<RolledBack> {
  const manifest = await backupManifest(opts.stateDir, opts.id);
  const dir = backupDirOf(opts.stateDir, opts.id);
  // Before anything is written: a file changed since the promotion (by hand, by a later fix) is not
  // overwritten silently; the operator decides (restore it by hand, or put the promoted bytes back).
  for (const f of manifest.files) {
    refuseUnsafePath(f);
    const now = await hashFile(path.join(rootDir(opts, f.root), f.path));
    if (now !== f.afterSha256 && now !== f.beforeSha256) {
      throw new UnsafeChangeError(`${f.root}:${f.path}: changed since the promotion (sha256 ${now ?? 'absent'}, promoted ${f.afterSha256 ?? 'absent'}); not rolled back`);
    }
  }
  const files: RolledBack['files'] = [];
  for (const f of manifest.files) {
    const target = path.join(rootDir(opts, f.root), f.path);
    if (f.backupFile === null) await rm(target, { force: true });
    else {
      const bytes = await readFile(path.join(dir, f.backupFile));
      if (sha256(bytes) !== f.beforeSha256) throw new Error(`${f.root}:${f.path}: its backup is damaged (sha256 ${sha256(bytes)}, recorded ${f.beforeSha256})`);
      await mkdir(path.dirname(target), { recursive: true });
      if ((await hashFile(target)) !== f.beforeSha256) await writeFileAtomic(target, bytes);
    }
    const restored = await hashFile(target);
    files.push({ root: f.root, path: f.path, restoredSha256: restored, expectedSha256: f.beforeSha256, ok: restored === f.beforeSha256 });
  }
  const commands = await runLive(manifest.liveCommands, path.resolve(opts.projectRoot));
  const ok = files.every((f) => f.ok) && commands.every((c) => c.ok);
  await writeFileAtomic(path.join(dir, 'rolled-back.json'), JSON.stringify({ at: new Date().toISOString(), ok, files }));
  return { id: opts.id, files, commands, ok };
}

/** Drops a change set's scratch copy once verified (whatever the outcome); `staged.json`, which promote reads, and the backup stay. */
export async function removeScratch(stateDir: string, id: string): Promise<void> {
  refuseBadId(id);
  for (const sub of ['project', 'state']) await rm(path.join(scratchDirOf(stateDir, id), sub), { recursive: true, force: true });
}
