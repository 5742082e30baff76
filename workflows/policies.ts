/**
 * Named activity timeouts and retry policies. Workflow code picks one of these by name rather
 * than scattering literals, so a reader sees every policy in one place.
 */
import { ActivityCancellationType, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';

/** Quick self-tests against a server: a hung server fails the attempt in 10 s; three tries. */
export const checkActivity: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumAttempts: 3 },
};

/** Small writes to the store or the log: retried until they land, with a cap on the interval. */
export const recordActivity: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 20 },
};

/**
 * Starting or stopping processes: quick, but a stop may wait out its 10 s grace period. Kept short
 * because an attempt lost with a killed worker is only retried once this runs out.
 */
export const lifecycleActivity: ActivityOptions = {
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds', maximumAttempts: 5 },
};

/**
 * One run of a self-test. Not retried by Temporal: the workflow loops over attempts itself, so
 * retries and backoff show in the history and in the report.
 */
export const readinessActivity: ActivityOptions = {
  startToCloseTimeout: '15 seconds',
  retry: { maximumAttempts: 1 },
};

/**
 * Local activities that must land — the kernel lock, the run's end (report, lock handed on): a few
 * store and log calls of milliseconds each. A lost attempt is retried after 5 s at most; beyond
 * `localRetryThreshold` the retries wait on workflow timers instead of holding the workflow task.
 */
export const localRecordActivity: LocalActivityOptions = {
  startToCloseTimeout: '5 seconds',
  localRetryThreshold: '5 seconds',
  retry: { initialInterval: '100 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 20 },
};

/**
 * The run's end (`finishPlaybookRun`): as {@link localRecordActivity}, with the time to wait for an
 * immutable log that is being restarted (up to `FINISH_AUDIT_WAIT_MS`) before its entries are given up.
 */
export const localFinishActivity: LocalActivityOptions = { ...localRecordActivity, startToCloseTimeout: '12 seconds' };

/**
 * A mid-run audit flush as a local activity: best effort (its entries stay buffered and the next
 * flush tries again), so a log being repaired costs the run a few seconds, not its progress.
 */
export const localAuditActivity: LocalActivityOptions = {
  startToCloseTimeout: '5 seconds',
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumAttempts: 3 },
};

/**
 * An incident's diagnostics and knowledge-base decision: reads of files, /proc, the control plane
 * and the store, a second or so. Retried a few times; an incident without them cannot decide.
 */
export const diagnosticsActivity: ActivityOptions = {
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumAttempts: 5 },
};

/**
 * A task for the coding agent (its own task queue). Bounded from scheduling to the end: when the
 * agent is down (degraded mode) the incident stops waiting after a minute and matches the playbook
 * on the healing worker instead.
 */
export const agentTaskActivity: ActivityOptions = {
  scheduleToCloseTimeout: '60 seconds',
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
};

/**
 * Waiting on a remedy run another incident started: as long as the run takes (its approval gates
 * included), heartbeating every second, so a killed worker's wait moves elsewhere in 30 s.
 */
export const joinRunActivity: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 10 },
};

/**
 * The workflow's first activity (local, on the healing worker that runs it): reads the checks and
 * the task queues from that worker's config — a few field reads, so short and retried quickly.
 */
export const verificationSettingsActivity: LocalActivityOptions = {
  startToCloseTimeout: '5 seconds',
  retry: { initialInterval: '100 milliseconds', backoffCoefficient: 2, maximumAttempts: 5 },
};

/**
 * Verification's cheap checks on the healing queue: the readiness self-test (which waits up to
 * 5 s in the activity, READINESS_WAIT_MS) and the detector check (a 1.5 s observation window, then
 * one detector round). A failed check is a result, not an error: what retries here is an attempt
 * that could not run (a worker killed mid-check, found by the 10 s heartbeat timeout).
 */
export const verificationCheckActivity: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
};

/**
 * A project check (tests, lint, types) on the coding agent's queue. The command itself is killed
 * after `checkTimeoutMs` (config `incidents.verification.checkTimeoutMs`, enforced in the
 * activity); start-to-close leaves room for waiting behind up to three other checks in that
 * worker's one-at-a-time queue. The heartbeat (every second, also while waiting) finds a killed
 * coding-agent worker within 30 s; schedule-to-start fails the check after 2 minutes without a
 * coding-agent worker (it is an optional kernel) instead of leaving the incident waiting. A failed
 * check is a result; an attempt that could not run is tried once more.
 */
export function projectCheckActivity(checkTimeoutMs: number): ActivityOptions {
  return {
    startToCloseTimeout: checkTimeoutMs * 4 + 30_000,
    scheduleToStartTimeout: '2 minutes',
    heartbeatTimeout: '30 seconds',
    retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumAttempts: 2 },
  };
}

/**
 * An incident's record before its remedy has run: never awaited, so the remedy does not wait on the
 * store, which may be the very thing being repaired (dependency_unreachable); the durable record at
 * the end carries the same state. 15 s a try: the write takes the incident's document lock, which
 * the workflow's other writes may hold, and on a loaded CI machine every try of 3 s timed out, so
 * the store said 'open, no remedy' for two minutes while the remedy ran (a drill's incident gate
 * failed on it). Three tries, then the next write carries the state.
 */
export const bestEffortRecordActivity: ActivityOptions = {
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', maximumAttempts: 3 },
};

/**
 * The knowledge base's decision (store reads and an insert): short, two tries. When the store does
 * not answer, the incident takes the signature as new and asks the coding agent, which needs no store.
 */
export const decideActivity: LocalActivityOptions = {
  startToCloseTimeout: '4 seconds',
  retry: { initialInterval: '200 milliseconds', maximumAttempts: 2 },
};

/**
 * A change set's file work on the coding agent's queue (workflows/change-set.ts): staging copies the
 * project and runs the change set's commands (a rebuild: up to a few minutes), promotion and rollback
 * write files and run the live commands. Heartbeats every second while it works, so a killed worker
 * is found in 30 s and the attempt retried (each activity is idempotent). Schedule-to-start: the
 * coding agent is an optional kernel; without one for 2 minutes the change set fails instead of waiting.
 */
export const changeSetFileActivity: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  scheduleToStartTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 3, nonRetryableErrorTypes: ['UnsafeChange'] },
};

/**
 * Restarting the changed kernel through the control plane (restart_kernel, which waits for its
 * self-test) and waiting until it is ready: a restart takes seconds; two more tries for a lost attempt.
 */
export const kernelRestartActivity: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
};

/**
 * Typed snapshots (boot phase 6, the snapshot schedule): copying and hashing files, up to the
 * immutable log's sealed segments, so minutes at worst; heartbeating every second, so a killed
 * worker's attempt moves elsewhere within 30 s. A retry finds what the first attempt took.
 */
export const snapshotActivity: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
};

/** Creating or updating the Temporal Schedules: two calls to the server, retried while it answers slowly. */
export const scheduleActivity: ActivityOptions = {
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumAttempts: 5 },
};

/**
 * The telemetry document: reads of the store and the control plane, a write and a publish. Short:
 * the next run is a minute away, so a run that cannot finish soon gives way to it.
 */
export const telemetryActivity: ActivityOptions = {
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
};

/**
 * A chaos drill's short steps on the chaos queue (the steady-state check and baseline, the ledger
 * entry): store and process-table reads, a few seconds; retried until they land, because the
 * drill's record must exist whatever happened.
 */
export const drillRecordActivity: ActivityOptions = {
  startToCloseTimeout: '60 seconds',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 10 },
};

/**
 * A drill's injection: never retried by Temporal as an injection — a second attempt (its worker
 * was killed mid-act, found by the 10 s heartbeat timeout) finds the first attempt's journal and
 * reports the injection interrupted instead of injecting twice; the drill then rolls back. A
 * cancelled drill waits for the injection to end before its rollback, or an act landing after the
 * rollback would stay. 10 minutes: filling 90 % of the default 1 GiB log quota (disk_full) took
 * longer than 2 (a lost worker is found by the heartbeat, not by this).
 */
export const drillInjectActivity: ActivityOptions = {
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
};

/**
 * A drill's gate: polls the system until the gate holds or its deadline (an absolute time the
 * workflow passes, so a retried attempt on another worker keeps the same deadline) passes. A gate
 * that does not hold is a result; retries are for attempts that could not run.
 */
export function drillGateActivity(timeoutMs: number): ActivityOptions {
  return {
    startToCloseTimeout: timeoutMs + 30_000,
    heartbeatTimeout: '10 seconds',
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 3 },
  };
}

/**
 * The rollback: always run, cancellation or not. Each undo is idempotent, so it is retried for as
 * long as it takes a live worker to run it (a killed worker's attempt moves on after 10 s).
 */
export const drillRollbackActivity: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '15 seconds', maximumAttempts: 20 },
};
