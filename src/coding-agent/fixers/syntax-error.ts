/**
 * The syntax-error fixer: a kernel process died on a `SyntaxError` in a file of the project (Node
 * prints `<file>:<line>` above the error). It restores that file's last good version — git's, or
 * for a compiled file under `dist/` its tracked source compiled again (sources.ts) — and restarts
 * the kernel. It proposes nothing when the file is outside the project or has no good version.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { faultText, type ChangeSet, type Fixer, type FixerInput } from '../change-set';
import { showsFault } from '../code-faults';
import { lastGoodContent } from './sources';

/** `/abs/file.js:12` (a line on its own, as Node prints it) or `at … (/abs/file.js:12:5)`. */
const LOCATION = /(\/[^\s:()'"]+\.(?:c|m)?(?:js|ts)):(\d+)/g;

/** The first file of the project named next to a SyntaxError, relative to the root, with its line. */
export function syntaxErrorLocation(text: string, projectRoot: string): { file: string; line: number } | null {
  if (!/SyntaxError/.test(text)) return null;
  const root = path.resolve(projectRoot) + path.sep;
  for (const m of text.matchAll(LOCATION)) {
    const abs = path.resolve(m[1]);
    // Node's own internals and files outside the project are not ours to restore.
    if (!abs.startsWith(root) || abs.includes(`${path.sep}node_modules${path.sep}`)) continue;
    return { file: path.relative(projectRoot, abs), line: Number(m[2]) };
  }
  return null;
}

export const syntaxErrorFixer: Fixer = {
  name: 'syntax_error',
  description: "restores a kernel's file that fails with a SyntaxError from git, or compiles its source again, and restarts the kernel",
  handles: (e) => showsFault('syntax_error', e),
  async propose(input: FixerInput): Promise<ChangeSet | null> {
    const where = syntaxErrorLocation(faultText(input), input.projectRoot);
    if (!where) return null;
    const good = await lastGoodContent(input.projectRoot, where.file);
    if (!good) return null;
    // Already its last good version (a SyntaxError thrown at run time, by JSON.parse for one): not a
    // broken file, nothing to restore.
    if ((await readFile(path.join(input.projectRoot, where.file), 'utf8').catch(() => null)) === good.content) return null;
    return {
      fixer: 'syntax_error',
      params: { file: where.file },
      summary: `${where.file}:${where.line} fails to parse; restore it from ${good.source}`,
      files: [{ root: 'project', path: where.file, content: { encoding: 'utf8', data: good.content }, source: good.source }],
      // Checking the restored file parses is the verification loop's (types, tests); nothing to build.
      commands: [],
      restartKernel: input.evidence.kernel,
    };
  },
};
