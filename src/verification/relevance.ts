/**
 * Which project checks a change can affect, from the paths it changes: a check that reads none of
 * them gives the same answer with or without the change, so running it on the change's scratch copy
 * says nothing about the change (and a type check costs a core for half a minute).
 *  - `types` (`tsc --noEmit`) reads TypeScript sources and declarations, tsconfig files, and the
 *    packages' own types: relevant when a `.ts`/`.tsx`/`.mts`/`.cts` file, a tsconfig, package.json
 *    or its lock, or anything under node_modules changes;
 *  - `lint` (eslint) reads the project's own scripts: relevant when a `.ts`/`.js`/`.mjs`/`.cjs` file
 *    outside the generated dist/ and node_modules/ changes, or eslint's config;
 *  - `tests` always run: the kernel's declared tests exercise what it loads, whatever changed.
 * Pure (string tests only): the change-set workflow calls it.
 */
export type ProjectCheck = 'tests' | 'lint' | 'types';

export interface ChangedPath {
  root: 'project' | 'state';
  path: string;
}

const TYPES_RELEVANT = /(\.(ts|tsx|mts|cts)$)|(^|\/)tsconfig[^/]*\.json$|^package(-lock)?\.json$|^node_modules\//;
const LINTABLE = /\.(ts|tsx|js|mjs|cjs)$/;
const GENERATED = /^(dist|node_modules)\//;

/** Why `check` cannot be affected by the change, or null when it can. */
export function irrelevance(check: ProjectCheck, changed: readonly ChangedPath[]): string | null {
  const project = changed.filter((c) => c.root === 'project').map((c) => c.path);
  if (check === 'types') {
    return project.some((p) => TYPES_RELEVANT.test(p)) ? null : 'not run: no TypeScript source, tsconfig, package manifest or dependency changed';
  }
  if (check === 'lint') {
    return project.some((p) => (LINTABLE.test(p) && !GENERATED.test(p)) || /^eslint\.config\./.test(p)) ? null : 'not run: no script eslint lints changed (generated dist/ and node_modules/ are not linted)';
  }
  return null;
}
