/**
 * The change-set workflows (contracts/change-set.ts), issue 16 "Apply safely".
 *
 * `changeSetWorkflow`: stage → verify → promote → restart, in that order and only that order:
 *  1. `stageChangeSet` (coding agent's queue): checked, written to a fresh scratch copy, its
 *     commands run there. Refused or failed: the outcome is `failed`, nothing live was touched.
 *  2. The verification workflow as a child, its project checks (targeted tests, eslint, tsc) run
 *     with `root` = the scratch copy — or, when an earlier change set passed them on a
 *     byte-identical copy (the same fingerprint: `priorVerification`), its checks kept;
 *     `recordChangeSetVerification` records the outcome and drops the copy. Failed: the outcome is
 *     `failed` with every check's output, nothing live was touched.
 *  3. `promoteChangeSet`: backup, atomic writes, live commands, record.
 *  4. The kernel restarted through the control plane (`restart_kernel` on the healing queue, which
 *     waits for its self-test) and `wait_kernel_ready`.
 *  5. `logChangeSetPromoted`: the promotion's entry in the immutable log — after the restart, since
 *     the log may be the kernel the change repaired.
 * The file work runs on the coding agent's queue, or on `agentQueue` (the healing queue when the
 * agent is the kernel at fault).
 * The caller (the incident) decides what a `failed` outcome means (reopen with the output).
 *
 * `changeSetRollbackWorkflow`: `rollbackChangeSet` (files restored and checked by hashes), then the
 * kernel restarted and awaited the same way.
 *
 * Deterministic: task queues and settings come from the verification's settings local activity
 * (recorded in the history); times from the workflow clock.
 */
import { ActivityFailure, ApplicationFailure, executeChild, proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { ChangeSetInput, ChangeSetOutcome, ChangeSetRollbackInput, ChangeSetRollbackOutcome } from '../contracts/change-set';
import type { VerificationCheckReport, VerificationInput, VerificationOutcome, VerificationSettings } from '../contracts/verification';
import { irrelevance } from '../src/verification/relevance';
import type { ChangeSetActivities } from '../activities/change-sets';
import type { VerificationActivities } from '../activities/verification';
import type { ActionActivities } from '../activities/actions/shared';
import type { KernelName } from '../src/domain/kernels';
import { changeSetFileActivity, kernelRestartActivity, verificationSettingsActivity } from './policies';
import { verificationWorkflow } from './verification';
import { childFindable } from './findable';

const { verificationSettings } = proxyLocalActivities<VerificationActivities>(verificationSettingsActivity);

/** How long the restarted kernel's self-test is awaited by default. */
const READY_TIMEOUT_MS = 60_000;

function messageOf(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause instanceof Error) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

/** Restarts the kernel through the control plane and waits for its self-test; never throws: the result says. */
async function restartKernel(kernel: string, reason: string, readyTimeoutMs: number, healingQueue: string): Promise<{ name: string; ready: boolean; detail: string }> {
  const acts = proxyActivities<Pick<ActionActivities, 'restart_kernel' | 'wait_kernel_ready'>>({ ...kernelRestartActivity, taskQueue: healingQueue });
  const { workflowId, runId } = workflowInfo();
  const meta = (stepId: string) => ({ workflowId, runId, stepId, playbook: 'change-set', kernel });
  // An unknown kernel name is refused by the actions' own params check (INVALID_PARAMS), reported below.
  try {
    const r = await acts.restart_kernel({ kernel: kernel as KernelName, reason }, meta('restart_kernel'));
    const w = await acts.wait_kernel_ready({ kernel: kernel as KernelName, timeoutMs: readyTimeoutMs, require: false }, meta('wait_kernel_ready'));
    const failing = w.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
    return { name: kernel, ready: w.ready, detail: w.ready ? `restarted (${r.restarts} restarts), ready after ${w.attempts} self-test(s)` : `not ready: ${failing.join('; ')}` };
  } catch (err) {
    return { name: kernel, ready: false, detail: `restart failed: ${messageOf(err)}` };
  }
}

export async function changeSetWorkflow(input: ChangeSetInput): Promise<ChangeSetOutcome> {
  const { id, incidentId, changeSet } = input;
  const settings: VerificationSettings = await verificationSettings();
  const agentQueue = input.agentQueue ?? settings.taskQueues.codingAgent;
  const agent = proxyActivities<ChangeSetActivities>({ ...changeSetFileActivity, taskQueue: agentQueue });
  const out: ChangeSetOutcome = { id, incidentId, state: 'failed', files: [], commands: [], checks: [], error: null, kernel: null };

  const staged = await agent.stageChangeSet({ id, incidentId, changeSet });
  out.files = staged.files;
  out.commands = staged.commands;
  if (!staged.ok || !staged.scratchRoot) return { ...out, error: staged.error ?? 'staging failed' };

  const wanted = input.checks ?? ['tests', 'lint', 'types'];
  const skipped: VerificationCheckReport[] = wanted
    .filter((c) => irrelevance(c, staged.files) !== null)
    .map((c) => ({ name: c, ok: true, command: '', exitCode: null, output: irrelevance(c, staged.files)!, ms: 0, startedAt: new Date().toISOString() }));
  const verification: VerificationInput = {
    incidentId: incidentId ?? id,
    attempt: 1,
    signature: input.evidence?.signature ?? `change_set:${changeSet.fixer}`,
    kernel: input.kernel,
    evidence: input.evidence ?? { id: `change_set:${id}`, kind: 'change_set', kernel: input.kernel, process: null, signature: `change_set:${changeSet.fixer}`, at: Date.now() },
    changedFiles: staged.changedFiles,
    remedyFinishedAt: Date.now(),
    root: staged.scratchRoot,
    // The project checks only: readiness and the detector concern the live kernel, checked after
    // promotion; and of those, only the ones the changed paths can affect (src/verification/relevance.ts).
    checks: wanted.filter((c) => irrelevance(c, staged.files) === null),
    taskQueues: { ...settings.taskQueues, codingAgent: agentQueue },
  };
  // A scratch copy byte-identical to one verified before (the same fix for the same fault on the
  // same tree: a known fix applied again) gets the same answers from the checks: they are kept.
  const prior = staged.fingerprint ? await agent.priorVerification({ id, fingerprint: staged.fingerprint, checks: verification.checks ?? [], kernel: input.kernel }) : null;
  const outcome: VerificationOutcome = prior
    ? {
        ok: true,
        checks: prior.checks.map((c) => ({ ...c, output: `kept from change set ${prior.changeSetId}: its scratch copy was byte-identical (fingerprint ${staged.fingerprint!.slice(0, 12)})\n${c.output}` })),
        healedAt: null,
      }
    : await executeChild(verificationWorkflow, {
        workflowId: `verification-${id}`,
        ...childFindable({ kind: 'verification', kernel: input.kernel, incident: incidentId, summary: `checks of change set ${id} in its scratch copy` }),
        args: [verification],
      });
  out.checks = [...outcome.checks, ...skipped];
  await agent.recordChangeSetVerification({ id, incidentId, changeSet, outcome: { ...outcome, checks: out.checks }, reusedFrom: prior?.changeSetId ?? null, kernel: input.kernel });
  if (!outcome.ok) {
    const failed = outcome.checks.filter((c) => !c.ok).map((c) => c.name);
    return { ...out, error: `verification failed in the scratch copy: ${failed.join(', ')}` };
  }

  try {
    const promoted = await agent.promoteChangeSet({ id, incidentId, changeSet });
    out.commands = [...out.commands, ...promoted.commands];
    if (!promoted.ok) return { ...out, state: 'promoted', error: 'promoted, but a live command failed (roll it back with layer1 incidents rollback)' };
  } catch (err) {
    return { ...out, error: `promotion failed: ${messageOf(err)}` };
  }
  out.state = 'promoted';
  if (changeSet.restartKernel) {
    out.kernel = await restartKernel(changeSet.restartKernel, `change set ${id}`, input.readyTimeoutMs ?? READY_TIMEOUT_MS, settings.taskQueues.healing);
    if (!out.kernel.ready) out.error = `promoted, but ${changeSet.restartKernel} is not ready: ${out.kernel.detail}`;
  }
  // Last: the change may have repaired the immutable log itself, which could not take it before.
  try {
    out.logSeq = (await agent.logChangeSetPromoted({ id, incidentId, changeSet })).seq;
  } catch (err) {
    out.logSeq = null;
    out.error ??= `promoted, but not in the immutable log: ${messageOf(err)}`;
  }
  return out;
}

export async function changeSetRollbackWorkflow(input: ChangeSetRollbackInput): Promise<ChangeSetRollbackOutcome> {
  const settings: VerificationSettings = await verificationSettings();
  const agent = proxyActivities<ChangeSetActivities>({ ...changeSetFileActivity, taskQueue: settings.taskQueues.codingAgent });
  let r;
  try {
    r = await agent.rollbackChangeSet({ id: input.id });
  } catch (err) {
    // Refused (never promoted, a damaged backup): the CLI prints it as one line.
    throw ApplicationFailure.create({ type: 'ChangeSetRollbackRefused', message: messageOf(err), nonRetryable: true });
  }
  const { restartKernel: recorded, ...rest } = r;
  const kernelName = input.restartKernel ?? recorded;
  const kernel = kernelName ? await restartKernel(kernelName, `rollback of change set ${input.id}`, input.readyTimeoutMs ?? READY_TIMEOUT_MS, settings.taskQueues.healing) : null;
  return { ...rest, kernel, ok: rest.ok && (kernel?.ready ?? true), error: rest.error ?? (kernel && !kernel.ready ? `${kernel.name} is not ready: ${kernel.detail}` : null) };
}
