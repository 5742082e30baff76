/**
 * Choosing a remedy for evidence: the playbook whose trigger matches it best (the dispatcher's
 * matching), with its run parameters filled from the evidence. The coding agent uses it to answer an
 * incident's task for a new signature; the knowledge base's known remedy is re-resolved with it, so
 * a remedy learned from one occurrence runs with the parameters of the next (its user, its subject).
 */
import type { ParameterValue, Playbook } from '../playbooks/format';
import { DEFAULT_PLAYBOOK_DIR, loadPlaybooks, resolveRunParams } from '../playbooks/loader';
import { matchingPlaybooks, paramsFromEvidence } from './dispatcher';
import type { Evidence } from './evidence';
import type { ChangeSet } from '../coding-agent/change-set';

export interface PlaybookRemedy {
  kind: 'playbook';
  name: string;
  playbook: Playbook;
  params: Record<string, ParameterValue>;
  reason: string;
}

/**
 * A change set one of the coding agent's fixers proposed (src/coding-agent/fixers/): applied by the
 * change-set workflow — staged in a scratch copy, verified there, then promoted.
 */
export interface ChangeSetRemedy {
  kind: 'change_set';
  /** The fixer. */
  name: string;
  changeSet: ChangeSet;
  params: Record<string, unknown>;
  reason: string;
}

export type RemedyChoice = PlaybookRemedy | ChangeSetRemedy | { kind: null; reason: string };

/** The best-matching playbook for the evidence, or why there is none. */
export function choosePlaybook(e: Evidence, dir: string = DEFAULT_PLAYBOOK_DIR): RemedyChoice {
  const { playbooks } = loadPlaybooks(dir);
  const matches = matchingPlaybooks(e, playbooks);
  for (const m of matches) {
    try {
      const params = resolveRunParams(m.playbook, paramsFromEvidence(m.playbook, e));
      const others = matches.filter((x) => x !== m).map((x) => x.playbook.name);
      return {
        kind: 'playbook',
        name: m.playbook.name,
        playbook: m.playbook,
        params,
        reason: `its trigger matches ${e.kind} on ${e.kernel ?? 'any kernel'}${m.score > 0 ? ' (most specific match)' : ''}${others.length ? `; also matched: ${others.join(', ')}` : ''}`,
      };
    } catch {
      // Its parameters cannot be filled from this evidence: the next match may fit.
    }
  }
  return { kind: null, reason: `no playbook is triggered by ${e.kind} on ${e.kernel ?? 'any kernel'} (${e.signature})` };
}

/** A named playbook (a remedy the knowledge base learned) with parameters from this evidence, falling back to the learned ones. */
export function playbookByName(name: string, e: Evidence, learned: Record<string, unknown>, dir: string = DEFAULT_PLAYBOOK_DIR): RemedyChoice {
  const playbook = loadPlaybooks(dir).playbooks.find((p) => p.name === name);
  if (!playbook) return { kind: null, reason: `the learned remedy ${name} is no longer among the playbooks` };
  const fromEvidence = paramsFromEvidence(playbook, e);
  const fallback: Record<string, ParameterValue> = {};
  for (const [k, v] of Object.entries(learned)) if (k in playbook.parameters && !(k in fromEvidence)) fallback[k] = v as ParameterValue;
  try {
    return { kind: 'playbook', name, playbook, params: resolveRunParams(playbook, { ...fallback, ...fromEvidence }), reason: 'the knowledge base holds it as the verified remedy of this signature' };
  } catch (err) {
    return { kind: null, reason: `the learned remedy ${name} does not take this evidence's parameters: ${(err as Error).message}` };
  }
}
