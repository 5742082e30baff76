/**
 * Contract of the change-set workflows (workflows/change-set.ts), issue 16 "Apply safely":
 *  - `changeSetWorkflow`: stage a coding-agent change set in a scratch copy, verify it there with
 *    the verification workflow (a child, with `root` = the scratch copy), and only then promote it
 *    to the live tree with a backup, restart its kernel and wait until it is ready. A change set
 *    that fails staging or verification is never promoted: the outcome carries the output.
 *  - `changeSetRollbackWorkflow`: restore a promoted change set's files from its backup (checked
 *    by hashes), then restart its kernel (`layer1 incidents rollback ID`).
 * Both run on the healing task queue; the file work runs on the coding agent's.
 */
import type { ChangeSet } from '../src/coding-agent/change-set';
import type { VerificationCheckName, VerificationCheckReport, VerifiedEvidence } from './verification';

export const CHANGE_SET_WORKFLOW = 'changeSetWorkflow';
export const CHANGE_SET_ROLLBACK_WORKFLOW = 'changeSetRollbackWorkflow';

/** A change set's id: `cs-<incident id>-<attempt>` (letters, digits, `-` only: it names folders). */
export function changeSetId(incidentId: string, attempt: number): string {
  return `cs-${incidentId}-${attempt}`;
}
export const changeSetWorkflowId = (id: string): string => `change-set-${id}`;
export const changeSetRollbackWorkflowId = (id: string): string => `change-set-rollback-${id}`;

/** The states a change set's record goes through, each an insert-once fact (src/coding-agent/records.ts). */
export const CHANGE_SET_STATES = ['staged', 'verified', 'failed', 'promoted', 'rolled_back'] as const;
export type ChangeSetState = (typeof CHANGE_SET_STATES)[number];

export interface ChangeSetInput {
  id: string;
  incidentId: string | null;
  changeSet: ChangeSet;
  /** The kernel the fault is in: its declared tests are the targeted tests. */
  kernel: string | null;
  /** The evidence, for the verification's record; a neutral one is made when absent. */
  evidence?: VerifiedEvidence;
  /** Which project checks run in the scratch copy. @default tests, lint, types */
  checks?: Array<Extract<VerificationCheckName, 'tests' | 'lint' | 'types'>>;
  /** How long to wait for the restarted kernel's self-test. @default 60 s */
  readyTimeoutMs?: number;
  /**
   * The task queue of the file work and the project checks. @default the coding agent's; the
   * healing queue when the coding agent is the kernel at fault (it cannot repair its own start).
   */
  agentQueue?: string;
}

/** One file as recorded: where, the diff, and its hashes before and after (null: absent). */
export interface ChangeSetFileRecord {
  root: 'project' | 'state';
  path: string;
  source: string;
  beforeSha256: string | null;
  afterSha256: string | null;
  diff: string;
}

export interface ChangeSetCommandReport {
  why: string;
  command: string;
  ok: boolean;
  exitCode: number | null;
  output: string;
}

export interface ChangeSetOutcome {
  id: string;
  incidentId: string | null;
  /** `promoted` (and the kernel ready when one was restarted), else `failed`. */
  state: ChangeSetState;
  files: ChangeSetFileRecord[];
  /** The commands run in the scratch copy, then live. */
  commands: ChangeSetCommandReport[];
  checks: VerificationCheckReport[];
  /** Why it failed (staging refused it, a check failed, promotion failed), null when promoted. */
  error: string | null;
  kernel: { name: string; ready: boolean; detail: string } | null;
  /** The immutable log's entry of the promotion (appended once the kernel is back: it may be the log that was broken). */
  logSeq?: number | null;
}

export interface ChangeSetRollbackInput {
  id: string;
  /** Restarted once the files are restored. */
  restartKernel: string | null;
  readyTimeoutMs?: number;
}

export interface ChangeSetRollbackOutcome {
  id: string;
  incidentId: string | null;
  ok: boolean;
  files: Array<{ root: 'project' | 'state'; path: string; restoredSha256: string | null; expectedSha256: string | null; ok: boolean }>;
  commands: ChangeSetCommandReport[];
  kernel: { name: string; ready: boolean; detail: string } | null;
  error: string | null;
}

export type ChangeSetWorkflow = (input: ChangeSetInput) => Promise<ChangeSetOutcome>;
export type ChangeSetRollbackWorkflow = (input: ChangeSetRollbackInput) => Promise<ChangeSetRollbackOutcome>;
