/**
 * The chaos workers (workers/chaos.ts): `chaos-1..n` on the chaos queue, started by `layer1 up`
 * after the kernels' workers. Not a kernel's processes: the control plane does not supervise them
 * (a drill must not depend on what it tests); the leading trigger monitor starts one again when it
 * dies (src/healing/trigger-monitor.ts `keepChaosWorkers`), and `up` does too.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadedConfig } from '../config/load';
import type { ProcessManager, ProcessSpec } from '../process/manager';
import { workerSpec } from './workers';

export function chaosWorkerNames(config: Pick<LoadedConfig, 'chaos'>): string[] {
  return Array.from({ length: config.chaos.workers }, (_, i) => `chaos-${i + 1}`);
}

export function chaosWorkerSpec(config: LoadedConfig, name: string): ProcessSpec {
  const spec = workerSpec(config, { name, kernel: 'chaos', taskQueue: config.temporal.taskQueues.chaos, entry: 'chaos.js' });
  // No warm spare: a drill's activities retry on the other chaos worker while this one restarts.
  return { ...spec, standby: false };
}

/** Starts each chaos worker unless it runs; waits until each polls the chaos queue (or `timeoutMs`). */
export async function startChaosWorkers(config: LoadedConfig, pm: ProcessManager, progress: (line: string) => void, pollers: () => Promise<string[]>, timeoutMs = 60_000): Promise<void> {
  const names = chaosWorkerNames(config);
  for (const name of names) {
    const already = pm.isAlive(name);
    const info = await pm.start(chaosWorkerSpec(config, name));
    progress(`chaos worker ${name}: ${already ? 'already running' : 'started'} (pid ${info.pid}, log ${info.logPath})`);
  }
  const started = Date.now();
  while (names.length > 0) {
    const live = await pollers();
    const missing = names.filter((n) => !live.some((p) => p.startsWith(`${n}:${pm.pid(n)}@`)));
    if (missing.length === 0) return;
    const dead = missing.find((n) => !pm.isAlive(n));
    if (dead || Date.now() - started > timeoutMs) {
      throw new Error(`chaos worker ${dead ?? missing[0]} is not polling ${config.temporal.taskQueues.chaos}; its log: ${pm.logPath(dead ?? missing[0])}`);
    }
    await sleep(200);
  }
}
