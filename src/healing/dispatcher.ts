/**
 * The dispatcher: evidence in, the matching playbook running. The one place where evidence is
 * matched against playbook triggers (the incident workflow of a later issue will sit in front of
 * it and call the same matching).
 *
 * - Matching (pure): the trigger's kernel is the evidence's kernel (or `any`), its events include
 *   the evidence kind, and its signature globs (if any) match the evidence signature. The most
 *   specific trigger wins — signature patterns over none, a named kernel over `any` — and among
 *   equals the first in file order, so the choice is deterministic.
 * - Starting: `signalWithStart` on a workflow id made of the playbook and the kernel, so evidence
 *   arriving while that run is going folds into it (an `evidence` signal) instead of starting a
 *   second one; the kernel's lock then keeps one run per kernel at a time across playbooks.
 * - Parameters: a playbook parameter named like a field of the evidence's data, in snake_case
 *   (`rss_mb` for `rssMb`), or `kernel`, `process`, `signature`, `evidence_id`, takes its value
 *   from the evidence.
 */
import type { Client } from '@temporalio/client';
import { findable } from '../../contracts/search-attributes';
import type { LoadedConfig } from '../config/load';
import { hasParameterType, type ParameterValue, type Playbook } from '../playbooks/format';
import { DEFAULT_PLAYBOOK_DIR, loadPlaybooks, resolveRunParams } from '../playbooks/loader';
import { dispatchWorkflowId, evidenceSignal, PLAYBOOK_WORKFLOW, PLAYBOOK_WORKFLOW_TASK_TIMEOUT, type PlaybookRunInput, type PlaybookWorkflow } from '../../contracts/playbook';
import type { Evidence } from './evidence';

export interface Match {
  playbook: Playbook;
  /** Higher is more specific; see the module comment. */
  score: number;
}

/** `*` any run of characters, `?` one character; everything else literal. */
export function globMatch(glob: string, text: string): boolean {
  const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(text);
}

/** Every playbook whose trigger matches, most specific first. */
export function matchingPlaybooks(e: Evidence, playbooks: readonly Playbook[]): Match[] {
  const matches: Array<Match & { order: number }> = [];
  playbooks.forEach((playbook, order) => {
    const t = playbook.trigger;
    if (!t.events.includes(e.kind)) return;
    if (t.kernel !== 'any' && t.kernel !== e.kernel) return;
    if (t.signatures.length > 0 && !t.signatures.some((g) => globMatch(g, e.signature))) return;
    matches.push({ playbook, score: (t.signatures.length > 0 ? 2 : 0) + (t.kernel !== 'any' ? 1 : 0), order });
  });
  return matches.sort((a, b) => b.score - a.score || a.order - b.order).map(({ playbook, score }) => ({ playbook, score }));
}

/** The run parameters the evidence provides for a playbook (before defaults). */
export function paramsFromEvidence(playbook: Playbook, e: Evidence): Record<string, ParameterValue> {
  const available: Record<string, unknown> = {
    ...e.data,
    // Playbook parameters are snake_case; detectors measure in camelCase (`rssMb` → `rss_mb`).
    ...Object.fromEntries(Object.entries(e.data).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v])),
    ...(e.kernel ? { kernel: e.kernel } : {}),
    ...(e.process ? { process: e.process } : {}),
    signature: e.signature,
    evidence_id: e.id,
  };
  const out: Record<string, ParameterValue> = {};
  for (const [name, p] of Object.entries(playbook.parameters)) {
    const v = available[name];
    if (v !== undefined && v !== null && hasParameterType(v, p.type)) out[name] = v as ParameterValue;
  }
  return out;
}

/** One run per playbook and kernel (or process) at a time: evidence for a running one folds into it. */
export function dispatchIdOf(playbook: Playbook, e: Evidence): string {
  return dispatchWorkflowId(playbook.name, e.kernel ?? e.process);
}

export type DispatchResult =
  | { outcome: 'started'; playbook: string; workflowId: string; runId: string }
  | { outcome: 'unmatched'; playbook: null; reason: string }
  | { outcome: 'invalid_params'; playbook: string; reason: string };

export interface DispatcherDeps {
  config: LoadedConfig;
  temporal: Client;
  /** Where the playbooks are; default playbooks/. */
  playbookDir?: string;
}

/**
 * Starts the playbook for this evidence, or folds it into the run already going. Playbooks are
 * read from disk on each call (a few milliseconds), so an edited file counts at once, and a file
 * that does not validate contributes nothing: its problems are what `playbook validate` shows.
 */
export async function dispatch(deps: DispatcherDeps, e: Evidence): Promise<DispatchResult> {
  const { playbooks } = loadPlaybooks(deps.playbookDir ?? DEFAULT_PLAYBOOK_DIR);
  const [best] = matchingPlaybooks(e, playbooks);
  if (!best) return { outcome: 'unmatched', playbook: null, reason: `no playbook is triggered by ${e.kind} on ${e.kernel ?? 'any kernel'} (${e.signature})` };
  let params: Record<string, ParameterValue>;
  try {
    params = resolveRunParams(best.playbook, paramsFromEvidence(best.playbook, e));
  } catch (err) {
    return { outcome: 'invalid_params', playbook: best.playbook.name, reason: (err as Error).message };
  }
  const input: PlaybookRunInput = {
    playbook: best.playbook,
    params,
    kernel: e.kernel,
    startedBy: `dispatcher: evidence ${e.id} (${e.signature}) seen by ${e.observer}`,
    evidence: e,
  };
  const workflowId = dispatchIdOf(best.playbook, e);
  const handle = await deps.temporal.workflow.signalWithStart<PlaybookWorkflow, [unknown]>(PLAYBOOK_WORKFLOW, {
    workflowId,
    taskQueue: deps.config.temporal.taskQueues.healing,
    workflowTaskTimeout: PLAYBOOK_WORKFLOW_TASK_TIMEOUT,
    ...findable({ kind: 'playbook', playbook: best.playbook.name, kernel: e.kernel, signature: e.signature, summary: `playbook ${best.playbook.name} for evidence ${e.id} (${e.signature})` }),
    args: [input],
    signal: evidenceSignal,
    signalArgs: [e],
  });
  return { outcome: 'started', playbook: best.playbook.name, workflowId, runId: handle.signaledRunId };
}
