/**
 * The verification workflow (contracts/verification.ts): the checks a remedy must pass before its
 * incident closes, in the contract's order.
 *
 *  1. The cheap checks, on the healing queue, side by side: `readiness` (the kernel's real
 *     self-test) and `detector` (the detector of the evidence's kind sees its condition gone). When
 *     every one of them that ran has passed, the fault is gone: `healedAt` is the workflow time then
 *     (null if one failed, or if neither was selected: nothing confirmed it).
 *  2. The project checks, on the coding agent's queue, one after another: `tests`, `lint`, `types`.
 *     Skipped when a cheap check failed (the remedy did not heal the fault: its code is not worth
 *     minutes of CPU, and the incident's next attempt runs them again); otherwise all run even
 *     when one fails, so the incident shows every failing output at once.
 *
 * Which checks: `input.checks`, else the healing worker's config (`incidents.verification.checks`),
 * read with the task queues and the check timeout by a first local activity — recorded in the
 * history, so the workflow stays deterministic. An activity that could not run at all (after its
 * retries) is a failed check whose output is the error.
 */
import { proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import {
  verificationProgressQuery,
  type VerificationCheckName,
  type VerificationCheckReport,
  type VerificationInput,
  type VerificationOutcome,
  type VerificationSettings,
} from '../contracts/verification';
import { KernelAttr, OutcomeAttr, SignatureAttr } from '../contracts/search-attributes';
import type { ProjectCheckActivities, VerificationActivities } from '../activities/verification';
import { projectCheckActivity, verificationCheckActivity, verificationSettingsActivity } from './policies';

const { verificationSettings } = proxyLocalActivities<VerificationActivities>(verificationSettingsActivity);

const PROJECT_CHECKS = ['tests', 'lint', 'types'] as const;

/** A check whose activity failed after its retries: reported as failed, with the error as its output. */
function notRun(name: VerificationCheckName, command: string, startedAt: number, err: unknown): VerificationCheckReport {
  const message = err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err);
  return { name, ok: false, command, exitCode: null, output: `the check could not run: ${message}`, ms: Date.now() - startedAt, startedAt: new Date(startedAt).toISOString() };
}

async function run(name: VerificationCheckName, command: string, fn: () => Promise<VerificationCheckReport>): Promise<VerificationCheckReport> {
  const started = Date.now();
  try {
    return await fn();
  } catch (err) {
    return notRun(name, command, started, err);
  }
}

export async function verificationWorkflow(input: VerificationInput): Promise<VerificationOutcome> {
  const reports: VerificationCheckReport[] = [];
  setHandler(verificationProgressQuery, () => reports);
  upsertSearchAttributes([{ key: SignatureAttr, value: input.signature }, ...(input.kernel ? [{ key: KernelAttr, value: input.kernel }] : [])]);

  const settings: VerificationSettings = await verificationSettings();
  const selected = new Set<VerificationCheckName>(input.checks ?? settings.checks);
  const queues = input.taskQueues ?? settings.taskQueues;

  const healedAt = await cheapChecks(input, selected, queues.healing, reports);
  if (healedAt !== null || !(selected.has('readiness') || selected.has('detector'))) {
    await projectChecks(input, selected, queues.codingAgent, settings.checkTimeoutMs, reports);
  }
  const ok = reports.every((r) => r.ok);
  upsertSearchAttributes([{ key: OutcomeAttr, value: ok ? 'passed' : 'failed' }]);
  return { ok, checks: [...reports], healedAt };
}

/** Readiness and detector side by side, reported in the contract's order; the workflow time when every one that ran passed, else null. */
async function cheapChecks(input: VerificationInput, selected: Set<VerificationCheckName>, taskQueue: string, reports: VerificationCheckReport[]): Promise<number | null> {
  const acts = proxyActivities<VerificationActivities>({ ...verificationCheckActivity, taskQueue });
  const pending: Array<Promise<VerificationCheckReport>> = [];
  if (selected.has('readiness')) pending.push(run('readiness', `self-test ${input.kernel ?? '(none)'}`, () => acts.verifyReadiness({ kernel: input.kernel })));
  if (selected.has('detector')) {
    pending.push(run('detector', `detector for ${input.evidence.kind}`, () => acts.verifyDetector({ evidence: input.evidence, since: input.remedyFinishedAt })));
  }
  if (pending.length === 0) return null;
  const done = await Promise.all(pending);
  reports.push(...done);
  return done.every((r) => r.ok) ? Date.now() : null;
}

/** Tests, lint, types, one after another on the coding agent's queue; each reported as it ends. */
async function projectChecks(
  input: VerificationInput,
  selected: Set<VerificationCheckName>,
  taskQueue: string,
  checkTimeoutMs: number,
  reports: VerificationCheckReport[],
): Promise<void> {
  const { runProjectCheck } = proxyActivities<ProjectCheckActivities>({ ...projectCheckActivity(checkTimeoutMs), taskQueue });
  for (const name of PROJECT_CHECKS) {
    if (!selected.has(name)) continue;
    reports.push(await run(name, name, () => runProjectCheck({ name, kernel: input.kernel, changedFiles: input.changedFiles, ...(input.root ? { root: input.root } : {}) })));
  }
}

