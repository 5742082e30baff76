/**
 * Kernel lifecycle activities used by the boot workflow and the control plane. Each is safe to
 * retry or replay after a crash; the line that makes it so says why.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Db } from 'mongodb';
import type { LoadedConfig } from '../src/config/load';
import type { ReadinessResult } from '../src/domain/kernels';
import type { ProcessManager } from '../src/process/manager';
import { kernelDef, KERNELS, MONITOR_FRESH_MS, startKernel, stopKernel, type KernelContext } from '../kernels/registry';
import { TRIGGER_MONITORS_COLLECTION } from '../src/clients/collections';
import { kernelsBootedSignal, type ControlPlaneInput } from '../contracts/control-plane';
import { startControlPlane } from '../src/clients/starters';
import type { BootReport } from '../contracts/boot';
import { BOOTS_COLLECTION } from '../src/clients/collections';
import { READINESS_COLLECTION } from '../src/clients/collections';

export interface KernelActivityDeps {
  config: LoadedConfig;
  pm: ProcessManager;
  db: Db;
  bus: NatsConnection;
  temporal: Client;
}

export const READINESS_SUBJECT = 'telemetry.layer1.readiness';
/** How often a waiting self-test runs again (each run is a few small requests). */
export const READINESS_POLL_MS = 30;

export function createKernelActivities({ config, pm, db, bus, temporal }: KernelActivityDeps) {
  const ctx: KernelContext = { config, pm, db, temporal };
  return {
    /** Idempotent: starts only the kernel's processes that are not alive; returns their pids. */
    async startKernel(kernel: string): Promise<Record<string, number | null>> {
      return startKernel(ctx, kernel);
    },

    /** Idempotent: stopping a stopped process is a no-op (pid files name exactly what we started). */
    async stopKernel(kernel: string, opts?: { spares?: boolean }): Promise<void> {
      await stopKernel(ctx, kernel, { spares: opts?.spares ?? false });
    },

    /**
     * Brings one process of a kernel back. `start` (it exited): starting a live process is a no-op,
     * so a retry after the first attempt started it changes nothing. `restart` (it hangs): stop
     * then start; a retry stops the new process and starts another, which is the same end state.
     */
    async restartKernelProcess(
      kernel: string,
      processName: string,
      mode: 'start' | 'restart',
    ): Promise<{ pid: number | null; started: boolean }> {
      if (mode === 'restart') await pm.stop(processName, 2_000);
      const before = pm.pid(processName);
      const pids = await startKernel(ctx, kernel, processName);
      const pid = pids[processName] ?? null;
      return { pid, started: pid !== null && pid !== before };
    },

    /**
     * Read-only apart from the log's own probe entry: runs the kernel's self-test, once, or (with
     * `waitMs`) again every READINESS_POLL_MS until it passes or `waitMs` is over. Waiting here
     * rather than in a workflow timer is what makes a restart ready in tens of milliseconds: a
     * sub-second Temporal timer can fire up to a second late, and a process that was just started
     * usually needs a few hundred milliseconds. A kernel with a dead process will not pass by
     * waiting, so the wait stops at once and the workflow decides what to do.
     */
    async kernelReadiness(kernel: string, opts?: { waitMs?: number }): Promise<ReadinessResult> {
      const deadline = Date.now() + (opts?.waitMs ?? 0);
      for (let polls = 1; ; polls++) {
        const def = kernelDef(kernel);
        const checks = await def.readiness(ctx);
        const ready = checks.every((c) => c.ok);
        const dead = def.processes(config).some((p) => !pm.isAlive(p));
        if (ready || dead || Date.now() + READINESS_POLL_MS >= deadline) return { kernel, ready, checks, polls };
        await sleep(READINESS_POLL_MS);
      }
    },

    /** Per kernel, the pid of each of its processes as the process manager sees them now. Read-only. */
    async kernelPids(): Promise<Record<string, Record<string, number | null>>> {
      const out: Record<string, Record<string, number | null>> = {};
      for (const k of Object.values(KERNELS)) out[k.name] = Object.fromEntries(k.processes(config).map((p) => [p, pm.pid(p)]));
      return out;
    },

    /**
     * Stores the boot report and each kernel's readiness figures, and publishes them on the bus.
     * Idempotent: upserts keyed on the boot id (and boot id + kernel); a re-publish after a retry is
     * a duplicate telemetry sample with the same boot id, which consumers key on.
     */
    async recordBoot(report: BootReport): Promise<void> {
      await db.collection<BootReport & { _id: string }>(BOOTS_COLLECTION).replaceOne({ _id: report.bootId }, report, { upsert: true });
      for (const k of report.kernels) {
        await db
          .collection(READINESS_COLLECTION)
          .replaceOne({ _id: `${report.bootId}:${k.kernel}` as never }, { ...k, bootId: report.bootId, at: new Date() }, { upsert: true });
      }
      bus.publish(
        READINESS_SUBJECT,
        JSON.stringify({
          bootId: report.bootId,
          ok: report.ok,
          degraded: report.degraded,
          kernels: report.kernels.map(({ kernel, ready, retries, timeToReadyMs, degraded }) => ({ kernel, ready, retries, timeToReadyMs, degraded })),
        }),
      );
      await bus.flush();
    },

    /**
     * Phase 7: the control plane runs and knows what this boot saw. Idempotent: the workflow id is
     * fixed and an existing run is used as is (conflict policy USE_EXISTING), so a retry never
     * starts a second one; the observation it is sent replaces, rather than adds to, its pids.
     */
    async ensureControlPlane(input: ControlPlaneInput): Promise<string> {
      const handle = await startControlPlane(config, temporal, input);
      await handle.signal(kernelsBootedSignal, { pids: input.pids ?? {}, kernels: input.kernels ?? [] });
      return handle.firstExecutionRunId;
    },

    /** Phase 7: the trigger monitors (in the healing replicas) are heartbeating. Read-only. */
    async watchdogsLive(): Promise<string[]> {
      const fresh = await db
        .collection<{ _id: string }>(TRIGGER_MONITORS_COLLECTION)
        .find({ at: { $gte: new Date(Date.now() - MONITOR_FRESH_MS) } })
        .toArray();
      return fresh.map((m) => m._id);
    },
  };
}

export type KernelActivities = ReturnType<typeof createKernelActivities>;
