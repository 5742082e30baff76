/**
 * The import-error fixer: a process died on `Cannot find module 'X'` (or ESM's ERR_MODULE_NOT_FOUND).
 *  - X is a package (a folder under node_modules removed or renamed): its files are taken, offline,
 *    from the local npm cache at the version and integrity the lock file pins (`npm pack --offline`,
 *    which refuses anything the cache does not hold), and proposed as the files of
 *    `node_modules/X/` — so the change set is applied, verified, backed up and rolled back like any
 *    other, and nothing is fetched from the network;
 *  - X is a path (a bad import in a file of the project): the importing file (the first of Node's
 *    "Require stack") is restored from its last good version, as the syntax-error fixer does.
 * Read-only: the package is unpacked in a temporary folder, removed before returning.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { faultText, type ChangeSet, type FileChange, type Fixer, type FixerInput } from '../change-set';
import { showsFault } from '../code-faults';
import { lastGoodContent } from './sources';
import { writeProposal } from '../proposals';

const run = promisify(execFile);

/** The specifier Node could not find, and the file that asked for it (when it says). */
export function missingModule(text: string): { specifier: string; from: string | null } | null {
  const m = /Cannot find (?:module|package) '([^']+)'(?: imported from (\S+))?/.exec(text);
  if (!m) return null;
  const stack = /Require stack:\n- (\S+)/.exec(text);
  return { specifier: m[1], from: m[2] ?? stack?.[1] ?? null };
}

/** The package of a bare specifier (`@scope/name/sub` → `@scope/name`), or null for a path or a node: builtin. */
export function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The version the lock file pins for a top-level package. */
export async function lockedVersion(root: string, pkg: string): Promise<{ version: string; integrity: string | null } | null> {
  const lock = JSON.parse(await readFile(path.join(root, 'package-lock.json'), 'utf8')) as { packages?: Record<string, { version?: string; integrity?: string }> };
  const entry = lock.packages?.[`node_modules/${pkg}`];
  return entry?.version ? { version: entry.version, integrity: entry.integrity ?? null } : null;
}

async function walk(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p, base)));
    else if (e.isFile()) out.push(path.relative(base, p));
  }
  return out.sort();
}

/**
 * The files of `pkg@version` from the npm cache, offline, as file changes under node_modules/: their
 * bytes written as a proposal (src/coding-agent/proposals.ts) the change set names.
 */
async function packageFiles(root: string, stateDir: string, pkg: string, version: string, integrity: string | null): Promise<FileChange[]> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'layer1-pack-'));
  try {
    // --offline: the cache or nothing; the lock's integrity is what npm checks the tarball against.
    const { stdout } = await run('npm', ['pack', `${pkg}@${version}`, '--offline', '--json', '--pack-destination', tmp], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
    const [packed] = JSON.parse(stdout) as Array<{ filename: string; integrity?: string }>;
    if (integrity && packed.integrity && packed.integrity !== integrity) throw new Error(`${pkg}@${version}: the cache's integrity ${packed.integrity} is not the lock's ${integrity}`);
    const unpacked = path.join(tmp, 'unpacked');
    await mkdir(unpacked);
    await run('tar', ['-xzf', path.join(tmp, path.basename(packed.filename)), '-C', unpacked, '--strip-components=1', '--no-same-owner']);
    const rels = await walk(unpacked);
    const files = await Promise.all(rels.map(async (rel) => ({ path: rel, bytes: await readFile(path.join(unpacked, rel)) })));
    const contents = await writeProposal(stateDir, `${pkg.replace('/', '+')}@${version}`, files);
    return rels.map((rel, i) => ({ root: 'project', path: `node_modules/${pkg}/${rel}`, content: contents[i]!, source: `npm-cache:${pkg}@${version}` }));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

export const importErrorFixer: Fixer = {
  name: 'import_error',
  description: 'restores a package missing from node_modules from the local npm cache at the locked version (offline), or the file with a bad import from git',
  handles: (e) => showsFault('import_error', e),
  async propose(input: FixerInput): Promise<ChangeSet | null> {
    const text = faultText(input);
    const missing = missingModule(text);
    if (!missing) return null;
    const pkg = packageOf(missing.specifier);
    if (pkg) {
      const locked = await lockedVersion(input.projectRoot, pkg);
      if (!locked) return null; // not a dependency this project pins: not ours to install
      const files = await packageFiles(input.projectRoot, input.stateDir, pkg, locked.version, locked.integrity).catch(() => null);
      if (!files || files.length === 0) return null;
      return {
        fixer: 'import_error',
        params: { package: pkg, version: locked.version },
        summary: `package ${pkg} is missing from node_modules; restore ${pkg}@${locked.version} (${files.length} files) from the npm cache`,
        files,
        commands: [],
        restartKernel: input.evidence.kernel,
      };
    }
    if (!missing.from) return null;
    const root = path.resolve(input.projectRoot) + path.sep;
    const from = path.resolve(missing.from.replace(/^file:\/\//, ''));
    if (!from.startsWith(root)) return null;
    const rel = path.relative(input.projectRoot, from);
    const good = await lastGoodContent(input.projectRoot, rel);
    if (!good) return null;
    return {
      fixer: 'import_error',
      params: { file: rel, specifier: missing.specifier },
      summary: `${rel} imports '${missing.specifier}', which does not resolve; restore it from ${good.source}`,
      files: [{ root: 'project', path: rel, content: { encoding: 'utf8', data: good.content }, source: good.source }],
      commands: [],
      restartKernel: input.evidence.kernel,
    };
  },
};
