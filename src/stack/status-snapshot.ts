/**
 * What the leading trigger monitor knows, written to the state directory at each of its heartbeats
 * (once a second): the control plane's status, the task queues' pollers and every monitor's
 * heartbeat. `layer1 status` reads it instead of loading the Temporal SDK and the store's driver
 * to ask the same questions again, which is most of its time; a snapshot older than
 * MONITOR_FRESH_MS (no monitor leads) is not used, and status asks the servers itself.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import type { LoadedConfig } from '../config/load';
import type { ControlPlaneStatus } from '../../contracts/control-plane';
import { MONITOR_FRESH_MS } from '../../kernels/self-healing/kernel-manifest';
import { controlPlaneState, monitorStatuses, type MonitorStatus } from './kernel-status';
import { taskQueuePollers, type Pollers } from './stack';

export interface StatusSnapshot {
  /** When it was taken (ISO time). */
  at: string;
  /** The monitor that wrote it. */
  writer: string;
  controlPlane: ControlPlaneStatus | null;
  /** Why `controlPlane` is null. */
  controlPlaneWhy: string | null;
  /** The worker processes of this config (the registry's, which status need not load). */
  workers: Array<{ name: string; taskQueue: string }>;
  pollers: Pollers;
  monitors: MonitorStatus[];
}

export function snapshotFile(config: Pick<LoadedConfig, 'stateDir'>): string {
  return path.join(config.stateDir, 'status-snapshot.json');
}

export async function takeSnapshot(config: LoadedConfig, temporal: Client, db: Db, writer: string): Promise<StatusSnapshot> {
  const [cp, pollers, monitors] = await Promise.all([controlPlaneState(temporal), taskQueuePollers(config, temporal), monitorStatuses(db)]);
  const { workerDefs } = await import('./workers');
  const workers = workerDefs(config).map((w) => ({ name: w.name, taskQueue: w.taskQueue }));
  return { at: new Date().toISOString(), writer, controlPlane: cp.status, controlPlaneWhy: cp.why, workers, pollers, monitors };
}

/** Atomic: a reader sees the previous snapshot or this one, never a part. */
export function writeSnapshot(config: Pick<LoadedConfig, 'stateDir'>, snapshot: StatusSnapshot): void {
  const file = snapshotFile(config);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(snapshot));
  renameSync(tmp, file);
}

/** The snapshot, if there is one younger than MONITOR_FRESH_MS. */
export function freshSnapshot(config: Pick<LoadedConfig, 'stateDir'>, now = Date.now()): StatusSnapshot | null {
  try {
    const snapshot = JSON.parse(readFileSync(snapshotFile(config), 'utf8')) as StatusSnapshot;
    const age = now - Date.parse(snapshot.at);
    // One written by an older build lacks the workers: ask the servers instead.
    return age >= 0 && age < MONITOR_FRESH_MS && Array.isArray(snapshot.workers) ? snapshot : null;
  } catch {
    return null;
  }
}
