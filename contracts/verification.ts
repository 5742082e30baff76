/**
 * Contract of the verification workflow (workflows/verification.ts): the checks a remedy must pass
 * before its incident closes. Started by the incident workflow as a child (`verificationWorkflowId`),
 * one per remedy attempt. Cheap checks run first: the kernel's readiness self-test and the detector
 * that raised the evidence seeing its condition gone (the moment the fault is *healed*); then the
 * project's own checks, for real: the targeted mocha tests, eslint, `tsc --noEmit`.
 */
import { defineQuery } from '@temporalio/workflow';

export const VERIFICATION_WORKFLOW = 'verificationWorkflow';
export type VerificationWorkflow = (input: VerificationInput) => Promise<VerificationOutcome>;

/** One verification per incident attempt: `verification-<incident id>-<attempt>`. */
export function verificationWorkflowId(incidentId: string, attempt: number): string {
  return `verification-${incidentId}-${attempt}`;
}

/** The checks, in the order they run (config `incidents.verification.checks` picks among them). */
export const VERIFICATION_CHECK_NAMES = ['readiness', 'detector', 'tests', 'lint', 'types'] as const;
export type VerificationCheckName = (typeof VERIFICATION_CHECK_NAMES)[number];

/** The evidence whose condition the detector check must see gone. */
export interface VerifiedEvidence {
  /** The evidence id (`<kind>:<kernel>:<key>`), as a detector's finding for the same condition makes it. */
  id: string;
  kind: string;
  kernel: string | null;
  process: string | null;
  signature: string;
  /** Epoch ms it was seen. */
  at: number;
}

export interface VerificationInput {
  incidentId: string;
  attempt: number;
  signature: string;
  kernel: string | null;
  evidence: VerifiedEvidence;
  /** Files the remedy changed, relative to the project root; empty for a playbook remedy. */
  changedFiles: string[];
  /** Epoch ms the remedy finished: an event (one refused publish) must not recur after it. */
  remedyFinishedAt: number;
  /** Where the project checks run (a scratch copy for a fix); default the project root. */
  root?: string;
  /** Which checks; default config `incidents.verification.checks`. */
  checks?: VerificationCheckName[];
  /**
   * The task queues the checks run on: readiness and detector on the healing workers', the project
   * checks on the coding agent's. Default: the healing worker's config (`temporal.taskQueues`), read
   * by the workflow's first (local) activity with the checks and their timeout.
   */
  taskQueues?: VerificationTaskQueues;
}

export interface VerificationTaskQueues {
  healing: string;
  codingAgent: string;
}

/** What the workflow's first local activity reads from the healing worker's config. */
export interface VerificationSettings {
  checks: VerificationCheckName[];
  /** `incidents.verification.checkTimeoutMs`: the longest one project check may run. */
  checkTimeoutMs: number;
  taskQueues: VerificationTaskQueues;
}

export interface VerificationCheckReport {
  name: VerificationCheckName;
  ok: boolean;
  /** The command run (a shell command, or what an in-process check did, e.g. `self-test message_bus`). */
  command: string;
  exitCode: number | null;
  /** Bounded: the end of the output, where errors are. */
  output: string;
  ms: number;
  startedAt: string;
  /** When the check first passed (readiness: the first self-test that passed), if it did. */
  passedAt?: string;
  /**
   * A project check only: true when this report is the result of an earlier run of the same command
   * in the same root (activities/verification.ts `sharedRun`): one that started after this check was
   * asked for (while it waited its turn), or one that passed on the same tree (every file's size and
   * modification time unchanged). `startedAt` and `ms` are that run's; the output's first line says which.
   */
  shared?: boolean;
}

export interface VerificationOutcome {
  ok: boolean;
  checks: VerificationCheckReport[];
  /** Epoch ms the readiness and detector checks had both passed: the fault is gone. Null if they did not. */
  healedAt: number | null;
}

export const verificationProgressQuery = defineQuery<VerificationCheckReport[]>('verificationProgress');
