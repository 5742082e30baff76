/**
 * Contract of the scheduled workflows (workflows/snapshots.ts, workflows/telemetry.ts) and of the
 * Temporal Schedules that start them, which boot phase 6 creates once (idempotently).
 */

export const SNAPSHOTS_WORKFLOW = 'snapshotsWorkflow';
export type SnapshotsWorkflow = () => Promise<SnapshotRunReport>;
export const TELEMETRY_WORKFLOW = 'telemetryWorkflow';
export type TelemetryWorkflow = () => Promise<TelemetryRunReport>;

/** The schedules' ids: business ids, one each per namespace. */
export const SNAPSHOTS_SCHEDULE_ID = 'layer1-snapshots';
export const TELEMETRY_SCHEDULE_ID = 'layer1-telemetry';
/**
 * The id of the workflows a schedule starts (Temporal appends the scheduled time), so each run has
 * an id of its own that the snapshots and the telemetry document are keyed on.
 */
export const SNAPSHOTS_RUN_ID_PREFIX = 'layer1-snapshots-run';
export const TELEMETRY_RUN_ID_PREFIX = 'layer1-telemetry-run';

/** The failure type of a scheduled snapshot run in which a type could not be taken; the report is in its details. */
export const SNAPSHOTS_FAILED = 'SnapshotsFailed';

/** One snapshot type's outcome in a boot or a scheduled run. */
export interface TypedSnapshotResult {
  type: string;
  /** Null when nothing was taken (nothing of the type exists yet, or the take failed). */
  id: string | null;
  /** False when the snapshot existed already (a retried take). */
  created: boolean;
  files: number;
  bytes: number;
  /** Files left out because they did not have their known-good SHA-256. */
  refused: Array<{ path: string; reason: string }>;
  /** Why nothing was taken although nothing failed (e.g. no sealed log segment yet). */
  skipped: string | null;
  error: string | null;
}

/** A snapshot the retention removed. */
export interface PrunedSnapshot {
  type: string;
  id: string;
  takenAt: string;
  reason: 'age' | 'count';
}

export interface SnapshotRunReport {
  /** What the snapshots are keyed on: the run's workflow id. */
  key: string;
  at: string;
  ok: boolean;
  snapshots: TypedSnapshotResult[];
  pruned: PrunedSnapshot[];
}

export interface TelemetryRunReport {
  id: string;
  at: string;
  /** Where JetStream stored the document; `duplicate` when a retry published it again. */
  published: { stream: string | null; seq: number | null; duplicate: boolean };
  /** Documents removed from the store by the retention. */
  pruned: number;
}

/** What boot phase 6 did to one schedule. */
export interface ScheduleResult {
  id: string;
  action: 'created' | 'updated' | 'unchanged' | 'deleted';
  /** `every 1h` or `cron …`. */
  spec: string;
  paused: boolean;
}
