/**
 * Confines a playbook's file paths to the state directory. A path is refused when it leaves the
 * directory lexically (`..`, an absolute path elsewhere) or through a symlink: the nearest part of
 * it that exists is resolved with realpath, so a link inside the state directory that points out
 * of it cannot be used to read or overwrite files elsewhere.
 */
import { lstatSync, realpathSync } from 'node:fs';
import path from 'node:path';

export type PathEscapeReason = 'outside' | 'symlink';

/** A path that would reach outside the state directory. */
export class PathEscapeError extends Error {
  override name = 'PathEscapeError';
  constructor(
    /** The path as given. */
    readonly requested: string,
    readonly stateDir: string,
    /** `outside`: lexically (`..`, absolute); `symlink`: a link on the way resolves outside (or nowhere). */
    readonly reason: PathEscapeReason,
    /** What it resolved to. */
    readonly resolved: string,
    /** What the directory is, for the message. */
    readonly rootName = 'the state directory',
  ) {
    super(
      reason === 'outside'
        ? `path "${requested}" escapes ${rootName} ${stateDir} (resolves to ${resolved})`
        : `path "${requested}" escapes ${rootName} ${stateDir} through a symlink (resolves to ${resolved})`,
    );
  }
}

function inside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel));
}

/**
 * The absolute path of `requested` (relative to `stateDir`, or absolute inside it), with every
 * existing part resolved through realpath. `stateDir` may be another root (the snapshots confine
 * project files to the project's root); `rootName` then names it in the error.
 * @throws PathEscapeError when it lies outside the state directory, lexically or by a symlink
 */
export function confinePath(stateDir: string, requested: string, rootName?: string): string {
  const lexicalRoot = path.resolve(stateDir);
  const lexical = path.resolve(lexicalRoot, requested);
  if (!inside(lexicalRoot, lexical)) throw new PathEscapeError(requested, stateDir, 'outside', lexical, rootName);

  // The state directory itself may be reached through a symlink (e.g. /tmp on macOS): compare real paths.
  const realRoot = realpathSync(lexicalRoot);
  const rest: string[] = [];
  let existing = lexical;
  // Walk up to the nearest part that exists (lstat: a dangling link exists too, and is refused below).
  for (;;) {
    try {
      lstatSync(existing);
      break;
    } catch {
      rest.unshift(path.basename(existing));
      existing = path.dirname(existing);
    }
  }
  let real: string;
  try {
    real = realpathSync(existing);
  } catch {
    // A dangling symlink: writing through it would create its target, wherever that is.
    throw new PathEscapeError(requested, stateDir, 'symlink', existing, rootName);
  }
  const resolved = path.join(real, ...rest);
  if (!inside(realRoot, resolved)) throw new PathEscapeError(requested, stateDir, 'symlink', resolved, rootName);
  return resolved;
}

/** The path of `absolute` relative to the state directory, for reports and manifests. */
export function relativeToState(stateDir: string, absolute: string): string {
  return path.relative(realpathSync(path.resolve(stateDir)), absolute) || '.';
}
