/**
 * The blast radius of a failure card: what its injection may touch, checked when the card is
 * validated so a card that could reach outside the project's state directory, its own tree or its
 * managed processes never runs.
 *
 * A file entry is `state:<path>` (under the state directory), `project:<path>` (under the
 * repository: its build output, node_modules) or `config:` (the stack's configuration file); its
 * path is relative and stays inside its root. A declared path covers everything under it. Each
 * fault is mapped to what it touches ({@link faultReach}); all of it must be declared.
 */
import path from 'node:path';
import { parseConfig } from '../../config/load';
import { standbyName } from '../../process/manager';
import { SERVICE_NAMES } from '../../stack/services';
import { METRICS_PROCESS } from '../../stack/metrics-process';
import { KERNEL_MANIFESTS } from '../../../kernels/manifests';
import { KERNELS } from '../../../kernels/registry';
import { KERNEL_NAMES } from '../../domain/kernels';
import type { FaultName } from '../faults/types';
import { DEFAULT_SYNTAX_ERROR_FILE, RUNAWAY_KINDS } from './fault-params';

export const RADIUS_ROOTS = ['state', 'project', 'config'] as const;
export type RadiusRoot = (typeof RADIUS_ROOTS)[number];

/** A file entry of a blast radius, parsed: its root and its normalised relative path (`''` for `config:`). */
export interface RadiusFile {
  root: RadiusRoot;
  rel: string;
}

/** `state:log` → `{ root: 'state', rel: 'log' }`, or the reason it is refused. */
export function parseRadiusFile(entry: string): RadiusFile | { problem: string } {
  const m = /^(state|project|config):(.*)$/.exec(entry);
  if (!m) return { problem: `"${entry}" is outside the blast radius a card may declare: state:<path>, project:<path> or config:` };
  const root = m[1] as RadiusRoot;
  if (root === 'config') return m[2] === '' ? { root, rel: '' } : { problem: `config: names the stack's configuration file and takes no path (got "${entry}")` };
  const raw = m[2];
  const where = root === 'state' ? 'the state directory' : 'the project';
  if (raw === '') return { problem: `${root}: needs a path under ${where}` };
  if (raw.startsWith('/') || /^[A-Za-z]:[\\/]/.test(raw) || raw.includes('\\')) {
    return { problem: `"${entry}": an absolute path escapes ${where}; give a path relative to it` };
  }
  const rel = path.posix.normalize(raw).replace(/\/+$/, '');
  if (rel === '..' || rel.startsWith('../')) return { problem: `"${entry}" escapes ${where} (it resolves to ${rel})` };
  if (rel === '.') return { problem: `"${entry}" names all of ${where}: declare the paths under it the injection touches` };
  return { root, rel };
}

/** Whether the declared entry covers the needed one: the same root, and the same path or one under it. */
export function covers(declared: RadiusFile, needed: RadiusFile): boolean {
  if (declared.root !== needed.root) return false;
  return declared.rel === needed.rel || needed.rel.startsWith(`${declared.rel}/`);
}

/** What an injection touches, each with the parameter that names it (`null`: the fault itself does). */
export interface Reach {
  files: Array<{ entry: string; param: string | null }>;
  processes: Array<{ name: string; param: string | null }>;
}

const workerPrefixes = (): string[] => KERNEL_MANIFESTS.flatMap((m) => (m.worker ? [m.worker.process] : []));

/** A worker process (`coding-agent-1`) has a warm spare, which the code faults kill first. */
function isWorkerProcess(name: string): boolean {
  return workerPrefixes().some((p) => new RegExp(`^${p}-\\d+$`).test(name));
}

/** The process, plus its warm spare when it is a worker (the code faults kill the spare too). */
function withSpare(name: string, param: string | null): Reach['processes'] {
  return isWorkerProcess(name) ? [{ name, param }, { name: standbyName(name), param }] : [{ name, param }];
}

const str = (v: unknown, dflt: string): string => (typeof v === 'string' ? v : dflt);
const paramOf = (params: Record<string, unknown>, key: string): string | null => (key in params ? key : null);

const BUS: Reach = { files: [{ entry: 'state:bus', param: null }], processes: [{ name: 'bus', param: null }] };
const LOG: Reach = { files: [{ entry: 'state:log', param: null }], processes: [] };
const processFault = (p: Record<string, unknown>): Reach => ({ files: [], processes: [{ name: str(p.process, ''), param: 'process' }] });

/**
 * What each fault touches, from its (valid) parameters and the injector's defaults: what must be
 * inside the card's blast radius.
 */
export const FAULT_REACH: { [F in FaultName]: (params: Record<string, unknown>) => Reach } = {
  killProcess: processFault,
  stallProcess: processFault,
  throttleProcess: processFault,
  crashLoop: processFault,
  startRunaway: (p) => ({ files: [], processes: [{ name: `runaway-${str(p.kind, '')}`, param: 'kind' }] }),
  corruptSealedLogEntry: () => LOG,
  fillLogQuota: () => LOG,
  growLogArchives: () => LOG,
  floodStream: () => BUS,
  deleteConsumer: () => BUS,
  forbiddenPublish: () => BUS,
  enforcedAclDrift: () => BUS,
  tamperBusConfig: () => BUS,
  corruptModelFile: () => ({ files: [{ entry: 'state:models', param: null }], processes: [] }),
  syntaxErrorInCode: (p) => ({
    files: [{ entry: `project:${str(p.file, DEFAULT_SYNTAX_ERROR_FILE)}`, param: paramOf(p, 'file') }],
    processes: withSpare(str(p.process, 'immutable-log'), paramOf(p, 'process')),
  }),
  missingPackage: (p) => ({
    // The package's folder, and where the injector moves it (node_modules/.layer1-moved-<pkg>).
    files: [
      { entry: `project:node_modules/${str(p.pkg, 'diff')}`, param: paramOf(p, 'pkg') },
      { entry: `project:node_modules/.layer1-moved-${str(p.pkg, 'diff').replace('/', '+')}`, param: paramOf(p, 'pkg') },
    ],
    processes: withSpare(str(p.process, 'coding-agent-1'), paramOf(p, 'process')),
  }),
  invalidConfigValue: (p) => ({ files: [{ entry: 'config:', param: null }], processes: withSpare(str(p.process, 'coding-agent-1'), paramOf(p, 'process')) }),
  terminateControlPlane: () => ({ files: [], processes: [] }),
  // It also creates state:snapshots-hidden-<time> beside it, a name no card can declare ahead.
  hideSnapshots: () => ({ files: [{ entry: 'state:snapshots', param: null }], processes: [] }),
};

let managed: { names: Set<string>; workers: RegExp } | undefined;

/**
 * Whether `name` is a process the process manager starts: a kernel's process (as the default
 * configuration names them; a worker kernel's with any replica number), a worker's warm spare
 * (`.standby`), a stack server, the metrics process, or a runaway a fault starts.
 */
export function isManagedProcess(name: string): boolean {
  managed ??= (() => {
    const config = parseConfig('', '/dev/null/temporal.config.yaml', {});
    const names = new Set<string>([...KERNEL_NAMES.flatMap((k) => KERNELS[k].processes(config)), ...SERVICE_NAMES, METRICS_PROCESS, ...RUNAWAY_KINDS.map((k) => `runaway-${k}`)]);
    return { names, workers: new RegExp(`^(${workerPrefixes().join('|')})-\\d+(\\.standby)?$`) };
  })();
  return managed.names.has(name) || managed.workers.test(name);
}

/** The managed process names of the default configuration, for "known: …" in problems. */
export function knownProcesses(): string[] {
  isManagedProcess('');
  return [...(managed as { names: Set<string> }).names];
}
