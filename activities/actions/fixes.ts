/**
 * The fix action: apply_fix — a playbook step that hands a fault to one of the coding agent's
 * fixers (src/coding-agent/fixers/) and applies its change set the safe way, by the change-set
 * workflow (staged in a scratch copy, verified there, promoted with a backup, the kernel restarted
 * and awaited). So a playbook can repair code, configuration or models with the same guarantees
 * as an incident's change set, and every such change is recorded and can be rolled back.
 */
import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { CHANGE_SET_WORKFLOW, changeSetWorkflowId, type ChangeSetOutcome, type ChangeSetWorkflow } from '../../contracts/change-set';
// `/index` spelled out: an older build's dist/src/coding-agent/fixers.js would shadow the folder.
import { findable } from '../../contracts/search-attributes';
import { configuredFixers } from '../../src/coding-agent/fixers/index';
import { makeEvidence } from '../../src/healing/evidence';
import { REPO_ROOT } from '../../src/stack/tools';
import { withDeadline } from '../../src/deadline';
import { heartbeat } from './context';
import { action, ActionErrorType, failure, idempotencyKey, type ActionDeps, type ActionGroup } from './shared';

/** How often the wait for the change set heartbeats. */
const BEAT_MS = 1_000;

export function fixActions({ config, temporal }: ActionDeps): ActionGroup<'apply_fix'> {
  return {
    apply_fix: action('apply_fix', async ({ fixer, kernel, timeoutMs }, meta) => {
      // Idempotent: the change set's id (and its workflow's) is the run and step, so a retry finds
      // the workflow the first attempt started and waits for it instead of applying again.
      const id = `cs-pb-${createHash('sha256').update(idempotencyKey(meta)).digest('hex').slice(0, 16)}`;
      const workflowId = changeSetWorkflowId(id);
      const started = await temporal.workflow
        .getHandle(workflowId)
        .describe()
        .then(() => true)
        .catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return false;
          throw err;
        });
      let summary = '';
      if (!started) {
        const f = configuredFixers(config).find((x) => x.name === fixer);
        if (!f) throw failure(ActionErrorType.INVALID_PARAMS, `apply_fix: no fixer named ${fixer} (known: ${configuredFixers(config).map((x) => x.name).join(', ')})`);
        // The fixers apply_fix takes find the fault in the trees (the params' enum): the evidence
        // only says which kind of fault and where to look.
        const evidence = makeEvidence({ kind: 'model_corruption', kernel, process: null, pid: null, detail: `playbook ${meta.playbook} step ${meta.stepId}`, text: `apply_fix ${fixer}`, at: Date.now(), observer: 'apply_fix', key: id });
        const changeSet = await f.propose({ evidence, diagnostics: null, projectRoot: REPO_ROOT, stateDir: config.stateDir });
        if (!changeSet) return { proposed: false, changeSet: null, state: 'nothing_to_fix', summary: `${fixer} found nothing to fix`, files: [], kernelReady: null };
        summary = changeSet.summary;
        try {
          await temporal.workflow.start<ChangeSetWorkflow>(CHANGE_SET_WORKFLOW, {
            workflowId,
            taskQueue: config.temporal.taskQueues.healing,
            ...findable({ kind: 'change-set', kernel, playbook: meta.playbook, summary: `change set ${id} by ${fixer}: ${changeSet.summary}` }),
            args: [{ id, incidentId: null, changeSet, kernel, ...(kernel === 'coding_agent' || changeSet.restartKernel === 'coding_agent' ? { agentQueue: config.temporal.taskQueues.healing } : {}) }],
          });
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        }
      }
      // Heartbeats while it runs, so a killed worker's wait moves to another in a heartbeat timeout.
      const beat = setInterval(() => heartbeat({ changeSet: id }), BEAT_MS);
      let outcome: ChangeSetOutcome;
      try {
        outcome = await withDeadline(temporal.workflow.getHandle<ChangeSetWorkflow>(workflowId).result(), timeoutMs, `change set ${id} did not finish`);
      } finally {
        clearInterval(beat);
      }
      const files = outcome.files.map((f) => `${f.root}:${f.path}`);
      if (outcome.state !== 'promoted' || outcome.error) {
        throw failure(ActionErrorType.KERNEL_UPDATE_FAILED, `change set ${id} (${fixer}) ${outcome.state}: ${outcome.error ?? 'not promoted'}`, { changeSet: id, checks: outcome.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.output.slice(-400)}`) }, false);
      }
      return { proposed: true, changeSet: id, state: outcome.state, summary: summary || `${fixer}: ${files.join(', ')}`, files, kernelReady: outcome.kernel?.ready ?? null };
    }),
  };
}
