/**
 * Evidence into incidents: the seam hands evidence here, and it is signalled with start into the
 * incident workflow of its signature (`incident-<signature>`), so reports of one fault from both
 * healing replicas, and repeated reports, fold into the one open incident.
 */
import type { Client } from '@temporalio/client';
import { findable } from '../../contracts/search-attributes';
import type { LoadedConfig } from '../config/load';
import { INCIDENT_WORKFLOW, incidentEvidenceSignal, incidentWorkflowId, type IncidentInput, type IncidentWorkflow } from '../../contracts/incident';
import { choosePlaybook } from './remedies';
import { codeFaultOf } from '../coding-agent/code-faults';
import { LIFECYCLE_KINDS, OBSERVED_KINDS, REPAIRED_KINDS, type Evidence } from './evidence';

export interface IncidentStart {
  outcome: 'incident';
  workflowId: string;
  runId: string;
}

/**
 * Whether evidence opens an incident, or is left to the path it had before:
 *  - a missed heartbeat is a precursor, below the failure threshold, not a fault;
 *  - a process death or failed probe that no playbook names, and whose text shows no code fault
 *    (src/coding-agent/code-faults.ts), is the control plane's to restart: its restart is the
 *    remedy, and an incident would have nothing to choose.
 */
export function opensIncident(config: LoadedConfig, e: Evidence, playbookDir?: string): boolean {
  if (!config.incidents.enabled) return false;
  if (e.kind === 'heartbeat_missed') return false;
  // Already repaired by the server supervisor: the seam does not dispatch it either.
  if ((REPAIRED_KINDS as readonly string[]).includes(e.kind)) return false;
  // An external server's outage: nothing of ours to remedy (src/healing/external-watch.ts).
  if ((OBSERVED_KINDS as readonly string[]).includes(e.kind)) return false;
  // A death from a code fault (a file that does not parse, a module that does not resolve) is the
  // coding agent's: the control plane's restarts fail the same way until its fixer's change set lands.
  if ((LIFECYCLE_KINDS as readonly string[]).includes(e.kind)) return codeFaultOf(e).length > 0 || choosePlaybook(e, playbookDir).kind !== null;
  return true;
}

export function incidentInput(config: LoadedConfig, e: Evidence): IncidentInput {
  return {
    evidence: e,
    settings: {
      taskQueues: config.temporal.taskQueues,
      maxAttempts: config.incidents.maxAttempts,
      checks: [...config.incidents.verification.checks],
    },
  };
}

/** Opens the incident of the evidence's signature, or attaches the evidence to the one open. */
export async function openIncident(deps: { config: LoadedConfig; temporal: Client }, e: Evidence): Promise<IncidentStart> {
  const workflowId = incidentWorkflowId(e.signature);
  const handle = await deps.temporal.workflow.signalWithStart<IncidentWorkflow, [Evidence]>(INCIDENT_WORKFLOW, {
    workflowId,
    taskQueue: deps.config.temporal.taskQueues.healing,
    ...findable({ kind: 'incident', kernel: e.kernel, signature: e.signature, summary: `incident of ${e.signature}${e.kernel ? ` on ${e.kernel}` : ''}, opened by evidence ${e.id}` }),
    args: [incidentInput(deps.config, e)],
    signal: incidentEvidenceSignal,
    signalArgs: [e],
  });
  return { outcome: 'incident', workflowId, runId: handle.signaledRunId };
}
