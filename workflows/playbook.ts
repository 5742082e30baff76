/**
 * The playbook workflow: runs a validated playbook's steps, each one activity call of its action.
 *
 * - Parameters and earlier steps' outputs flow into `with` through data-only templates; `when`
 *   skips a step; an approval gate waits for an approve/reject update, taking its default on timeout.
 * - A failed step (after its retries) continues, aborts, or compensates: compensations of the
 *   completed steps run in reverse, and a failing compensation does not stop the others.
 * - Dry run: resolves what it can and returns the plan without running anything.
 * - One run per kernel at a time through the kernel's lock (wait, or be refused).
 * - Every step and the outcome are appended to the immutable log; the report is the result and a
 *   query (`getPlaybookProgress`), and is stored.
 *
 * Since `patched(FAST_PATH)`: the only server round trips are the steps themselves. The lock is a
 * compare-and-set document in the store taken by a local activity; audit entries are buffered in
 * the workflow and flushed in one batch (at the end, before a long wait, and when the oldest is
 * AUDIT_FLUSH_AGE_MS old at a step boundary); the end — last flush, report, lock handed on — is one
 * local activity. Runs started before it replay the old way: the lock workflow, one audit activity
 * per entry, the report as an activity. See docs/self-healing.md ("The engine's own cost").
 */
import {
  ApplicationFailure,
  condition,
  defineQuery,
  defineUpdate,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  ActivityFailure,
  defineSignal,
  getExternalWorkflowHandle,
  deprecatePatch,
  proxyLocalActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Playbook, PlaybookStep } from '../src/playbooks/format';
import { evalCondition, resolveValue, type TemplateScope } from '../src/playbooks/template';
import type { AuditEntry, PlaybookActivities } from '../activities/playbooks';
import { kernelLockId, lockGrantedSignal, lockRefusedSignal, releaseLockSignal } from './kernel-lock';
import { localAuditActivity, localRecordActivity, recordActivity } from './policies';
import { KernelAttr, OutcomeAttr, PlaybookAttr } from './search-attributes';

export type StepStatus =
  | 'pending'
  | 'skipped'
  | 'waiting_approval'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'rejected'
  | 'planned';

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

export const PLAYBOOK_REFUSED = 'PlaybookRefused';
export const PLAYBOOK_FAILED = 'PlaybookFailed';

const records = proxyActivities<PlaybookActivities>(recordActivity);
/** Audit appends must not hold a recovery hostage when the log itself is what is being repaired. */
const audit = proxyActivities<PlaybookActivities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', maximumAttempts: 3 },
});
/** An append takes milliseconds: an attempt lost with a killed worker should cost seconds, not ten. */
const quickAudit = proxyActivities<PlaybookActivities>({
  startToCloseTimeout: '3 seconds',
  retry: { initialInterval: '200 milliseconds', maximumAttempts: 5 },
});

/** Lock, audit flush and the run's end as local activities (see the header). */
const local = proxyLocalActivities<PlaybookActivities>(localRecordActivity);
const localAudit = proxyLocalActivities<PlaybookActivities>(localAuditActivity);

/** The patch id of the local-activity lock and the batched audit (docs/replay.md). */
export const FAST_PATH = 'playbook-local-lock-batched-audit';
/** At a step boundary, buffered audit entries are flushed once the oldest is this old (workflow time). */
export const AUDIT_FLUSH_AGE_MS = 2_000;
/**
 * A run waiting for the lock checks it again this often (besides the `lockGranted` signal): a holder
 * whose run has ended without releasing (terminated) is then taken over.
 */
export const LOCK_RECHECK_MS = 15_000;

function stepOptions(step: { timeoutMs: number; retry: { attempts: number; backoffMs: number; nonRetryable: string[] } }): ActivityOptions {
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

type ActionFn = (params: unknown, meta: unknown) => Promise<unknown>;

function actionOf(step: { action: string; timeoutMs: number; retry: PlaybookStep['retry'] }): ActionFn {
  return proxyActivities<Record<string, ActionFn>>(stepOptions(step))[step.action];
}

function errorText(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return `${err.cause.message}`;
  return err instanceof Error ? err.message : String(err);
}

export async function playbookWorkflow(input: PlaybookRunInput): Promise<PlaybookReport> {
  const { playbook } = input;
  const info = workflowInfo();
  // A trigger on `any` kernel locks nothing unless the run names its kernel (the dispatcher does).
  const triggerKernel = (playbook.trigger.kernel as string) === 'any' ? null : playbook.trigger.kernel;
  const kernel = input.kernel === undefined ? triggerKernel : input.kernel;
  const report: PlaybookReport = {
    workflowId: info.workflowId,
    playbook: playbook.name,
    kernel,
    dryRun: input.dryRun ?? false,
    params: input.params,
    outcome: 'running',
    steps: playbook.steps.map((s) => ({
      id: s.id,
      action: s.action,
      status: 'pending',
      params: null,
      output: null,
      error: null,
      startedAt: null,
      finishedAt: null,
      approval: null,
      prompt: null,
    })),
    compensations: [],
    auditErrors: [],
    evidence: [],
    startedAt: new Date().toISOString(),
    finishedAt: null,
  };
  const scope: TemplateScope = { params: input.params, steps: {}, run: { id: info.workflowId, playbook: playbook.name, kernel } };
  const decisions = new Map<string, { decision: 'approve' | 'reject'; by: string }>();
  // An object, so TypeScript does not narrow it across the awaits that the signals interleave with.
  const lock: { state: 'none' | 'granted' | 'refused' } = { state: 'none' };

  setHandler(getPlaybookProgressQuery, () => report);
  const decide = (decision: 'approve' | 'reject') => (d: ApprovalDecision): StepReport => {
    decisions.set(d.step, { decision, by: d.by ?? 'operator' });
    return report.steps.find((s) => s.id === d.step)!;
  };
  const waitingOn = (d: ApprovalDecision): void => {
    const step = report.steps.find((s) => s.id === d.step);
    if (!step) throw new Error(`no step "${d.step}" in ${playbook.name}`);
    if (step.status !== 'waiting_approval') throw new Error(`step "${d.step}" is ${step.status}, not waiting for approval`);
  };
  setHandler(approveStepUpdate, decide('approve'), { validator: waitingOn });
  setHandler(rejectStepUpdate, decide('reject'), { validator: waitingOn });
  setHandler(lockGrantedSignal, () => {
    lock.state = 'granted';
  });
  setHandler(lockRefusedSignal, () => {
    lock.state = 'refused';
  });
  // Duplicates of the evidence (the other replica, a repeated probe failure) fold into this run.
  const fold = (e: unknown): void => {
    if (!e || typeof e !== 'object') return;
    const ev = e as Partial<FoldedEvidence>;
    const id = String(ev.id ?? '');
    const known = report.evidence.find((x) => x.id === id);
    if (known) {
      known.count++;
      return;
    }
    report.evidence.push({
      id,
      kind: String(ev.kind ?? ''),
      signature: String(ev.signature ?? ''),
      detail: String(ev.detail ?? ''),
      observer: String(ev.observer ?? ''),
      at: typeof ev.at === 'number' ? ev.at : 0,
      count: 1,
    });
  };
  if (input.evidence) fold(input.evidence);
  // The dispatcher's signal-with-start delivers the starting evidence again: counted once.
  let startSignalSeen = !input.evidence;
  setHandler(evidenceSignal, (e) => {
    if (!startSignalSeen && (e as { id?: unknown } | null)?.id === (input.evidence as { id?: unknown }).id) {
      startSignalSeen = true;
      return;
    }
    fold(e);
  });

  upsertSearchAttributes([
    { key: PlaybookAttr, value: playbook.name },
    { key: OutcomeAttr, value: report.dryRun ? 'dry_run' : 'running' },
    ...(kernel ? [{ key: KernelAttr, value: kernel }] : []),
  ]);

  if (report.dryRun) {
    for (const [i, step] of playbook.steps.entries()) {
      const r = report.steps[i];
      r.status = 'planned';
      // Outputs of earlier steps do not exist in a dry run: their references stay as written.
      r.params = resolvePartially(step.with, scope);
    }
    report.outcome = 'dry_run';
    report.finishedAt = new Date().toISOString();
    return report;
  }

  const meta = (stepId: string) => ({ workflowId: info.workflowId, runId: info.runId, stepId, playbook: playbook.name, kernel });
  // Decided once, in the first workflow task, as the run was first executed (see the header).
  // Deprecated: every run that could still take the old branch has ended (see docs/replay.md).
  deprecatePatch(FAST_PATH);
  const fast: boolean = true;
  // Audit entries leave the critical path (patched, so runs recorded before replay the old way):
  // chained so they land in order, awaited only before the run is recorded.
  const auditOffPath: boolean = false;
  // The fast path's buffer: entries wait here, in order, until a flush appends them.
  const buffer: AuditEntry[] = [];
  const owner = { workflowId: info.workflowId, runId: info.runId };
  const auditRun = { workflowId: info.workflowId, runId: info.runId, playbook: playbook.name, kernel };
  // A log seq no flush attempt of this run can precede: bounds the search for an earlier attempt's entries.
  let afterSeq: number | null = null;
  const flushAudit = async (): Promise<void> => {
    if (buffer.length === 0) return;
    const entries = buffer.slice();
    try {
      const r = await localAudit.flushPlaybookAudit({ run: auditRun, entries, afterSeq });
      buffer.splice(0, entries.length);
      afterSeq = r.seq;
    } catch {
      // The log may be what this run repairs: the entries stay buffered (in order) for the next
      // flush, and the last one lists what still did not land in the report's auditErrors.
    }
  };
  /** A step boundary: flush when the oldest buffered entry is old enough, so the log is never far behind. */
  const flushIfOld = async (): Promise<void> => {
    if (buffer.length > 0 && Date.now() - buffer[0].at >= AUDIT_FLUSH_AGE_MS) await flushAudit();
  };
  let auditChain: Promise<void> = Promise.resolve();
  const appendAudit = async (kind: string, data: Record<string, unknown>, key: string): Promise<void> => {
    try {
      const via = auditOffPath ? quickAudit : audit;
      await via.append_audit({ kind, data: { playbook: playbook.name, run: info.workflowId, ...data } }, meta(`audit:${key}`));
    } catch (err) {
      // Recorded in the report instead: the run goes on (see `audit` above).
      report.auditErrors.push(`${kind} ${key}: ${errorText(err)}`);
    }
  };
  const auditEntry = async (kind: string, data: Record<string, unknown>, key: string): Promise<void> => {
    if (fast) {
      buffer.push({ key, kind, data: { playbook: playbook.name, run: info.workflowId, ...data }, at: Date.now() });
      return;
    }
    if (!auditOffPath) return appendAudit(kind, data, key);
    auditChain = auditChain.then(() => appendAudit(kind, data, key));
  };

  // `bypass` (a value runs recorded before it existed never carry) takes no lock: see format.ts.
  const locked = kernel !== null && playbook.concurrency !== 'bypass';
  if (fast) {
    const mode = playbook.concurrency === 'refuse' ? 'refuse' : 'wait';
    const begun = await local.beginPlaybookRun({ lock: locked && kernel ? { kernel, owner, mode } : null });
    afterSeq = begun.logSeq;
    if (begun.lock?.state === 'granted') lock.state = 'granted';
    else if (begun.lock?.state === 'refused') lock.state = 'refused';
    else if (begun.lock?.state === 'queued') {
      report.outcome = 'waiting_lock';
      await flushAudit();
      // Told by the releasing run's signal; re-checked meanwhile so an ended holder is taken over.
      // (A signal that arrived before the local activity's answer has set the state already.)
      while (!(await condition(() => lock.state === 'granted', LOCK_RECHECK_MS))) {
        const again = await local.acquireKernelLock(kernel!, owner, mode);
        if (again.state === 'granted') lock.state = 'granted';
      }
    }
  }
  if (!fast && kernel && playbook.concurrency !== 'bypass') {
    report.outcome = 'waiting_lock';
    await records.requestKernelLock(kernel, info.workflowId, playbook.concurrency);
    await condition(() => lock.state !== 'none');
  }
  if (locked) {
    if (lock.state === 'refused') {
      report.outcome = 'refused';
      report.finishedAt = new Date().toISOString();
      upsertSearchAttributes([{ key: OutcomeAttr, value: 'refused' }]);
      throw ApplicationFailure.create({
        type: PLAYBOOK_REFUSED,
        nonRetryable: true,
        message: `another playbook run holds kernel ${kernel} and ${playbook.name} is set to concurrency: refuse`,
        details: [report],
      });
    }
    report.outcome = 'running';
  }

  const compensations: Array<{ stepId: string; action: string; params: unknown; retry: PlaybookStep['retry']; timeoutMs: number }> = [];
  let failed: { step: string; error: string; compensate: boolean } | null = null;
  try {
    await auditEntry(
      'playbook.started',
      { params: input.params, startedBy: input.startedBy ?? 'unknown', ...(input.evidence ? { evidence: input.evidence } : {}) },
      'start',
    );
    for (const [i, step] of playbook.steps.entries()) {
      const r = report.steps[i];
      let skip: boolean;
      try {
        skip = step.when !== null && !evalCondition(step.when, scope);
      } catch (err) {
        // A template that cannot be evaluated is this step's failure, not a workflow task that
        // retries forever.
        r.status = 'failed';
        r.error = `when: ${errorText(err)}`;
        if (step.onFailure === 'continue') continue;
        failed = { step: step.id, error: r.error, compensate: step.onFailure === 'compensate' };
        break;
      }
      if (skip) {
        r.status = 'skipped';
        await auditEntry('playbook.step', { step: step.id, status: 'skipped' }, step.id);
        if (fast) await flushIfOld();
        continue;
      }
      if (step.approval) {
        // A gate may wait for hours: what happened so far goes to the log first.
        if (fast) await flushAudit();
        r.status = 'waiting_approval';
        r.prompt = resolvePartially(step.approval.prompt, scope) as string;
        const decided = await condition(() => decisions.has(step.id), step.approval.timeoutMs);
        const d = decided ? decisions.get(step.id)! : { decision: step.approval.default, by: 'timeout' };
        r.approval = { decision: d.decision, by: d.by, timedOut: !decided };
        if (d.decision === 'reject') {
          r.status = 'rejected';
          r.finishedAt = new Date().toISOString();
          await auditEntry('playbook.step', { step: step.id, status: 'rejected', by: d.by }, step.id);
          failed = { step: step.id, error: `approval rejected by ${d.by}`, compensate: true };
          break;
        }
      }
      r.status = 'running';
      r.startedAt = new Date().toISOString();
      try {
        r.params = resolveValue(step.with, scope);
        r.output = await actionOf(step)(r.params, meta(step.id));
        r.status = 'succeeded';
        if (step.output) scope.steps[step.output] = r.output;
        if (step.compensate) {
          compensations.push({
            stepId: step.id,
            action: step.compensate.action,
            // Resolved now: a compensation may read the step's own output (e.g. its snapshot id).
            params: resolvePartially(step.compensate.with, scope),
            retry: step.retry,
            timeoutMs: step.timeoutMs,
          });
        }
      } catch (err) {
        r.status = 'failed';
        r.error = errorText(err);
        if (step.onFailure !== 'continue') failed = { step: step.id, error: r.error, compensate: step.onFailure === 'compensate' };
      } finally {
        r.finishedAt = new Date().toISOString();
      }
      await auditEntry('playbook.step', { step: step.id, action: step.action, status: r.status, error: r.error }, step.id);
      if (failed) break;
      if (fast) await flushIfOld();
    }

    if (failed?.compensate) {
      for (const c of [...compensations].reverse()) {
        try {
          await actionOf(c)(c.params, meta(`compensate:${c.stepId}`));
          report.compensations.push({ stepId: c.stepId, action: c.action, params: c.params, ok: true, error: null });
        } catch (err) {
          // One failing compensation never stops the others.
          report.compensations.push({ stepId: c.stepId, action: c.action, params: c.params, ok: false, error: errorText(err) });
        }
      }
    }
    report.outcome = failed ? (failed.compensate ? 'compensated' : 'failed') : 'succeeded';
  } finally {
    report.finishedAt = new Date().toISOString();
    // The fast path hands the lock on in finishPlaybookRun, after the run's last audit entry.
    if (!fast && kernel && lock.state === 'granted') {
      await getExternalWorkflowHandle(kernelLockId(kernel)).signal(releaseLockSignal, { requester: info.workflowId });
    }
  }
  upsertSearchAttributes([{ key: OutcomeAttr, value: report.outcome }]);
  await auditEntry(
    'playbook.finished',
    { outcome: report.outcome, failedStep: failed?.step ?? null, ...(report.evidence.length ? { evidence: report.evidence } : {}) },
    'finish',
  );
  if (fast) {
    // One local activity: the remaining entries, the report, the lock handed on (all idempotent).
    const done = await local.finishPlaybookRun({
      report,
      audit: { run: auditRun, entries: buffer.slice(), afterSeq },
      lock: kernel && lock.state === 'granted' ? { kernel, owner } : null,
    });
    buffer.length = 0;
    report.auditErrors.push(...done.auditErrors);
  } else {
    await auditChain;
    await records.recordPlaybookRun(report);
  }
  if (failed) {
    throw ApplicationFailure.create({
      type: PLAYBOOK_FAILED,
      nonRetryable: true,
      message: `${playbook.name}: step ${failed.step} failed: ${failed.error}${failed.compensate ? ' (compensated)' : ''}`,
      details: [report],
    });
  }
  return report;
}

/** Resolves templates whose references exist; leaves the others as written (dry run). */
function resolvePartially(value: unknown, scope: TemplateScope): unknown {
  if (typeof value === 'string') {
    try {
      return resolveValue(value, scope);
    } catch {
      return value;
    }
  }
  if (Array.isArray(value)) return value.map((v) => resolvePartially(v, scope));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolvePartially(v, scope)]));
  }
  return value;
}
