/**
 * The coding agent's contract: a fixer says which evidence it can handle, analyses the diagnostics
 * and proposes a fix as a {@link ChangeSet} — files with their new content or a unified diff, plus
 * the commands that apply it (a rebuild of the affected output, a restart of the kernel). Fixers
 * never write to the live tree themselves: a change set is applied in a scratch copy, verified there
 * (tests, lint, types), and only then promoted, with a backup it can be rolled back from
 * (src/coding-agent/apply.ts).
 *
 * Pure types and one pure check: no I/O, so workflows, the CLI and unit tests can use them.
 */
import type { IncidentDiagnostics } from '../../contracts/incident';
import type { Evidence } from '../healing/evidence';

/** One file a change set writes (or deletes), relative to the project root or the state directory. */
export interface FileChange {
  /** Which tree the path is in: the project (code, node_modules, dist) or the state directory (configs, models). */
  root: 'project' | 'state';
  /** Relative to its root; `..` and absolute paths are refused (see {@link refuseUnsafePath}). */
  path: string;
  /**
   * The new content — utf8 text, base64 bytes, or (`proposal`) a file the fixer wrote under the
   * state directory's `coding-agent/proposals/` (`data` is its path there: a package's many files
   * stay out of the workflow's history) — or null to delete the file; exclusive with `diff`.
   */
  content?: { encoding: 'utf8' | 'base64' | 'proposal'; data: string } | null;
  /** A unified diff against the current file; exclusive with `content`. */
  diff?: string;
  /** Where the new content came from, for the record: `git:HEAD`, `snapshot:<id>`, `npm-cache`, `llm:<model>`. */
  source: string;
}

/** A command the change set needs after its files are in place (in the scratch copy, then live). */
export interface ApplyCommand {
  /** What it does, in a few words (shown in the incident). */
  why: string;
  /** argv, run without a shell; `{root}` is replaced by the tree it runs in. */
  argv: string[];
  /** Run again once promoted (a rebuild of the live output), or only in the scratch copy. */
  live: boolean;
  timeoutMs?: number;
}

export interface ChangeSet {
  /** The fixer that proposed it, and the parameters it would propose again (what the KB learns). */
  fixer: string;
  params: Record<string, unknown>;
  /** One line: what is wrong and what the change does. */
  summary: string;
  files: FileChange[];
  commands: ApplyCommand[];
  /** A kernel restarted once the change is live, so it loads it. */
  restartKernel: string | null;
}

/** What a fixer is given: the evidence, the incident's diagnostics, where the trees are. */
export interface FixerInput {
  evidence: Evidence;
  diagnostics: IncidentDiagnostics | null;
  projectRoot: string;
  stateDir: string;
}

export interface Fixer {
  /** Registered once (src/coding-agent/fixers/index.ts); what the KB stores as the remedy. */
  name: string;
  /** One line for docs and `layer1 kb`. */
  description: string;
  /** Cheap and pure: whether this evidence is of the kind this fixer repairs. */
  handles(evidence: Evidence): boolean;
  /**
   * Reads what it needs (read-only) and proposes a change set, or null when it finds nothing it
   * can fix (the incident then goes on to the next fixer, or to a human).
   */
  propose(input: FixerInput): Promise<ChangeSet | null>;
}

/** Everything a fixer reads the fault from: the evidence's text and detail, then the diagnostics' log lines. */
export function faultText(input: Pick<FixerInput, 'evidence' | 'diagnostics'>): string {
  return [input.evidence.text, input.evidence.detail, ...(input.diagnostics?.logLines ?? [])].join('\n');
}

/** A change set refused before anything is written: where and why. */
export class UnsafeChangeError extends Error {
  override name = 'UnsafeChangeError';
}

/** Refuses absolute paths and paths that climb out of their root (`..`); symlinks are checked on disk by apply.ts. */
export function refuseUnsafePath(change: Pick<FileChange, 'root' | 'path'>): void {
  const p = change.path;
  if (p.length === 0 || p.startsWith('/') || p.includes('\0') || p.split(/[\\/]/).includes('..')) {
    throw new UnsafeChangeError(`${change.root}:${p}: a change set may only name paths inside its root`);
  }
}
