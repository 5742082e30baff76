/**
 * Code faults: what no restart repairs — a compiled file that does not parse, a package gone from
 * node_modules, a configuration value that does not validate. Unlike the other injectors these act
 * on the project's tree (its generated output under dist/ and node_modules/, and a tracked
 * configuration file), not on the state directory, because that is where such faults live; each
 * keeps the original bytes (or the moved folder) and `restore()` puts them back only if the
 * system has not already repaired them.
 *
 * Each also kills the process that loads the file, so the fault shows the way it would after a
 * deploy or a restart: the process dies at start, its log ends with Node's report.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { REPO_ROOT } from '../../stack/tools';
import { standbyName } from '../../process/manager';
import { FaultError, type FaultContext, type Injected } from './types';

/**
 * Kills the process so it starts again from its files: its warm spare first (a worker's spare has
 * its modules loaded already, and promoting it would hide the fault until the next cold start).
 */
function killNow(ctx: FaultContext, proc: string): number {
  const pid = ctx.pm.pid(proc);
  if (pid === null) throw new FaultError(`${proc} does not run: nothing would load the broken file`);
  const spare = ctx.pm.pid(standbyName(proc));
  if (spare !== null) process.kill(spare, 'SIGKILL');
  process.kill(pid, 'SIGKILL');
  return pid;
}

const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

const parses = (file: string): boolean => spawnSync(process.execPath, ['--check', file]).status === 0;

/**
 * Inserts a line that does not parse (`const layer1Broken = ;`) after the first line of a compiled
 * file under dist/ (default: the immutable log's server), then kills the process that loads it.
 *
 * restore: writes the original bytes back if the file still does not parse.
 */
export async function syntaxErrorInCode(ctx: FaultContext, opts: { file?: string; process?: string } = {}): Promise<Injected<{ file: string; killedPid: number }>> {
  const rel = opts.file ?? 'dist/kernels/immutable-log/server.js';
  const file = path.join(REPO_ROOT, rel);
  if (!rel.startsWith('dist/') || !existsSync(file)) throw new FaultError(`${rel}: not a compiled file of this build (npm run build first)`);
  const original = readFileSync(file);
  const broken = original.toString('utf8').replace(/\n/, '\nconst layer1Broken = ;\n');
  await ctx.journal?.({ kind: 'write_back', file, original: original.toString('base64'), brokenSha256: sha256(broken) });
  writeFileSync(file, broken);
  const killedPid = killNow(ctx, opts.process ?? 'immutable-log');
  return {
    detail: `${rel}: a line that does not parse inserted at line 2; killed pid ${killedPid}`,
    file: rel,
    killedPid,
    restore: async () => {
      if (!parses(file)) writeFileSync(file, original);
    },
  };
}

/**
 * Moves a package's folder out of node_modules (to `node_modules/.layer1-moved-<name>`), then kills
 * the process that requires it at start (default: `diff`, which only the coding agent loads).
 *
 * restore: moves the folder back if the package is still missing; removes the moved copy otherwise.
 */
export async function missingPackage(ctx: FaultContext, opts: { pkg?: string; process?: string } = {}): Promise<Injected<{ pkg: string; killedPid: number }>> {
  const pkg = opts.pkg ?? 'diff';
  const dir = path.join(REPO_ROOT, 'node_modules', pkg);
  const moved = path.join(REPO_ROOT, 'node_modules', `.layer1-moved-${pkg.replace('/', '+')}`);
  if (!existsSync(path.join(dir, 'package.json'))) throw new FaultError(`node_modules/${pkg} is not installed`);
  rmSync(moved, { recursive: true, force: true });
  await ctx.journal?.({ kind: 'move_back', dir, moved });
  renameSync(dir, moved);
  const killedPid = killNow(ctx, opts.process ?? 'coding-agent-1');
  return {
    detail: `node_modules/${pkg} moved to ${path.basename(moved)}; killed pid ${killedPid}`,
    pkg,
    killedPid,
    restore: async () => {
      if (!existsSync(path.join(dir, 'package.json')) && existsSync(moved)) {
        rmSync(dir, { recursive: true, force: true });
        renameSync(moved, dir);
      }
      rmSync(moved, { recursive: true, force: true });
    },
  };
}

/**
 * Sets `workers.codingAgent.replicas` in the stack's configuration file to a value that does not
 * validate (`lots`), then kills the coding agent's worker, which loads the file at start.
 *
 * restore: writes the original bytes back if the file still holds the injected value.
 */
export async function invalidConfigValue(ctx: FaultContext, opts: { process?: string } = {}): Promise<Injected<{ file: string; killedPid: number }>> {
  const file = ctx.config.configFile;
  const original = readFileSync(file, 'utf8');
  const broken = original.replace(/(codingAgent:\s*\n\s*replicas:)\s*\d+/, '$1 lots');
  if (broken === original) throw new FaultError(`${file}: no workers.codingAgent.replicas to set`);
  await ctx.journal?.({ kind: 'write_back', file, original: Buffer.from(original).toString('base64'), brokenSha256: sha256(broken) });
  writeFileSync(file, broken);
  const killedPid = killNow(ctx, opts.process ?? 'coding-agent-1');
  return {
    detail: `${file}: workers.codingAgent.replicas set to "lots"; killed pid ${killedPid}`,
    file,
    killedPid,
    restore: async () => {
      if (readFileSync(file, 'utf8') === broken) writeFileSync(file, original);
    },
  };
}
