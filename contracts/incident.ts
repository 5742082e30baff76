/**
 * Contract of the incident workflow (workflows/incident.ts): one open incident per error signature.
 * The seam starts it with signal-with-start on `incidentWorkflowId(signature)`, so concurrent
 * reports from both healing replicas and repeated evidence fold into the one open incident.
 *
 * open → diagnosing → (known with autoApply: its remedy | otherwise the coding agent's choice)
 * remedying → verifying → closed, or reopened with the failing output → learned (knowledge base)
 * → clarity entry (store and immutable log).
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { Evidence } from '../src/healing/evidence';
import type { VerificationCheckReport, VerificationOutcome } from './verification';

export const INCIDENT_WORKFLOW = 'incidentWorkflow';
export type IncidentWorkflow = (input: IncidentInput) => Promise<Incident>;

/** One open incident per signature: evidence for it folds into the run going. */
export function incidentWorkflowId(signature: string): string {
  return `incident-${signature}`;
}

/** The incident's own id (`inc-` and the first 8 hex digits of its run id): what the CLI shows. */
export function incidentIdOf(runId: string): string {
  return `inc-${runId.replace(/-/g, '').slice(0, 8)}`;
}

export const INCIDENT_STATES = ['open', 'diagnosing', 'remedying', 'verifying', 'closed', 'reopened'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

export interface IncidentRemedy {
  kind: 'playbook' | 'fix';
  /** The playbook, or the fixer. */
  name: string;
  /** The remedy's workflow id (playbook run) or change-set id. */
  runId: string | null;
  params?: Record<string, unknown>;
  /** Who chose it: the knowledge base (auto-applied) or the coding agent. */
  chosenBy?: 'knowledge_base' | 'coding_agent';
  /** Why, in a sentence. */
  reason?: string;
  outcome?: string;
}

export interface IncidentDiagnostics {
  /** Log lines around the event (the kernel's process logs, the bus log for the bus). */
  logLines: string[];
  /** The kernel's heartbeat and restart history as the control plane knows it. */
  heartbeats: unknown[];
  /** A resource snapshot of the kernel's processes: CPU, memory, open files; the state dir's disk. */
  resources: Record<string, unknown>;
  collectedAt?: string;
}

/** A structured record of what was seen, decided and why, and the outcome. */
export interface ClarityEntry {
  seen: string;
  decided: string;
  why: string;
  outcome: string;
  /** The seed's steps, one line each, in order. */
  steps: string[];
}

export interface Incident {
  id: string;
  signature: string;
  kernel: string | null;
  state: IncidentState;
  openedAt: string;
  closedAt: string | null;
  evidenceCount: number;
  known: boolean;
  autoApplied: boolean;
  remedy: IncidentRemedy | null;
  diagnostics: IncidentDiagnostics | null;
  verification: VerificationOutcome | null;
  timeToHealMs: number | null;
  clarity: ClarityEntry | null;
  /** Fields added beyond the contract's. */
  workflowId: string;
  runId: string;
  attempts: number;
  /** The evidence that opened it, and the ids of what was attached since. */
  evidence: { first: Evidence; attached: string[] };
  /** The template of the signature (its text, variable parts masked). */
  template: string;
  errors: string[];
}

/** What the incident needs of the configuration, passed in so the workflow stays deterministic. */
export interface IncidentSettings {
  taskQueues: { healing: string; codingAgent: string };
  /** Remedy and verification cycles before the incident stays reopened (`incidents.maxAttempts`). */
  maxAttempts: number;
  /** Which verification checks run (`incidents.verification.checks`). */
  checks?: string[];
}

export interface IncidentInput {
  evidence: Evidence;
  settings: IncidentSettings;
  /** The incident so far, when continued as new. */
  carried?: Incident;
  /** The revision of its last record, when continued as new. */
  revision?: number;
  /**
   * More evidence of the same new occurrence, attached from the start: when the previous run of the
   * signature's intake handed its incident to the close and continued as new for a recurrence, the
   * recurrence's reports after its first.
   */
  attached?: Evidence[];
}

/**
 * The second half of an incident (workflows/incident.ts `incidentCloseWorkflow`): once the fault is
 * seen gone, the project checks decide the close, and the outcome is learned. A child of the
 * incident that outlives it (abandoned), so the signature's intake is free for the next occurrence
 * while the checks run.
 */
export const INCIDENT_CLOSE_WORKFLOW = 'incidentCloseWorkflow';
export type IncidentCloseWorkflow = (input: IncidentCloseInput) => Promise<Incident>;

export function incidentCloseWorkflowId(incidentId: string): string {
  return `incident-close-${incidentId}`;
}

export interface IncidentCloseInput {
  incident: Incident;
  settings: IncidentSettings;
  /** The revision of the incident's last record, so the closer's writes come after it. */
  revision: number;
  /** The remedy that healed, as the knowledge base learns it. */
  remedy: { kind: 'playbook' | 'fix'; name: string; params: Record<string, unknown>; changeSet?: string };
  /**
   * The project checks a change set passed in its scratch copy before it was promoted (a `fix`
   * remedy): the close takes them instead of running them again on the same bytes.
   */
  projectChecks?: VerificationCheckReport[];
}

/** Evidence with the incident's signature, reported while it is open: attached to it. */
export const incidentEvidenceSignal = defineSignal<[Evidence]>('incidentEvidence');
export const incidentQuery = defineQuery<Incident>('incident');
