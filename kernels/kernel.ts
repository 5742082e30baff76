/**
 * What a kernel does, beside what its manifest (kernels/manifest.ts) declares: how its processes
 * start, a cheap liveness probe per process, and its readiness self-test — named checks that
 * exercise the kernel for real. A worker kernel (its manifest has `worker`) gets its processes,
 * their specs and a pid-alive liveness probe from the manifest; it only writes its self-test.
 */
import os from 'node:os';
import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import type { LoadedConfig } from '../src/config/load';
import type { CheckResult } from '../src/domain/checks';
import type { ProcessManager, ProcessSpec } from '../src/process/manager';
import type { HealthResult } from '../src/stack/services';
import type { KernelManifest } from './manifest';

export interface KernelContext {
  config: LoadedConfig;
  pm: ProcessManager;
  db: Db;
  temporal: Client;
}

export interface KernelBehaviour {
  /** Names of its managed processes (pid and log files). Default: its worker processes. */
  processes?(config: LoadedConfig): string[];
  /** The spec of one of its processes. Default: its worker's. */
  spec?(config: LoadedConfig, processName: string): Promise<ProcessSpec>;
  /** Runs after its processes start (idempotent): e.g. the bus's streams and consumers. */
  afterStart?(ctx: KernelContext): Promise<void>;
  /** A cheap probe of one process (Kubernetes liveness semantics are the caller's). Default: the pid is alive. */
  liveness?(ctx: Pick<KernelContext, 'config' | 'pm'>, processName: string, timeoutMs: number): Promise<HealthResult>;
  /** The real self-test. Never throws: a failure is a failed check. */
  readiness(ctx: KernelContext): Promise<CheckResult[]>;
}

/** A kernel as the registry gives it: its manifest and its behaviour, defaults filled in. */
export interface KernelDef extends Required<Omit<KernelBehaviour, 'afterStart'>>, Pick<KernelBehaviour, 'afterStart'> {
  name: string;
  manifest: KernelManifest;
}

export function pidAlive(pm: ProcessManager, name: string): HealthResult {
  return pm.isAlive(name) ? { healthy: true, detail: `pid ${pm.pid(name)} alive` } : { healthy: false, detail: 'process not running' };
}

/**
 * Pollers of a task queue that belong to a live process: identities are `name:pid@host`, and a
 * poller Temporal still lists for a worker that died is not counted.
 */
export async function livePollers(ctx: KernelContext, taskQueue: string): Promise<string[]> {
  const res = await ctx.temporal.workflowService.describeTaskQueue({
    namespace: ctx.config.temporal.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: 1,
  });
  const host = os.hostname();
  return (res.pollers ?? [])
    .map((p) => p.identity ?? '')
    .filter((id) => {
      const m = /^([^:]+):(\d+)@(.+)$/.exec(id);
      if (!m) return false;
      if (m[3] !== host) return true; // a remote worker: trust Temporal's own poller expiry
      return ctx.pm.pid(m[1]) === Number(m[2]);
    });
}
