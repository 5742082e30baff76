/**
 * The steps of a run, in order: `when` may skip one, an approval gate may hold it, its action runs
 * as one activity with the step's own timeout and retries, and its output flows to later steps. A
 * failed step continues, aborts, or asks for compensation (compensation.ts).
 */
import { condition, setHandler } from '@temporalio/workflow';
import type { PlaybookStep } from '../../src/playbooks/format';
import { evalCondition, resolveValue } from '../../src/playbooks/template';
import { approveStepUpdate, rejectStepUpdate, type ApprovalDecision, type StepReport } from '../../contracts/playbook';
import { errorText } from '../../src/domain/errors';
import { actionMeta, actionOf, type RunContext, type StepFailure } from './context';
import { resolvePartially } from './templates';

/** The approve/reject updates: refused unless the step is waiting at its gate. */
export function handleApprovals(ctx: RunContext): void {
  const decide = (decision: 'approve' | 'reject') => (d: ApprovalDecision): StepReport => {
    ctx.decisions.set(d.step, { decision, by: d.by ?? 'operator' });
    return ctx.report.steps.find((s) => s.id === d.step)!;
  };
  const waitingOn = (d: ApprovalDecision): void => {
    const step = ctx.report.steps.find((s) => s.id === d.step);
    if (!step) throw new Error(`no step "${d.step}" in ${ctx.playbook.name}`);
    if (step.status !== 'waiting_approval') throw new Error(`step "${d.step}" is ${step.status}, not waiting for approval`);
  };
  setHandler(approveStepUpdate, decide('approve'), { validator: waitingOn });
  setHandler(rejectStepUpdate, decide('reject'), { validator: waitingOn });
}

/** Waits at the step's gate (its default on timeout); a rejection ends the run, compensated. */
async function approvalGate(ctx: RunContext, step: PlaybookStep, r: StepReport): Promise<StepFailure | null> {
  // A gate may wait for hours: what happened so far goes to the log first.
  await ctx.audit.flush();
  r.status = 'waiting_approval';
  r.prompt = resolvePartially(step.approval!.prompt, ctx.scope) as string;
  const decided = await condition(() => ctx.decisions.has(step.id), step.approval!.timeoutMs);
  const d = decided ? ctx.decisions.get(step.id)! : { decision: step.approval!.default, by: 'timeout' };
  r.approval = { decision: d.decision, by: d.by, timedOut: !decided };
  if (d.decision === 'approve') return null;
  r.status = 'rejected';
  r.finishedAt = new Date().toISOString();
  ctx.audit.add('playbook.step', { step: step.id, status: 'rejected', by: d.by }, step.id);
  return { step: step.id, error: `approval rejected by ${d.by}`, compensate: true };
}

/** Runs the step's action; its output joins the scope and its compensation the list. */
async function act(ctx: RunContext, step: PlaybookStep, r: StepReport): Promise<StepFailure | null> {
  r.status = 'running';
  r.startedAt = new Date().toISOString();
  try {
    r.params = resolveValue(step.with, ctx.scope);
    r.output = await actionOf(step)(r.params, actionMeta(ctx, step.id));
    r.status = 'succeeded';
    if (step.output) ctx.scope.steps[step.output] = r.output;
    if (step.compensate) {
      ctx.compensations.push({
        stepId: step.id,
        action: step.compensate.action,
        // Resolved now: a compensation may read the step's own output (e.g. its snapshot id).
        params: resolvePartially(step.compensate.with, ctx.scope),
        retry: step.retry,
        timeoutMs: step.timeoutMs,
      });
    }
    return null;
  } catch (err) {
    r.status = 'failed';
    r.error = errorText(err);
    return step.onFailure === 'continue' ? null : { step: step.id, error: r.error, compensate: step.onFailure === 'compensate' };
  } finally {
    r.finishedAt = new Date().toISOString();
    ctx.audit.add('playbook.step', { step: step.id, action: step.action, status: r.status, error: r.error }, step.id);
  }
}

/** Whether the step runs; a `when` that cannot be evaluated is the step's failure, not a stuck task. */
function shouldRun(ctx: RunContext, step: PlaybookStep, r: StepReport): boolean | StepFailure | 'continue' {
  try {
    return step.when === null || evalCondition(step.when, ctx.scope);
  } catch (err) {
    r.status = 'failed';
    r.error = `when: ${errorText(err)}`;
    return step.onFailure === 'continue' ? 'continue' : { step: step.id, error: r.error, compensate: step.onFailure === 'compensate' };
  }
}

/** Every step in order; the first failure that does not continue ends them. */
export async function runSteps(ctx: RunContext): Promise<StepFailure | null> {
  for (const [i, step] of ctx.playbook.steps.entries()) {
    const r = ctx.report.steps[i];
    const run = shouldRun(ctx, step, r);
    if (run === 'continue') continue;
    if (typeof run === 'object') return run;
    if (!run) {
      r.status = 'skipped';
      ctx.audit.add('playbook.step', { step: step.id, status: 'skipped' }, step.id);
      await ctx.audit.flushIfOld();
      continue;
    }
    const failed = (step.approval ? await approvalGate(ctx, step, r) : null) ?? (await act(ctx, step, r));
    if (failed) return failed;
    await ctx.audit.flushIfOld();
  }
  return null;
}
