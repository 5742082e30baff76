/** What the parts of a run share: its context, and how a step's action is called. */
import { proxyActivities, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Playbook, PlaybookStep } from '../../src/playbooks/format';
import type { TemplateScope } from '../../src/playbooks/template';
import type { PlaybookReport } from '../../contracts/playbook';
import type { AuditBuffer } from './audit-buffer';

/** A completed step's compensation, resolved when the step completed. */
export interface PendingCompensation {
  stepId: string;
  action: string;
  params: unknown;
  retry: PlaybookStep['retry'];
  timeoutMs: number;
}

type ActionFn = (params: unknown, meta: unknown) => Promise<unknown>;

/** What the steps share while a run goes. */
export interface RunContext {
  playbook: Playbook;
  kernel: string | null;
  report: PlaybookReport;
  scope: TemplateScope;
  audit: AuditBuffer;
  /** Approval decisions by step id, set by the approve/reject updates. */
  decisions: Map<string, { decision: 'approve' | 'reject'; by: string }>;
  /** Completed steps' compensations, in order. */
  compensations: PendingCompensation[];
}

/** The step that ended the run early, and whether the completed steps are compensated. */
export interface StepFailure {
  step: string;
  error: string;
  compensate: boolean;
}

/** The activity options of a step: its own timeout and retry policy, as the playbook declares them. */
function stepOptions(step: { timeoutMs: number; retry: PlaybookStep['retry'] }): ActivityOptions {
  return {
    startToCloseTimeout: step.timeoutMs,
    heartbeatTimeout: Math.min(step.timeoutMs, 30_000),
    retry: {
      maximumAttempts: step.retry.attempts,
      initialInterval: step.retry.backoffMs,
      backoffCoefficient: 2,
      nonRetryableErrorTypes: ['InvalidActionParams', ...step.retry.nonRetryable],
    },
  };
}

export function actionOf(step: { action: string; timeoutMs: number; retry: PlaybookStep['retry'] }): ActionFn {
  return proxyActivities<Record<string, ActionFn>>(stepOptions(step))[step.action];
}


/** The metadata every action call carries: its idempotency key is built from it. */
export function actionMeta(ctx: RunContext, stepId: string) {
  const { workflowId, runId } = workflowInfo();
  return { workflowId, runId, stepId, playbook: ctx.playbook.name, kernel: ctx.kernel };
}

