/**
 * Where a fixer finds the last good version of a file of the project, offline:
 *  - a file git tracks: its content at HEAD (`git show HEAD:<path>`);
 *  - a compiled file under `dist/` whose source git tracks: that source, compiled again on its own
 *    with the project's compiler options (TypeScript's `transpileModule`, in milliseconds, where a
 *    whole `tsc` build takes a minute here).
 * Read-only: nothing here writes; the change set it feeds is applied by src/coding-agent/apply.ts.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface GoodContent {
  content: string;
  /** `git:HEAD`, or `transpile:<source path>`. */
  source: string;
}

/** Whether git tracks `rel` (a path relative to `root`). */
export async function tracked(root: string, rel: string): Promise<boolean> {
  return run('git', ['ls-files', '--error-unmatch', '--', rel], { cwd: root }).then(
    () => true,
    () => false,
  );
}

/** The source a `dist/` file was compiled from (`dist/a/b.js` → `a/b.ts`), or null for any other path. */
export function sourceOfCompiled(rel: string): string | null {
  const m = /^dist\/(.+)\.js$/.exec(rel.split(path.sep).join('/'));
  return m ? `${m[1]}.ts` : null;
}

/** The last good content of `rel`, or null when neither git nor a tracked source has it. */
export async function lastGoodContent(root: string, rel: string): Promise<GoodContent | null> {
  const posix = rel.split(path.sep).join('/');
  if (await tracked(root, posix)) {
    const { stdout } = await run('git', ['show', `HEAD:${posix}`], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    return { content: stdout, source: 'git:HEAD' };
  }
  const src = sourceOfCompiled(posix);
  if (src && (await tracked(root, src))) {
    // The working tree's source is what the live build was made from; HEAD's may differ by design.
    const text = await readFile(path.join(root, src), 'utf8');
    return { content: await transpile(root, src, text), source: `transpile:${src}` };
  }
  return null;
}

/** Compiles one TypeScript file with the project's compiler options (tsconfig.json), as `tsc` emits it. */
async function transpile(root: string, file: string, text: string): Promise<string> {
  // Loaded only here: the compiler is large, and only this fixer needs it.
  const ts = await import('typescript');
  const parsed = ts.getParsedCommandLineOfConfigFile(path.join(root, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: () => undefined,
  });
  const out = ts.transpileModule(text, { compilerOptions: parsed?.options ?? {}, fileName: path.join(root, file) });
  return out.outputText;
}
