/**
 * The coding agent's answer to an incident: a remedy for the evidence.
 *  - A code fault (src/coding-agent/code-faults.ts: a file that does not parse, a module that does
 *    not resolve, a configuration that does not validate) goes to the fixers first: a
 *    restart — what the playbooks for a dead process do — would fail the same way again. The first
 *    fixer that proposes a change set answers.
 *  - Anything else gets the playbook whose trigger matches it best; when none does, the fixers
 *    that say they handle it (the LLM fixer, when configured) are asked last.
 * A remedy the knowledge base learned is proposed again by its fixer from the new evidence, without
 * the diagnostics (`proposeKnownFix`).
 *
 * Used by the coding-agent worker, and by the healing worker standing in for it when the agent is
 * the kernel that is down (it cannot repair its own start): both see the same trees.
 */
import type { IncidentDiagnostics } from '../../contracts/incident';
import type { Evidence } from '../healing/evidence';
import { choosePlaybook, type RemedyChoice } from '../healing/remedies';
import type { Fixer } from './change-set';
import { codeFaultOf } from './code-faults';

export interface RemedyTask {
  incidentId: string;
  evidence: Evidence;
  diagnostics: IncidentDiagnostics | null;
}

export interface RemedyDeps {
  fixers: readonly Fixer[];
  projectRoot: string;
  stateDir: string;
  playbookDir?: string;
}

/** Asks `fixers` in order; the first change set proposed answers. Fixers that throw are noted, not fatal. */
async function askFixers(fixers: readonly Fixer[], task: RemedyTask, deps: RemedyDeps, notes: string[]): Promise<RemedyChoice | null> {
  for (const f of fixers) {
    try {
      const cs = await f.propose({ evidence: task.evidence, diagnostics: task.diagnostics, projectRoot: deps.projectRoot, stateDir: deps.stateDir });
      if (cs) return { kind: 'change_set', name: f.name, changeSet: cs, params: cs.params, reason: `the ${f.name} fixer: ${cs.summary}` };
      notes.push(`${f.name} found nothing it can fix`);
    } catch (err) {
      notes.push(`${f.name} failed: ${(err as Error).message}`);
    }
  }
  return null;
}

/** Read-only (fixers only read; a proposal's files go under the state dir's proposals folder, rewritten the same by a retry). */
export async function chooseRemedy(task: RemedyTask, deps: RemedyDeps): Promise<RemedyChoice> {
  const e = task.evidence;
  const notes: string[] = [];
  const handling = deps.fixers.filter((f) => f.handles(e));
  const faults = codeFaultOf(e);
  if (faults.length > 0) {
    const first = await askFixers(handling.filter((f) => faults.includes(f.name)), task, deps, notes);
    if (first) return first;
  }
  const playbook = choosePlaybook(e, deps.playbookDir);
  if (playbook.kind !== null) return notes.length ? { ...playbook, reason: `${playbook.reason} (fixers: ${notes.join('; ')})` } : playbook;
  const last = await askFixers(handling.filter((f) => !faults.includes(f.name)), task, deps, notes);
  if (last) return last;
  return { kind: null, reason: `${playbook.reason}${notes.length ? `; fixers: ${notes.join('; ')}` : ''}` };
}

/** The learned fixer proposes again for this evidence, without diagnostics (no analysis). */
export async function proposeKnownFix(input: { fixer: string; evidence: Evidence }, deps: RemedyDeps): Promise<RemedyChoice> {
  const fixer = deps.fixers.find((f) => f.name === input.fixer);
  if (!fixer) return { kind: null, reason: `the learned fixer ${input.fixer} is not registered here` };
  const notes: string[] = [];
  const choice = await askFixers([fixer], { incidentId: '', evidence: input.evidence, diagnostics: null }, deps, notes);
  return choice ? { ...choice, reason: `the knowledge base holds the ${input.fixer} fixer as the verified remedy of this signature; ${choice.reason}` } : { kind: null, reason: notes.join('; ') };
}
