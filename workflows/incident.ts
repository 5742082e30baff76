/**
 * The incident workflow: one error signature, from the first evidence to a verified close.
 *
 * open → diagnosing (log lines, control-plane history, resources) → decide: the knowledge base's
 * verified remedy when it may be auto-applied, else a task for the coding agent, which answers with
 * a remedy → remedying (the playbook as a child workflow) → verifying (the verification workflow as
 * a child) → closed, or reopened with the failing output and tried again up to `maxAttempts` →
 * learned (the knowledge base counts the outcome) → a clarity entry in the store and the log.
 *
 * Evidence of the same signature arriving meanwhile is attached (the seam's signal-with-start on
 * `incident-<signature>` folds it here). Evidence that arrives after the fault was seen gone is a
 * recurrence: the workflow continues as a new incident for it.
 */
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  continueAsNew,
  executeChild,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createIncidentActivities } from '../activities/incidents';
import type { RemedyChoice } from '../src/healing/remedies';
import type { Evidence } from '../src/healing/evidence';
import type { KnowledgeEntry } from '../src/knowledge/types';
import { incidentEvidenceSignal, incidentIdOf, incidentQuery, type Incident, type IncidentSettings, type IncidentWorkflow } from '../contracts/incident';
import { dispatchWorkflowId, PLAYBOOK_WORKFLOW, PLAYBOOK_WORKFLOW_TASK_TIMEOUT, type PlaybookReport, type PlaybookWorkflow } from '../contracts/playbook';
import { VERIFICATION_WORKFLOW, verificationWorkflowId, type VerificationCheckName, type VerificationOutcome, type VerificationWorkflow } from '../contracts/verification';
import { KernelAttr, OutcomeAttr, SignatureAttr } from '../contracts/search-attributes';
import { agentTaskActivity, diagnosticsActivity, joinRunActivity, recordActivity } from './policies';
import { clarityOf } from './incident-clarity';

type IncidentActivities = ReturnType<typeof createIncidentActivities>;
interface AgentActivities {
  chooseRemedy(task: { incidentId: string; evidence: Evidence; diagnostics: Incident['diagnostics'] }): Promise<RemedyChoice>;
}

/** Evidence ids kept on the incident (the count goes on). */
const ATTACHED_KEPT = 50;

function activitiesFor(settings: IncidentSettings) {
  return {
    record: proxyActivities<Pick<IncidentActivities, 'recordIncident' | 'learnOutcome' | 'appendClarity' | 'openIncidentBacklog'>>(recordActivity),
    diag: proxyActivities<Pick<IncidentActivities, 'collectDiagnostics' | 'decideRemedy'>>(diagnosticsActivity),
    join: proxyActivities<Pick<IncidentActivities, 'joinPlaybookRun'>>(joinRunActivity),
    agent: proxyActivities<AgentActivities>({ ...agentTaskActivity, taskQueue: settings.taskQueues.codingAgent }),
    fallback: proxyActivities<Pick<AgentActivities, 'chooseRemedy'>>(diagnosticsActivity),
  };
}

/** One incident run: its state, its activities, and the store's copy kept in step. */
interface Run {
  inc: Incident;
  evidence: Evidence;
  settings: IncidentSettings;
  acts: ReturnType<typeof activitiesFor>;
  save(): Promise<void>;
  /** When the last verification saw the fault gone. */
  healedAt: number | null;
}

export const incidentWorkflow: IncidentWorkflow = async (input) => {
  const { evidence, settings } = input;
  const acts = activitiesFor(settings);
  const inc: Incident = input.carried ?? newIncident(evidence);
  let revision = 0;
  const recurrences: Evidence[] = [];
  const run: Run = { inc, evidence, settings, acts, healedAt: null, save: async () => acts.record.recordIncident(inc, ++revision) };

  setHandler(incidentQuery, () => inc);
  setHandler(incidentEvidenceSignal, (e) => {
    if (e.id === inc.evidence.first.id || inc.evidence.attached.includes(e.id)) return;
    // Seen after the fault was gone: a recurrence, the next incident's first evidence.
    if (run.healedAt !== null && e.at > run.healedAt) return void recurrences.push(e);
    inc.evidenceCount++;
    inc.evidence.attached = [...inc.evidence.attached, e.id].slice(-ATTACHED_KEPT);
  });
  upsertSearchAttributes([
    { key: SignatureAttr, value: inc.signature },
    ...(inc.kernel ? [{ key: KernelAttr, value: inc.kernel }] : []),
    { key: OutcomeAttr, value: 'open' },
  ]);
  await run.save();

  inc.state = 'diagnosing';
  await run.save();
  inc.diagnostics = await acts.diag.collectDiagnostics(evidence);
  await run.save();

  let entry: KnowledgeEntry | null = null;
  while (inc.attempts < settings.maxAttempts && !closed(inc)) {
    const attempt = await remedyAttempt(run);
    entry = attempt.entry ?? entry;
    if (attempt.noRemedy) break;
  }
  await conclude(run, entry);

  if (recurrences.length > 0) await continueAsNew<IncidentWorkflow>({ evidence: recurrences[0], settings });
  return inc;
};

/** decide → remedy → verify → learn, once. */
async function remedyAttempt(run: Run): Promise<{ entry: KnowledgeEntry | null; noRemedy: boolean }> {
  const { inc, evidence, acts, settings } = run;
  inc.attempts++;
  const decision = await acts.diag.decideRemedy(evidence);
  inc.known = decision.known;
  inc.autoApplied = decision.autoApply && decision.remedy !== null && decision.remedy.kind !== null;
  const choice = inc.autoApplied ? decision.remedy! : await askAgent(acts.agent, acts.fallback, inc, evidence);
  if (choice.kind === null) {
    inc.errors.push(`no remedy: ${choice.reason}`);
    inc.remedy = null;
    inc.state = 'reopened';
    return { entry: decision.entry, noRemedy: true };
  }
  inc.remedy = { kind: 'playbook', name: choice.name, runId: null, params: choice.params, chosenBy: inc.autoApplied ? 'knowledge_base' : inc.remedy?.chosenBy ?? 'coding_agent', reason: choice.reason };
  inc.state = 'remedying';
  await run.save();
  const report = await runPlaybook(acts.join, inc, choice, evidence, settings.taskQueues.healing);
  const remedyFinishedAt = Date.now();
  inc.remedy = { ...inc.remedy, runId: report.workflowId, outcome: report.outcome };
  let verified: VerificationOutcome;
  if (report.outcome !== 'succeeded') {
    verified = { ok: false, healedAt: null, checks: [{ name: 'readiness', ok: false, command: `playbook ${choice.name}`, exitCode: null, output: remedyError(report), ms: 0, startedAt: new Date().toISOString() }] };
  } else {
    inc.state = 'verifying';
    await run.save();
    verified = await verify(inc, evidence, remedyFinishedAt, settings);
  }
  inc.verification = verified;
  run.healedAt = verified.healedAt;
  if (verified.ok) {
    inc.state = 'closed';
    inc.closedAt = new Date().toISOString();
    inc.timeToHealMs = verified.healedAt !== null ? Math.max(0, verified.healedAt - inc.evidence.first.at) : null;
  } else {
    inc.state = 'reopened';
    inc.errors.push(`attempt ${inc.attempts}: ${failingOutput(verified)}`);
  }
  const entry = await acts.record.learnOutcome({
    outcomeId: `${inc.id}:${inc.attempts}`,
    signature: inc.signature,
    remedy: { kind: 'playbook', name: choice.name, params: choice.params },
    ok: verified.ok,
    timeToHealMs: verified.ok ? inc.timeToHealMs : null,
    autoApplied: inc.autoApplied,
  });
  await run.save();
  return { entry: entry ?? decision.entry, noRemedy: false };
}

/** The clarity entry, in the store and the immutable log; a backlog item when not healed. */
async function conclude(run: Run, entry: KnowledgeEntry | null): Promise<void> {
  const { inc, acts } = run;
  inc.clarity = clarityOf(inc, entry);
  upsertSearchAttributes([{ key: OutcomeAttr, value: inc.state }]);
  await run.save();
  const logged = await acts.record.appendClarity(inc.id, inc.attempts, inc.clarity, { id: inc.id, signature: inc.signature, kernel: inc.kernel, state: inc.state, remedy: inc.remedy?.name ?? null, timeToHealMs: inc.timeToHealMs });
  if ('error' in logged) inc.errors.push(`clarity entry not in the immutable log: ${logged.error}`);
  if (inc.state !== 'closed') await acts.record.openIncidentBacklog(inc, inc.errors.join('\n'));
  await run.save();
}

const closed = (inc: Incident): boolean => inc.state === 'closed';

function newIncident(evidence: Evidence): Incident {
  const { workflowId, runId } = workflowInfo();
  return {
    id: incidentIdOf(runId),
    signature: evidence.signature,
    kernel: evidence.kernel,
    state: 'open',
    openedAt: new Date().toISOString(),
    closedAt: null,
    evidenceCount: 1,
    known: false,
    autoApplied: false,
    remedy: null,
    diagnostics: null,
    verification: null,
    timeToHealMs: null,
    clarity: null,
    workflowId,
    runId,
    attempts: 0,
    evidence: { first: evidence, attached: [] },
    template: evidence.template,
    errors: [],
  };
}

/**
 * The coding agent's answer. When the agent does not answer (it is down: degraded mode), the
 * healing worker's own matching answers instead, and the incident says so.
 */
async function askAgent(agent: AgentActivities, fallback: Pick<AgentActivities, 'chooseRemedy'>, inc: Incident, evidence: Evidence): Promise<RemedyChoice> {
  const task = { incidentId: inc.id, evidence, diagnostics: inc.diagnostics };
  try {
    const choice = await agent.chooseRemedy(task);
    inc.remedy = { kind: 'playbook', name: choice.kind === null ? '' : choice.name, runId: null, chosenBy: 'coding_agent', reason: choice.reason };
    return choice;
  } catch (err) {
    inc.errors.push(`coding agent did not answer (${(err as Error).message}); the healing worker matched the playbook instead`);
    const choice = await fallback.chooseRemedy(task);
    inc.remedy = { kind: 'playbook', name: choice.kind === null ? '' : choice.name, runId: null, chosenBy: 'knowledge_base', reason: `coding agent unavailable; ${choice.reason}` };
    return choice;
  }
}

/** The playbook as a child; a run already going with the same id (another incident's) is joined. */
async function runPlaybook(join: Pick<IncidentActivities, 'joinPlaybookRun'>, inc: Incident, choice: Exclude<RemedyChoice, { kind: null }>, evidence: Evidence, taskQueue: string): Promise<PlaybookReport> {
  const workflowId = dispatchWorkflowId(choice.name, evidence.kernel ?? evidence.process);
  try {
    return await executeChild<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, {
      workflowId,
      taskQueue,
      workflowTaskTimeout: PLAYBOOK_WORKFLOW_TASK_TIMEOUT,
      // The remedy finishes even if this incident is terminated: stopping a repair halfway is worse.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      args: [{ playbook: choice.playbook, params: choice.params, kernel: evidence.kernel, startedBy: `incident ${inc.id} (${inc.signature})`, evidence }],
    });
  } catch (err) {
    if ((err as Error).name === 'WorkflowExecutionAlreadyStartedError') return join.joinPlaybookRun(workflowId, evidence);
    if (err instanceof ChildWorkflowFailure && err.cause instanceof ApplicationFailure && err.cause.details?.[0]) return err.cause.details[0] as PlaybookReport;
    throw err;
  }
}

async function verify(inc: Incident, evidence: Evidence, remedyFinishedAt: number, settings: IncidentSettings): Promise<VerificationOutcome> {
  return executeChild<VerificationWorkflow>(VERIFICATION_WORKFLOW, {
    workflowId: verificationWorkflowId(inc.id, inc.attempts),
    taskQueue: settings.taskQueues.healing,
    args: [
      {
        incidentId: inc.id,
        attempt: inc.attempts,
        signature: inc.signature,
        kernel: inc.kernel,
        evidence: { id: evidence.id, kind: evidence.kind, kernel: evidence.kernel, process: evidence.process, signature: evidence.signature, at: evidence.at },
        changedFiles: [],
        remedyFinishedAt,
        taskQueues: settings.taskQueues,
        ...(settings.checks ? { checks: settings.checks as VerificationCheckName[] } : {}),
      },
    ],
  });
}

function remedyError(report: PlaybookReport): string {
  const failed = report.steps.find((s) => s.status === 'failed' || s.status === 'rejected');
  return `playbook ${report.playbook} ended ${report.outcome}${failed ? `: step ${failed.id} (${failed.action}): ${failed.error ?? failed.status}` : ''}`;
}

function failingOutput(v: VerificationOutcome): string {
  return v.checks
    .filter((c) => !c.ok)
    .map((c) => `${c.name} failed (${c.command}, exit ${c.exitCode ?? '-'}): ${c.output.slice(-600)}`)
    .join('\n');
}
