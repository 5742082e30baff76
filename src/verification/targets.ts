/**
 * What the verification workflow's `tests` check runs for a remedy: the targeted mocha tests.
 *  - the kernel's own unit tests, declared in its manifest (`tests`, paths of test sources);
 *  - the unit tests that import a changed file directly (an `import … from '…'`, `import('…')` or
 *    `require('…')` whose path resolves to it), and changed test files themselves;
 *  - the operator's extra tests (compiled `.js`) in `incidents.verification.extraTestsDir`:
 *    `<dir>/<kernel>/*.js` and `<dir>/all/*.js`.
 * Sources map to their compiled files under `dist/` (mocha runs JavaScript: `npm run build` first).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { KERNEL_MANIFESTS } from '../../kernels/manifests';
import type { LoadedConfig } from '../config/load';

/** Where unit tests live, from the project root. */
export const UNIT_TESTS_DIR = 'test/unit';

export interface TestSelection {
  /** Test sources, relative to the root, sorted: the kernel's declared ones, then importers of changed files. */
  sources: string[];
  /** Absolute paths of the operator's compiled extra tests. */
  extra: string[];
  /** Absolute paths mocha runs: the compiled sources (those that exist) and the extra tests. */
  files: string[];
  /** Compiled files of selected sources that do not exist (not built): reported, not run. */
  missing: string[];
}

export interface SelectTestsOptions {
  /** The project root the tests are taken from (and compiled under, `dist/`). */
  root: string;
  kernel: string | null;
  /** Changed files, relative to the root. */
  changedFiles: readonly string[];
  /** Absolute; null for none. */
  extraTestsDir: string | null;
}

/** `incidents.verification.extraTestsDir`, absolute (relative paths are taken from the state directory). */
export function extraTestsDirOf(config: LoadedConfig): string {
  return path.resolve(config.stateDir, config.incidents.verification.extraTestsDir ?? 'verification-tests');
}

/** The kernel's declared unit tests (test sources relative to the root); none for an unknown kernel. */
export function kernelTests(kernel: string | null): string[] {
  return [...(KERNEL_MANIFESTS.find((m) => m.name === kernel)?.tests ?? [])];
}

const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

/** The relative module paths a source imports (`./x`, `../../src/y`), as written. */
export function relativeImports(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(IMPORT_RE)) if (m[1]!.startsWith('.')) out.push(m[1]!);
  return out;
}

const withoutExt = (p: string): string => p.replace(/\.(d\.ts|ts|tsx|js|mjs|cjs)$/, '');

/** Unit tests (relative to the root) that import one of `changedFiles` directly; changed tests themselves too. */
export function importersOf(root: string, changedFiles: readonly string[], testsDir = UNIT_TESTS_DIR): string[] {
  const changed = new Set(changedFiles.map((f) => withoutExt(path.posix.normalize(f.split(path.sep).join('/')))));
  if (changed.size === 0) return [];
  const out = new Set<string>();
  for (const test of listFiles(path.join(root, testsDir), (f) => f.endsWith('.ts'))) {
    const rel = path.relative(root, test).split(path.sep).join('/');
    if (changed.has(withoutExt(rel))) {
      out.add(rel);
      continue;
    }
    const dir = path.posix.dirname(rel);
    for (const spec of relativeImports(readFileSync(test, 'utf8'))) {
      const target = withoutExt(path.posix.normalize(path.posix.join(dir, spec)));
      if (changed.has(target) || changed.has(`${target}/index`)) {
        out.add(rel);
        break;
      }
    }
  }
  return [...out].sort();
}

/** The compiled file of a test source: `test/unit/x.test.ts` → `<root>/dist/test/unit/x.test.js`. */
export function compiledOf(root: string, source: string): string {
  return path.join(root, 'dist', source.replace(/\.ts$/, '.js'));
}

/** The operator's extra tests for a kernel: `<dir>/<kernel>/*.js`, then `<dir>/all/*.js`. */
export function extraTests(dir: string | null, kernel: string | null): string[] {
  if (!dir) return [];
  const js = (f: string): boolean => f.endsWith('.js');
  return [...(kernel ? listFiles(path.join(dir, kernel), js, false) : []), ...listFiles(path.join(dir, 'all'), js, false)];
}

export function selectTests({ root, kernel, changedFiles, extraTestsDir }: SelectTestsOptions): TestSelection {
  const sources = [...new Set([...kernelTests(kernel), ...importersOf(root, changedFiles)])];
  const extra = extraTests(extraTestsDir, kernel);
  const compiled = sources.map((s) => compiledOf(root, s));
  const missing = compiled.filter((f) => !existsSync(f));
  return { sources, extra, files: [...compiled.filter((f) => existsSync(f)), ...extra], missing };
}

/** Files under `dir` (recursively unless `deep` is false) that `keep` accepts, sorted; none if it does not exist. */
function listFiles(dir: string, keep: (name: string) => boolean, deep = true): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names.sort()) {
    const full = path.join(dir, name);
    let st;
    try {
      st = statSync(full);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      if (deep) out.push(...listFiles(full, keep));
    } else if (keep(name)) out.push(full);
  }
  return out;
}
