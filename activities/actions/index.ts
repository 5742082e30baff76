/**
 * The 19 action primitives of playbooks (declared in src/playbooks/actions.ts), one activity each,
 * named like the action, built by one factory per group of what they act on:
 *
 * | file | actions |
 * | --- | --- |
 * | `kernels.ts` | restart_kernel, set_kernel_state, wait_kernel_ready, wait_control_plane_answers |
 * | `queues.ts` | drain_queue, purge_queue |
 * | `bus.ts` (+ `consumers.ts`) | apply_bus_acl, validate_bus_acl, publish_event, wait_consumers_delivered |
 * | `log.ts` | verify_log_chain, rebuild_log_index, archive_log_segments, cleanup_archives |
 * | `audit.ts` | append_audit |
 * | `snapshots.ts` | take_snapshot, restore_from_snapshot |
 * | `processes.ts` | kill_process |
 * | `backlog.ts` | open_backlog_item |
 * | `verification.ts` | run_verification |
 * | `fixes.ts` | apply_fix |
 *
 * Every activity validates its params with the action's schema first, so bad input fails at once
 * and for good (`InvalidActionParams`); business failures are `ApplicationFailure`s whose `type`
 * comes from {@link ActionErrorType} (shared.ts, with the wrapper every action goes through).
 *
 * Idempotency: each side effect is keyed on `<workflowId>:<runId>:<stepId>` (the run and the step), so a
 * retry, or a replay after a worker crash, finds what the first attempt did and finishes it rather
 * than doing it twice. The line that makes each action idempotent says how.
 */
import { auditActions } from './audit';
import { backlogActions } from './backlog';
import { busActions } from './bus';
import { fixActions } from './fixes';
import { kernelActions } from './kernels';
import { logActions } from './log';
import { processActions } from './processes';
import { queueActions } from './queues';
import type { ActionActivities, ActionDeps } from './shared';
import { snapshotActions } from './snapshots';
import { verificationActions } from './verification';

export {
  ActionErrorType,
  NON_RETRYABLE_ACTION_ERRORS,
  idempotencyKey,
  type ActionActivities,
  type ActionActivity,
  type ActionDeps,
  type ActionMeta,
  type ActionOutputs,
  type ActionParams,
} from './shared';
export { AUDIT_META_FIELD } from '../../src/clients/audit-log';
export { EVENT_HEADERS } from './bus';
export { failOverControlPlane } from './control-plane-client';

export function createActionActivities(deps: ActionDeps): ActionActivities {
  return {
    ...kernelActions(deps),
    ...queueActions(deps),
    ...busActions(deps),
    ...logActions(deps),
    ...auditActions(deps),
    ...snapshotActions(deps),
    ...processActions(deps),
    ...backlogActions(deps),
    ...verificationActions(deps),
    ...fixActions(deps),
  };
}
