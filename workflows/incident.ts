/**
 * The incident workflows: one error signature, from the first evidence to a verified close, in two
 * halves.
 *
 * `incidentWorkflow` (`incident-<signature>`, the signature's intake): open → diagnosing (log lines,
 * control-plane history, resources) → decide: the knowledge base's verified remedy when it may be
 * auto-applied, else a task for the coding agent, which answers with a remedy → remedying (the
 * playbook as a child workflow) → the fault seen gone? (the kernel's readiness self-test and the
 * detector of the evidence, run here) — if not, tried again up to `maxAttempts`, then reopened.
 * Evidence of the same signature arriving meanwhile is attached (the seam's signal-with-start folds
 * it here); evidence observed after the heal checks saw the fault gone is a new occurrence, and the
 * intake continues as new for it once it has handed the healed incident over.
 *
 * `incidentCloseWorkflow` (`incident-close-<incident>`), started once the fault is gone and left
 * running when the intake ends: verifying (the verification workflow's project checks: targeted
 * tests, eslint, tsc) → closed, or reopened with the failing output → learned (the knowledge base
 * counts the outcome) → a clarity entry in the store and the log. Handing this half over is what
 * lets the next occurrence of the signature — a new fault once this one is gone — open its own
 * incident and be remedied at once instead of waiting minutes of checks.
 */
import {
  ApplicationFailure,
  ChildWorkflowFailure,
  continueAsNew,
  executeChild,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createIncidentActivities, RemedyDecision } from '../activities/incidents';
import type { VerificationActivities } from '../activities/verification';
import type { ChangeSetRemedy, PlaybookRemedy, RemedyChoice } from '../src/healing/remedies';
import type { Evidence } from '../src/healing/evidence';
import type { KnowledgeEntry } from '../src/knowledge/types';
import { childFindable } from './findable';
import {
  INCIDENT_CLOSE_WORKFLOW,
  incidentCloseWorkflowId,
  incidentEvidenceSignal,
  incidentIdOf,
  incidentQuery,
  type Incident,
  type IncidentCloseInput,
  type IncidentCloseWorkflow,
  type IncidentSettings,
  type IncidentWorkflow,
} from '../contracts/incident';
import { dispatchWorkflowId, PLAYBOOK_WORKFLOW, PLAYBOOK_WORKFLOW_TASK_TIMEOUT, type PlaybookReport, type PlaybookWorkflow } from '../contracts/playbook';
import { VERIFICATION_WORKFLOW, verificationWorkflowId, type VerificationCheckName, type VerificationCheckReport, type VerificationOutcome, type VerificationWorkflow } from '../contracts/verification';
import { KernelAttr, OutcomeAttr, SignatureAttr } from '../contracts/search-attributes';
import { CHANGE_SET_WORKFLOW, changeSetId, changeSetWorkflowId, type ChangeSetOutcome, type ChangeSetWorkflow } from '../contracts/change-set';
import { agentTaskActivity, bestEffortRecordActivity, decideActivity, diagnosticsActivity, joinRunActivity, recordActivity, verificationCheckActivity } from './policies';
import { clarityOf } from './incident-clarity';

type IncidentActivities = ReturnType<typeof createIncidentActivities>;
interface AgentActivities {
  chooseRemedy(task: { incidentId: string; evidence: Evidence; diagnostics: Incident['diagnostics'] }): Promise<RemedyChoice>;
  proposeKnownFix(input: { fixer: string; evidence: Evidence }): Promise<RemedyChoice>;
}

/** Evidence ids kept on the incident (the count goes on). */
const ATTACHED_KEPT = 50;
/** The checks that say the fault is gone; the rest are the project checks of the close. */
const HEAL_CHECKS: readonly VerificationCheckName[] = ['readiness', 'detector'];

function activitiesFor(settings: IncidentSettings) {
  return {
    record: proxyActivities<Pick<IncidentActivities, 'recordIncident' | 'learnOutcome' | 'appendClarity' | 'openIncidentBacklog'>>(recordActivity),
    // Before the remedy the store may be the thing that is down: its record must not hold the remedy up.
    bestEffort: proxyActivities<Pick<IncidentActivities, 'recordIncident'>>(bestEffortRecordActivity),
    diag: proxyActivities<Pick<IncidentActivities, 'collectDiagnostics'>>(diagnosticsActivity),
    // Local: a store read of milliseconds on the remedy's critical path, without a task-queue round trip.
    decide: proxyLocalActivities<Pick<IncidentActivities, 'decideRemedy'>>(decideActivity),
    join: proxyActivities<Pick<IncidentActivities, 'joinPlaybookRun'>>(joinRunActivity),
    heal: proxyActivities<Pick<VerificationActivities, 'verifyReadiness' | 'verifyDetector'>>(verificationCheckActivity),
    agent: proxyActivities<AgentActivities>({ ...agentTaskActivity, taskQueue: settings.taskQueues.codingAgent }),
    fallback: proxyActivities<AgentActivities>(diagnosticsActivity),
  };
}

/** One incident run: its state, its activities, and the store's copy kept in step. */
interface Run {
  inc: Incident;
  evidence: Evidence;
  settings: IncidentSettings;
  acts: ReturnType<typeof activitiesFor>;
  revision: number;
  /** Records the incident; best effort until the remedy has run, then until it lands. */
  save(durable?: boolean): Promise<void>;
}

function newRun(inc: Incident, evidence: Evidence, settings: IncidentSettings, revision = 0): Run {
  const acts = activitiesFor(settings);
  const run: Run = {
    inc,
    evidence,
    settings,
    acts,
    revision,
    save: async (durable = false) => {
      const rev = ++run.revision;
      if (durable) return acts.record.recordIncident(inc, rev);
      // Not awaited: off the remedy's critical path, and the store may be what is down (the
      // arguments are serialized when the activity is scheduled, so later changes do not leak in).
      // The revision guard keeps a late write from overwriting a newer one; a write that fails is
      // carried by the next (the durable ones at the end are awaited).
      void acts.bestEffort.recordIncident(inc, rev).catch(() => undefined);
    },
  };
  return run;
}

export const incidentWorkflow: IncidentWorkflow = async (input) => {
  const { evidence, settings } = input;
  const inc: Incident = input.carried ?? newIncident(evidence);
  const run = newRun(inc, evidence, settings, input.revision ?? 0);
  let remedyDone = false;
  // Once the heal checks have seen the fault gone (epoch ms), evidence observed after that is a new
  // occurrence: kept for the next incident, which this intake becomes once it has handed this one over.
  let healedAt: number | null = null;
  const recurrences: Evidence[] = [];
  const attach = (e: Evidence): void => {
    inc.evidenceCount++;
    inc.evidence.attached = [...inc.evidence.attached, e.id].slice(-ATTACHED_KEPT);
  };
  setHandler(incidentQuery, () => inc);
  setHandler(incidentEvidenceSignal, (e) => {
    if (e.id === inc.evidence.first.id || inc.evidence.attached.includes(e.id) || recurrences.some((r) => r.id === e.id)) return;
    if (healedAt !== null && e.at > healedAt) return void recurrences.push(e);
    attach(e);
    if (remedyDone) inc.errors.push(`evidence ${e.id} arrived after the remedy finished (attached; the heal check decides)`);
  });
  for (const e of input.attached ?? []) if (e.id !== inc.evidence.first.id) attach(e);
  upsertSearchAttributes([
    { key: SignatureAttr, value: inc.signature },
    ...(inc.kernel ? [{ key: KernelAttr, value: inc.kernel }] : []),
    { key: OutcomeAttr, value: 'open' },
  ]);
  if (!input.carried) {
    await run.save();
    inc.state = 'diagnosing';
    await run.save();
  }
  // Side by side with the knowledge base's decision: an auto-applied remedy does not wait for them
  // (they are for the coding agent, and for people reading the incident afterwards).
  const diagnosing = inc.diagnostics
    ? Promise.resolve()
    : run.acts.diag.collectDiagnostics(evidence).then(
        (d) => void (inc.diagnostics = d),
        (err: unknown) => void inc.errors.push(`diagnostics not collected: ${(err as Error).message}`),
      );

  let entry: KnowledgeEntry | null = null;
  while (inc.attempts < settings.maxAttempts) {
    // A flood of reports attached (one event each) makes a long history: go on in a fresh run.
    if (workflowInfo().continueAsNewSuggested) {
      await diagnosing;
      await continueAsNew<IncidentWorkflow>({ evidence, settings, carried: inc, revision: run.revision });
    }
    const attempt = await remedyAttempt(run, diagnosing);
    // Histories from before the patch attached such evidence to the incident healed.
    if (attempt.healed && patched('incident-recurrence-after-heal')) healedAt = inc.verification?.healedAt ?? Date.now();
    await diagnosing;
    remedyDone = true;
    entry = attempt.entry ?? entry;
    if (attempt.healed) {
      // The fault is gone: the close (project checks, learning, clarity) goes on without this intake.
      inc.state = 'verifying';
      await run.save(true);
      // Its outcome in the Web UI is no longer `open`: the close (Layer1Incident = its id) holds the final one.
      if (patched('incident-outcome-at-handoff')) upsertSearchAttributes([{ key: OutcomeAttr, value: 'verifying' }]);
      await startChild<IncidentCloseWorkflow>(INCIDENT_CLOSE_WORKFLOW, {
        workflowId: incidentCloseWorkflowId(inc.id),
        parentClosePolicy: ParentClosePolicy.ABANDON,
        ...childFindable({ kind: 'incident-close', kernel: inc.kernel, signature: inc.signature, incident: inc.id, summary: `close of incident ${inc.id}: project checks, learning, clarity` }),
        args: [{ incident: inc, settings, revision: run.revision + 1, remedy: attempt.remedy!, ...(attempt.projectChecks ? { projectChecks: attempt.projectChecks } : {}) }],
      });
      // The fault came back after it was seen gone, while this intake recorded and handed over
      // (seen: a durable record waiting on a slow store): a new occurrence, and its own incident,
      // remedied again, which this intake's next run is (the seam would have started it had this run ended).
      if (recurrences.length > 0) {
        const [first, ...rest] = recurrences;
        await continueAsNew<IncidentWorkflow>({ evidence: first, settings, ...(rest.length ? { attached: rest } : {}) });
      }
      return inc;
    }
    if (attempt.noRemedy) break;
  }
  await conclude(run, entry);
  return inc;
};

/** The second half: the project checks, the close or reopen, learning, the clarity entry. */
export const incidentCloseWorkflow: IncidentCloseWorkflow = async (input: IncidentCloseInput) => {
  const { incident: inc, settings } = input;
  const run = newRun(inc, inc.evidence.first, settings, input.revision);
  setHandler(incidentQuery, () => inc);
  upsertSearchAttributes([{ key: SignatureAttr, value: inc.signature }, ...(inc.kernel ? [{ key: KernelAttr, value: inc.kernel }] : []), { key: OutcomeAttr, value: 'verifying' }]);
  const healChecks = inc.verification?.checks ?? [];
  // A change set was verified before it was promoted (its scratch copy held exactly what is live
  // now): those checks are the project checks, not run a second time.
  const project = input.projectChecks ? { ok: input.projectChecks.every((c) => c.ok), checks: input.projectChecks } : await verify(inc, settings);
  const verified: VerificationOutcome = { ok: project.ok && healChecks.every((c) => c.ok), checks: [...healChecks, ...project.checks], healedAt: inc.verification?.healedAt ?? null };
  inc.verification = verified;
  if (verified.ok) {
    inc.state = 'closed';
    inc.closedAt = new Date().toISOString();
  } else {
    // Healed, but the project's own checks fail: running the remedy again cannot change that.
    inc.state = 'reopened';
    inc.errors.push(`attempt ${inc.attempts}: ${failingOutput(verified)}`);
  }
  const entry = await run.acts.record.learnOutcome({
    outcomeId: `${inc.id}:${inc.attempts}`,
    signature: inc.signature,
    remedy: input.remedy,
    ok: verified.ok,
    timeToHealMs: verified.ok ? inc.timeToHealMs : null,
    autoApplied: inc.autoApplied,
  });
  await conclude(run, entry);
  return inc;
};

interface Attempt {
  entry: KnowledgeEntry | null;
  noRemedy: boolean;
  healed: boolean;
  remedy?: IncidentCloseInput['remedy'];
  /** The project checks a change set passed in its scratch copy. */
  projectChecks?: VerificationCheckReport[];
}

/** decide → remedy → the fault seen gone? A remedy that did not heal is learned as a failure here. */
async function remedyAttempt(run: Run, diagnosing: Promise<void>): Promise<Attempt> {
  const { inc, evidence, acts } = run;
  inc.attempts++;
  const decision: RemedyDecision = await acts.decide.decideRemedy(evidence).catch((err: unknown) => {
    inc.errors.push(`knowledge base not read (${(err as Error).message}): taken as new`);
    return { known: false, autoApply: false, entry: null, remedy: null };
  });
  inc.known = decision.known;
  inc.autoApplied = decision.autoApply && decision.remedy !== null && decision.remedy.kind !== null;
  // The agent's work runs on the healing workers when the agent is the kernel at fault: a coding
  // agent that cannot start cannot repair its own start.
  const agent = evidence.kernel === 'coding_agent' ? acts.fallback : acts.agent;
  let choice: RemedyChoice | null = inc.autoApplied ? decision.remedy! : null;
  if (!choice && decision.autoApply && decision.fix) {
    // A learned fixer: proposed again from this evidence, no diagnostics and no analysis.
    const known = await agent.proposeKnownFix({ fixer: decision.fix.name, evidence }).catch((err: unknown) => ({ kind: null, reason: (err as Error).message }) as RemedyChoice);
    if (known.kind !== null) {
      inc.autoApplied = true;
      choice = known;
    } else inc.errors.push(`the learned fixer ${decision.fix.name} proposed nothing (${known.reason}): the coding agent decides`);
  }
  // The coding agent gets the diagnostics: they are awaited for it, not for an auto-applied remedy.
  const chosen: RemedyChoice = choice ?? (await diagnosing.then(() => askAgent(agent, acts.fallback, inc, evidence)));
  return chosen.kind === 'change_set' ? changeSetAttempt(run, chosen, decision.entry) : playbookAttempt(run, chosen, decision);
}

/** The playbook as the remedy (a child run), then the heal checks. */
async function playbookAttempt(run: Run, choice: PlaybookRemedy | { kind: null; reason: string }, decision: RemedyDecision): Promise<Attempt> {
  const { inc, evidence, acts, settings } = run;
  if (choice.kind === null) {
    inc.errors.push(`no remedy: ${choice.reason}`);
    inc.remedy = null;
    inc.state = 'reopened';
    return { entry: decision.entry, noRemedy: true, healed: false };
  }
  const remedy = { kind: 'playbook' as const, name: choice.name, params: choice.params };
  inc.remedy = { ...remedy, runId: null, chosenBy: inc.autoApplied ? 'knowledge_base' : inc.remedy?.chosenBy ?? 'coding_agent', reason: choice.reason };
  inc.state = 'remedying';
  await run.save();
  const report = await runPlaybook(acts.join, inc, choice, evidence, settings.taskQueues.healing);
  const remedyFinishedAt = Date.now();
  inc.remedy = { ...inc.remedy, runId: report.workflowId, outcome: report.outcome };
  const checks = report.outcome === 'succeeded' ? await healChecks(run, remedyFinishedAt) : [remedyFailed(choice.name, report)];
  const judged = await judgeAttempt(run, checks, remedyFinishedAt, remedy);
  if (judged.healed) return { entry: decision.entry, noRemedy: false, healed: true, remedy };
  return { entry: judged.entry ?? decision.entry, noRemedy: false, healed: false };
}

/**
 * The heal checks' verdict on an attempt: healed, with its time to heal (from the first evidence to
 * the remedy's end, or to the kernel's self-test passing if that was later); or reopened, the
 * failing output kept and the failure learned.
 */
async function judgeAttempt(run: Run, checks: VerificationCheckReport[], remedyFinishedAt: number, remedy: IncidentCloseInput['remedy']): Promise<{ healed: boolean; entry: KnowledgeEntry | null }> {
  const { inc, acts } = run;
  const healed = checks.every((c) => c.ok);
  const readyAt = checks.filter((c) => c.name === 'readiness').map((c) => Date.parse(c.passedAt ?? c.startedAt) || 0);
  const healedAt = healed ? Math.max(remedyFinishedAt, ...readyAt) : null;
  inc.verification = { ok: false, checks, healedAt };
  if (healed) {
    inc.timeToHealMs = Math.max(0, healedAt! - inc.evidence.first.at);
    return { healed: true, entry: null };
  }
  inc.state = 'reopened';
  inc.errors.push(`attempt ${inc.attempts}: ${failingOutput(inc.verification)}`);
  const entry = await acts.record.learnOutcome({ outcomeId: `${inc.id}:${inc.attempts}`, signature: inc.signature, remedy, ok: false, timeToHealMs: null, autoApplied: inc.autoApplied });
  await run.save();
  return { healed: false, entry };
}

/**
 * A fixer's change set as the remedy: the change-set workflow stages it in a scratch copy, verifies
 * it there (the project checks), promotes it and restarts the kernel; then the same heal checks as a
 * playbook's. A change set that fails its verification was never promoted: proposing it again would
 * fail the same way, so the incident stays reopened with the output.
 */
async function changeSetAttempt(run: Run, choice: ChangeSetRemedy, known: KnowledgeEntry | null): Promise<Attempt> {
  const { inc, evidence, settings } = run;
  const id = changeSetId(inc.id, inc.attempts);
  const remedy = { kind: 'fix' as const, name: choice.name, params: choice.params, changeSet: id };
  inc.remedy = { kind: remedy.kind, name: remedy.name, params: remedy.params, runId: id, chosenBy: inc.autoApplied ? 'knowledge_base' : inc.remedy?.chosenBy ?? 'coding_agent', reason: inc.autoApplied ? choice.reason : inc.remedy?.reason ?? choice.reason };
  inc.state = 'remedying';
  await run.save();
  const e = evidence;
  let outcome: ChangeSetOutcome;
  try {
    outcome = await executeChild<ChangeSetWorkflow>(CHANGE_SET_WORKFLOW, {
      workflowId: changeSetWorkflowId(id),
      taskQueue: settings.taskQueues.healing,
      // Promotion finishes even if this incident is terminated: a tree half promoted is worse.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      ...childFindable({ kind: 'change-set', kernel: inc.kernel, signature: inc.signature, incident: inc.id, summary: `change set ${id} (${choice.name}) for incident ${inc.id}` }),
      args: [
        {
          id,
          incidentId: inc.id,
          changeSet: choice.changeSet,
          kernel: inc.kernel,
          evidence: { id: e.id, kind: e.kind, kernel: e.kernel, process: e.process, signature: e.signature, at: e.at },
          checks: projectChecksOf(settings),
          ...(e.kernel === 'coding_agent' ? { agentQueue: settings.taskQueues.healing } : {}),
        },
      ],
    });
  } catch (err) {
    outcome = { id, incidentId: inc.id, state: 'failed', files: [], commands: [], checks: [], error: `the change-set workflow failed: ${(err as Error).message}`, kernel: null };
  }
  const remedyFinishedAt = Date.now();
  inc.remedy = { ...inc.remedy, outcome: outcome.error ? `${outcome.state}: ${outcome.error}` : outcome.state };
  const promoted = outcome.state === 'promoted' && outcome.error === null;
  const checks = promoted ? await healChecks(run, remedyFinishedAt) : [...outcome.checks.filter((c) => !c.ok), changeSetFailed(choice.name, outcome)];
  const judged = await judgeAttempt(run, checks, remedyFinishedAt, remedy);
  if (judged.healed) return { entry: known, noRemedy: false, healed: true, remedy, projectChecks: outcome.checks };
  // Not promoted: the same fixer would propose the same change; promoted but not healed: try again.
  return { entry: judged.entry ?? known, noRemedy: !promoted, healed: false };
}

function changeSetFailed(fixer: string, outcome: ChangeSetOutcome): VerificationCheckReport {
  return { name: 'readiness', ok: false, command: `change set ${outcome.id} (${fixer})`, exitCode: null, output: outcome.error ?? `ended ${outcome.state}`, ms: 0, startedAt: new Date().toISOString() };
}

/**
 * Is the fault gone? The kernel's readiness self-test and the evidence's detector, side by side. The
 * heal time ends when the remedy finished, or later if the kernel became ready later; the detector's
 * observation window (an event must not recur) confirms it without counting.
 */
async function healChecks(run: Run, remedyFinishedAt: number): Promise<VerificationCheckReport[]> {
  const { inc, evidence, acts, settings } = run;
  const wanted = HEAL_CHECKS.filter((c) => !settings.checks || settings.checks.includes(c));
  const e = { id: evidence.id, kind: evidence.kind, kernel: evidence.kernel, process: evidence.process, signature: evidence.signature, at: evidence.at };
  return Promise.all(
    wanted.map((name) =>
      (name === 'readiness' ? acts.heal.verifyReadiness({ kernel: inc.kernel }) : acts.heal.verifyDetector({ evidence: e, since: remedyFinishedAt })).catch(
        (err: unknown): VerificationCheckReport => ({ name, ok: false, command: name, exitCode: null, output: `the check could not run: ${(err as Error).message}`, ms: 0, startedAt: new Date().toISOString() }),
      ),
    ),
  );
}

function remedyFailed(name: string, report: PlaybookReport): VerificationCheckReport {
  return { name: 'readiness', ok: false, command: `playbook ${name}`, exitCode: null, output: remedyError(report), ms: 0, startedAt: new Date().toISOString() };
}

/** The clarity entry, in the store and the immutable log; a backlog item when not healed. */
async function conclude(run: Run, entry: KnowledgeEntry | null): Promise<void> {
  const { inc, acts } = run;
  inc.clarity = clarityOf(inc, entry);
  upsertSearchAttributes([{ key: OutcomeAttr, value: inc.state }]);
  await run.save(true);
  const logged = await acts.record.appendClarity(inc.id, inc.attempts, inc.clarity, { id: inc.id, signature: inc.signature, kernel: inc.kernel, state: inc.state, remedy: inc.remedy?.name ?? null, timeToHealMs: inc.timeToHealMs });
  if ('error' in logged) inc.errors.push(`clarity entry not in the immutable log: ${logged.error}`);
  if (inc.state !== 'closed') await acts.record.openIncidentBacklog(inc, inc.errors.join('\n'));
  await run.save(true);
}

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
  const kindOf = (c: RemedyChoice) => (c.kind === 'change_set' ? ('fix' as const) : ('playbook' as const));
  const nameOf = (c: RemedyChoice) => (c.kind === null ? '' : c.name);
  if (agent === fallback) {
    // The agent is the kernel at fault: the healing worker runs its fixers in its stead.
    const choice = await fallback.chooseRemedy(task);
    inc.remedy = { kind: kindOf(choice), name: nameOf(choice), runId: null, chosenBy: 'coding_agent', reason: `the coding agent is the kernel at fault: the healing worker answered in its stead; ${choice.reason}` };
    return choice;
  }
  try {
    const choice = await agent.chooseRemedy(task);
    inc.remedy = { kind: kindOf(choice), name: nameOf(choice), runId: null, chosenBy: 'coding_agent', reason: choice.reason };
    return choice;
  } catch (err) {
    inc.errors.push(`coding agent did not answer (${(err as Error).message}); the healing worker matched the playbook instead`);
    const choice = await fallback.chooseRemedy(task);
    inc.remedy = { kind: kindOf(choice), name: nameOf(choice), runId: null, chosenBy: 'knowledge_base', reason: `coding agent unavailable; ${choice.reason}` };
    return choice;
  }
}

/** The playbook as a child; a run already going with the same id (another incident's) is joined. */
async function runPlaybook(join: Pick<IncidentActivities, 'joinPlaybookRun'>, inc: Incident, choice: PlaybookRemedy, evidence: Evidence, taskQueue: string): Promise<PlaybookReport> {
  const workflowId = dispatchWorkflowId(choice.name, evidence.kernel ?? evidence.process);
  try {
    return await executeChild<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, {
      workflowId,
      taskQueue,
      workflowTaskTimeout: PLAYBOOK_WORKFLOW_TASK_TIMEOUT,
      // The remedy finishes even if this incident is terminated: stopping a repair halfway is worse.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      ...childFindable({ kind: 'playbook', playbook: choice.name, kernel: evidence.kernel, signature: inc.signature, incident: inc.id, summary: `playbook ${choice.name}, remedy of incident ${inc.id}` }),
      args: [{ playbook: choice.playbook, params: choice.params, kernel: evidence.kernel, startedBy: `incident ${inc.id} (${inc.signature})`, evidence }],
    });
  } catch (err) {
    if ((err as Error).name === 'WorkflowExecutionAlreadyStartedError') return join.joinPlaybookRun(workflowId, evidence);
    if (err instanceof ChildWorkflowFailure && err.cause instanceof ApplicationFailure && err.cause.details?.[0]) return err.cause.details[0] as PlaybookReport;
    throw err;
  }
}

/** The project checks (tests, lint, types) of the configured ones, as the verification workflow. */
async function verify(inc: Incident, settings: IncidentSettings): Promise<VerificationOutcome> {
  const checks = projectChecksOf(settings);
  if (checks.length === 0) return { ok: true, checks: [], healedAt: null };
  const e = inc.evidence.first;
  return executeChild<VerificationWorkflow>(VERIFICATION_WORKFLOW, {
    workflowId: verificationWorkflowId(inc.id, inc.attempts),
    taskQueue: settings.taskQueues.healing,
    ...childFindable({ kind: 'verification', kernel: inc.kernel, signature: inc.signature, incident: inc.id, summary: `project checks of incident ${inc.id}, attempt ${inc.attempts}` }),
    args: [
      {
        incidentId: inc.id,
        attempt: inc.attempts,
        signature: inc.signature,
        kernel: inc.kernel,
        evidence: { id: e.id, kind: e.kind, kernel: e.kernel, process: e.process, signature: e.signature, at: e.at },
        changedFiles: [],
        remedyFinishedAt: Date.now(),
        taskQueues: settings.taskQueues,
        checks,
      },
    ],
  });
}

/** The configured project checks (tests, lint, types): the verification's checks but the heal checks. */
function projectChecksOf(settings: IncidentSettings): Array<'tests' | 'lint' | 'types'> {
  return (settings.checks ?? ['tests', 'lint', 'types']).filter((c): c is 'tests' | 'lint' | 'types' => c === 'tests' || c === 'lint' || c === 'types');
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
