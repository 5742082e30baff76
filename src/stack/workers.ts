/**
 * The worker processes, derived from the kernel manifests: each worker kernel (a manifest with
 * `worker`) runs `workers.<replicas>.replicas` processes named `<process>-1..n` on its task queue.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { KERNEL_MANIFESTS } from '../../kernels/manifests';
import type { KernelManifest } from '../../kernels/manifest';
import type { LoadedConfig } from '../config/load';
import { ExitCode, UserError } from '../errors';
import type { ProcessSpec } from '../process/manager';
import { REPO_ROOT } from './tools';

export interface WorkerDef {
  /** Process name, also the prefix of the worker's Temporal identity. */
  name: string;
  /** The kernel it belongs to. */
  kernel: string;
  taskQueue: string;
  /** Compiled entry point under dist/workers. */
  entry: string;
}

/** The worker processes of one worker kernel (none for a kernel that is not a worker). */
export function workerDefsOf(config: LoadedConfig, m: KernelManifest): WorkerDef[] {
  if (!m.worker) return [];
  const { process: prefix, entry, taskQueue, replicas } = m.worker;
  return Array.from({ length: config.workers[replicas].replicas }, (_, i) => ({
    name: `${prefix}-${i + 1}`,
    kernel: m.name,
    taskQueue: config.temporal.taskQueues[taskQueue],
    entry,
  }));
}

/** Every worker process, in kernel order. */
export function workerDefs(config: LoadedConfig): WorkerDef[] {
  return KERNEL_MANIFESTS.flatMap((m) => workerDefsOf(config, m));
}

export function workerProcesses(config: LoadedConfig, m: KernelManifest): string[] {
  return workerDefsOf(config, m).map((w) => w.name);
}

/** How a worker process is started: detached, told its config, state dir and name. */
export function workerSpec(config: LoadedConfig, w: WorkerDef): ProcessSpec {
  const entry = path.join(REPO_ROOT, 'dist', 'workers', w.entry);
  if (!existsSync(entry)) {
    throw new UserError(`worker entry ${entry} is missing: run \`npm install\` (or \`npm run build\`) first`, ExitCode.PREREQUISITE);
  }
  return {
    name: w.name,
    command: process.execPath,
    args: [entry],
    cwd: REPO_ROOT,
    env: { ...process.env, LAYER1_CONFIG: config.configFile, LAYER1_STATE_DIR: config.stateDir, LAYER1_WORKER_NAME: w.name },
    // A worker needs 2–3 s to load the SDK and its workflow bundle: a warm spare takes over in ms.
    standby: config.workers.standby,
  };
}
