/**
 * The playbook workflow: runs a validated playbook's steps, each one activity call of its action.
 *
 * - Parameters and earlier steps' outputs flow into `with` through data-only templates; `when`
 *   skips a step; an approval gate waits for an approve/reject update, taking its default on
 *   timeout (steps.ts).
 * - A failed step (after its retries) continues, aborts, or compensates: compensations of the
 *   completed steps run in reverse, and a failing compensation does not stop the others
 *   (compensation.ts).
 * - Dry run: resolves what it can and returns the plan without running anything.
 * - One run per kernel at a time through the kernel's lock, a store document (lock.ts).
 * - Every step and the outcome are buffered and appended to the immutable log in batches
 *   (audit-buffer.ts); the report is the result and a query, and is stored.
 *
 * The only server round trips are the steps themselves: the lock, the audit flushes and the run's
 * end (last flush, report, lock handed on) are local activities. See docs/self-healing.md ("The
 * engine's own cost").
 */
import { ApplicationFailure, proxyLocalActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import {
  getPlaybookProgressQuery,
  PLAYBOOK_FAILED,
  PLAYBOOK_REFUSED,
  type PlaybookReport,
  type PlaybookRunInput,
  type PlaybookWorkflow,
} from '../../contracts/playbook';
import { KernelAttr, OutcomeAttr, PlaybookAttr } from '../../contracts/search-attributes';
import type { PlaybookActivities } from '../../activities/playbooks';
import { localFinishActivity } from '../policies';
import { AuditBuffer } from './audit-buffer';
import { compensate } from './compensation';
import { awaitLock, beginRun, lockOwner } from './lock';
import { foldEvidence, newReport } from './report';
import type { RunContext, StepFailure } from './context';
import { handleApprovals, runSteps } from './steps';
import { resolvePartially } from './templates';

export { AUDIT_FLUSH_AGE_MS } from './audit-buffer';
export { LOCK_RECHECK_MS } from './lock';

const finishing = proxyLocalActivities<PlaybookActivities>(localFinishActivity);

export const playbookWorkflow: PlaybookWorkflow = async (input: PlaybookRunInput): Promise<PlaybookReport> => {
  const { playbook } = input;
  // A trigger on `any` kernel locks nothing unless the run names its kernel (the dispatcher does).
  const triggerKernel = (playbook.trigger.kernel as string) === 'any' ? null : playbook.trigger.kernel;
  const kernel = input.kernel === undefined ? triggerKernel : input.kernel;
  const report = newReport(input, kernel);
  const ctx: RunContext = {
    playbook,
    kernel,
    report,
    scope: { params: input.params, steps: {}, run: { id: report.workflowId, playbook: playbook.name, kernel } },
    audit: new AuditBuffer(playbook.name, kernel),
    decisions: new Map(),
    compensations: [],
  };
  setHandler(getPlaybookProgressQuery, () => report);
  handleApprovals(ctx);
  foldEvidence(report, input.evidence);
  upsertSearchAttributes([
    { key: PlaybookAttr, value: playbook.name },
    { key: OutcomeAttr, value: report.dryRun ? 'dry_run' : 'running' },
    ...(kernel ? [{ key: KernelAttr, value: kernel }] : []),
  ]);
  if (report.dryRun) return plan(ctx);

  // `bypass` takes no lock: see format.ts.
  const locked = kernel !== null && playbook.concurrency !== 'bypass';
  const held = await takeLock(ctx, locked ? kernel : null);
  ctx.audit.add('playbook.started', { params: input.params, startedBy: input.startedBy ?? 'unknown', ...(input.evidence ? { evidence: input.evidence } : {}) }, 'start');
  let failed: StepFailure | null = null;
  try {
    failed = await runSteps(ctx);
    if (failed?.compensate) await compensate(ctx);
    report.outcome = failed ? (failed.compensate ? 'compensated' : 'failed') : 'succeeded';
  } finally {
    report.finishedAt = new Date().toISOString();
  }
  await finish(ctx, failed, held ? kernel : null);
  if (failed) {
    throw ApplicationFailure.create({
      type: PLAYBOOK_FAILED,
      nonRetryable: true,
      message: `${playbook.name}: step ${failed.step} failed: ${failed.error}${failed.compensate ? ' (compensated)' : ''}`,
      details: [report],
    });
  }
  return report;
};

/** Dry run: what each step would be called with. Outputs of earlier steps do not exist: their references stay as written. */
function plan(ctx: RunContext): PlaybookReport {
  for (const [i, step] of ctx.playbook.steps.entries()) {
    ctx.report.steps[i].status = 'planned';
    ctx.report.steps[i].params = resolvePartially(step.with, ctx.scope);
  }
  ctx.report.outcome = 'dry_run';
  ctx.report.finishedAt = new Date().toISOString();
  return ctx.report;
}

/** Begins the run: takes the kernel's lock (waiting in line, or refused). Returns whether it holds it. */
async function takeLock(ctx: RunContext, kernel: string | null): Promise<boolean> {
  const mode = ctx.playbook.concurrency === 'refuse' ? 'refuse' : 'wait';
  const begun = await beginRun(kernel, mode);
  ctx.audit.afterSeq = begun.logSeq;
  if (!kernel) return false;
  if (begun.lock.state === 'queued') {
    ctx.report.outcome = 'waiting_lock';
    await ctx.audit.flush();
    await awaitLock(kernel, mode, begun.lock);
  }
  if (begun.lock.state === 'refused') {
    ctx.report.outcome = 'refused';
    ctx.report.finishedAt = new Date().toISOString();
    upsertSearchAttributes([{ key: OutcomeAttr, value: 'refused' }]);
    throw ApplicationFailure.create({
      type: PLAYBOOK_REFUSED,
      nonRetryable: true,
      message: `another playbook run holds kernel ${kernel} and ${ctx.playbook.name} is set to concurrency: refuse`,
      details: [ctx.report],
    });
  }
  ctx.report.outcome = 'running';
  return true;
}

/** The run's end as one local activity: the remaining audit entries, the report, the lock handed on. */
async function finish(ctx: RunContext, failed: StepFailure | null, lockedKernel: string | null): Promise<void> {
  upsertSearchAttributes([{ key: OutcomeAttr, value: ctx.report.outcome }]);
  ctx.audit.add(
    'playbook.finished',
    { outcome: ctx.report.outcome, failedStep: failed?.step ?? null, ...(ctx.report.evidence.length ? { evidence: ctx.report.evidence } : {}) },
    'finish',
  );
  const done = await finishing.finishPlaybookRun({
    report: ctx.report,
    audit: ctx.audit.drain(),
    lock: lockedKernel ? { kernel: lockedKernel, owner: lockOwner() } : null,
  });
  ctx.report.auditErrors.push(...done.auditErrors);
}
