/**
 * Contract of the playbook workflow (workflows/playbook/): one run of a validated playbook. The CLI
 * starts runs (`playbookRunId`), the dispatcher starts or signals them (`dispatchWorkflowId`), and
 * everyone follows a run through its progress query.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Playbook } from '../src/playbooks/format';

export const PLAYBOOK_WORKFLOW = 'playbookWorkflow';
export type PlaybookWorkflow = (input: PlaybookRunInput) => Promise<PlaybookReport>;

/**
 * The workflow task timeout every start of a playbook run sets. A run's workflow tasks take
 * milliseconds (its local activities heartbeat the task when longer), so the server's default of
 * 10 s only matters when a worker is killed mid-task: the task is handed to another worker once
 * this runs out, so a kill costs a run about 2 s instead of 10.
 */
export const PLAYBOOK_WORKFLOW_TASK_TIMEOUT = '2 seconds';

/** A run started by hand: the playbook and a time, readable in the Web UI. */
export function playbookRunId(name: string, at: Date): string {
  return `playbook-${name}-${at.toISOString().replace(/[:.]/g, '-')}`;
}

/**
 * A run the dispatcher starts: one per playbook and kernel (or process) at a time, so evidence for
 * a running one folds into it (signal-with-start on this id).
 */
export function dispatchWorkflowId(playbook: string, target: string | null): string {
  return `dispatch-${playbook}-${target ?? 'any'}`;
}

/** Failure types of a run; the report is the failure's details. */
export const PLAYBOOK_REFUSED = 'PlaybookRefused';
export const PLAYBOOK_FAILED = 'PlaybookFailed';

export type StepStatus = 'pending' | 'skipped' | 'waiting_approval' | 'running' | 'succeeded' | 'failed' | 'rejected' | 'planned';

export interface StepReport {
  id: string;
  action: string;
  status: StepStatus;
  /** The parameters the action was (or, in a dry run, would be) called with. */
  params: unknown;
  output: unknown;
  error: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  approval: { decision: 'approve' | 'reject'; by: string; timedOut: boolean } | null;
  /** The approval prompt, templates resolved, while the step waits for a decision. */
  prompt: string | null;
}

export interface CompensationReport {
  stepId: string;
  action: string;
  params: unknown;
  ok: boolean;
  error: string | null;
}

export type PlaybookOutcome = 'running' | 'waiting_lock' | 'succeeded' | 'failed' | 'compensated' | 'refused' | 'dry_run';

/** Evidence as the run keeps it (the full record is in the store's `evidence` collection). */
export interface FoldedEvidence {
  id: string;
  kind: string;
  signature: string;
  detail: string;
  observer: string;
  at: number;
  count: number;
}

export interface PlaybookReport {
  workflowId: string;
  playbook: string;
  kernel: string | null;
  dryRun: boolean;
  params: Record<string, unknown>;
  outcome: PlaybookOutcome;
  steps: StepReport[];
  compensations: CompensationReport[];
  /** Audit entries the immutable log could not take (the run went on without them). */
  auditErrors: string[];
  /**
   * The evidence that started the run (dispatcher) and what arrived while it ran, folded into it:
   * one entry per evidence id, `count` how often it was reported.
   */
  evidence: FoldedEvidence[];
  startedAt: string;
  finishedAt: string | null;
}

export interface PlaybookRunInput {
  playbook: Playbook;
  /** Typed parameters, defaults applied (the loader's `resolveRunParams`). */
  params: Record<string, unknown>;
  dryRun?: boolean;
  /** The kernel the run is for; defaults to the playbook's trigger kernel. */
  kernel?: string | null;
  /** What started it (a person, or evidence from the dispatcher); kept in the report's audit trail. */
  startedBy?: string;
  /** The evidence the dispatcher started it for (src/healing/evidence.ts `Evidence`). */
  evidence?: unknown;
}

export interface ApprovalDecision {
  step: string;
  by?: string;
}

export const getPlaybookProgressQuery = defineQuery<PlaybookReport>('getPlaybookProgress');
export const approveStepUpdate = defineUpdate<StepReport, [ApprovalDecision]>('approveStep');
export const rejectStepUpdate = defineUpdate<StepReport, [ApprovalDecision]>('rejectStep');
/** Sent by the dispatcher when the same evidence arrives again: folded into this run. */
export const evidenceSignal = defineSignal<[unknown]>('evidence');
/**
 * Sent to a run waiting in line for its kernel's lock by the run that releases it
 * (activities/kernel-locks.ts): the lock is now this run's.
 */
export const lockGrantedSignal = defineSignal<[{ lock: string }]>('lockGranted');
