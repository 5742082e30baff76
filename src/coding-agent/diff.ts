/**
 * Unified diffs for the coding agent's change sets (jsdiff): a pure apply of one file's diff to its
 * current text, which the LLM fixer uses to check a proposal before it is returned and the apply
 * engine can use to produce the new content. No I/O.
 */
import { applyPatch, parsePatch, type StructuredPatch } from 'diff';

export type LlmFixReason = 'timeout' | 'http' | 'no_diff' | 'does_not_apply' | 'unsafe_path';

/** Why the LLM fixer (or a diff it proposed) was refused; never accompanied by a partial change set. */
export class LlmFixError extends Error {
  override name = 'LlmFixError';
  constructor(
    readonly reason: LlmFixReason,
    message: string,
  ) {
    super(`${reason}: ${message}`);
  }
}

/** The file names of a diff without git's `a/` and `b/` prefixes; null for `/dev/null`. */
export function patchPaths(patch: StructuredPatch): { oldPath: string | null; newPath: string | null } {
  const clean = (name: string | undefined, prefix: string): string | null => {
    if (name === undefined || name === '' || name === '/dev/null') return null;
    const bare = name.split('\t')[0];
    return bare.startsWith(prefix) ? bare.slice(prefix.length) : bare;
  };
  return { oldPath: clean(patch.oldFileName, 'a/'), newPath: clean(patch.newFileName, 'b/') };
}

/** Parses a unified diff (one or more files); a malformed one does not apply. */
export function parseUnifiedDiff(diff: string): StructuredPatch[] {
  let patches: StructuredPatch[];
  try {
    patches = parsePatch(diff);
  } catch (err) {
    throw new LlmFixError('does_not_apply', `the diff is malformed: ${(err as Error).message}`);
  }
  return patches.filter((p) => p.hunks.length > 0);
}

/**
 * Applies a one-file unified diff to the file's current text and returns the new text. Throws
 * {@link LlmFixError} `does_not_apply` when the diff is malformed, names several files, has no
 * hunk, or its hunks do not fit the current text (no fuzz: context and removed lines must match).
 */
export function applyUnifiedDiff(current: string, diff: string): string {
  const patches = parseUnifiedDiff(diff);
  if (patches.length !== 1) {
    throw new LlmFixError('does_not_apply', `expected a diff of one file with at least one hunk, got ${patches.length}`);
  }
  const result = applyPatch(current, patches[0]);
  if (result === false) {
    const name = patchPaths(patches[0]).newPath ?? patchPaths(patches[0]).oldPath ?? 'the file';
    throw new LlmFixError('does_not_apply', `the diff of ${name} does not apply to its current content`);
  }
  return result;
}
