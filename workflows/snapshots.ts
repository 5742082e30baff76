/**
 * The scheduled snapshot run (Temporal Schedule `layer1-snapshots`, hourly by default): one
 * snapshot of each configured type, then the retention — the store keeps snapshots on disk and has
 * no TTL, so this run is what removes the old ones. A type that could not be taken fails the run
 * (visible in the Web UI) after the retention has run.
 */
import { ApplicationFailure, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { SNAPSHOTS_FAILED, type SnapshotRunReport, type SnapshotsWorkflow } from '../contracts/schedules';
import type { ScheduleActivities } from '../activities/schedules';
import { snapshotActivity } from './policies';

const snapshots = proxyActivities<ScheduleActivities>(snapshotActivity);

export const snapshotsWorkflow: SnapshotsWorkflow = async (): Promise<SnapshotRunReport> => {
  const key = workflowInfo().workflowId;
  const at = new Date().toISOString();
  const taken = await snapshots.takeTypedSnapshots({ key, at });
  const pruned = await snapshots.pruneTypedSnapshots({ now: new Date().toISOString() });
  const failed = taken.filter((t) => t.error !== null || t.refused.length > 0);
  const report: SnapshotRunReport = { key, at, ok: failed.length === 0, snapshots: taken, pruned };
  if (failed.length > 0) {
    const why = failed.map((t) => `${t.type}: ${t.error ?? t.refused.map((r) => `${r.path} refused (${r.reason})`).join(', ')}`).join('; ');
    throw ApplicationFailure.create({ type: SNAPSHOTS_FAILED, message: `snapshots failed: ${why}`, nonRetryable: true, details: [report] });
  }
  return report;
};
