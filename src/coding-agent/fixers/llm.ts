/**
 * The optional LLM fixer: asks an OpenAI-compatible chat-completions endpoint for a unified diff
 * that fixes the failure, and returns it as a change set once every file of it is checked (a safe
 * path inside the project root, no symlink out of it, hunks that apply to the current content).
 *
 * Off by default (`codingAgent.llm.enabled`): nothing leaves the machine unless an operator
 * configures a URL and a model. What is sent: the evidence (kind, kernel, text, detail), the last
 * lines of the diagnostics' log, and the content of the project files the error text names
 * (`path:line` references inside the project root, each at most `maxFileBytes`). Reads only: the
 * change set is applied, verified and promoted elsewhere (src/coding-agent/change-set.ts).
 */
import { lstat, readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config/schema';
import { refuseUnsafePath, UnsafeChangeError, type ApplyCommand, type ChangeSet, type FileChange, type Fixer, type FixerInput } from '../change-set';
import { applyUnifiedDiff, LlmFixError, parseUnifiedDiff, patchPaths } from '../diff';
import { formatPatch } from 'diff';

export { LlmFixError, type LlmFixReason } from '../diff';

export type LlmSettings = Config['codingAgent']['llm'];

export interface LlmFixerOptions {
  /** Where the API key's variable is read from (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export const LLM_FIXER_NAME = 'llm';

const SYSTEM_PROMPT = [
  'You repair a failing TypeScript/Node.js project.',
  'Answer with ONE unified diff (```diff fenced block) that fixes the failure, and nothing else of substance.',
  'Paths are relative to the project root, with git a/ and b/ prefixes (--- a/src/x.ts, +++ b/src/x.ts).',
  'Change only the files shown; each hunk must apply to the content shown, with exact context lines.',
].join('\n');

/** A file the error text names, as sent in the prompt. */
interface SentFile {
  path: string;
  content: string;
}

/** `path:line` references in error text: absolute, relative, or `file://` URLs, as stack traces print them. */
const FILE_REF = /(?:file:\/\/)?((?:\/|\.{1,2}\/)?[\w@.+-]+(?:\/[\w@.+-]+)*\.[A-Za-z0-9]+):\d+/g;

function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' ? false : !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * The real path of a project file (or of the nearest existing folder above it, for a new file),
 * refused when it is outside the project root once symlinks are resolved.
 */
async function realInside(realRoot: string, root: string, rel: string): Promise<string | null> {
  let probe = path.resolve(root, rel);
  const rest: string[] = [];
  for (;;) {
    try {
      const real = await realpath(probe);
      const full = path.join(real, ...rest);
      return isInside(realRoot, full) ? full : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const parent = path.dirname(probe);
      if (parent === probe) return null;
      rest.unshift(path.basename(probe));
      probe = parent;
    }
  }
}

/** The project files named in the texts: inside the root, regular, at most maxFileBytes; others are skipped. */
export async function filesNamedIn(texts: string[], projectRoot: string, settings: Pick<LlmSettings, 'maxFiles' | 'maxFileBytes'>): Promise<SentFile[]> {
  const realRoot = await realpath(projectRoot);
  const seen = new Set<string>();
  const files: SentFile[] = [];
  for (const text of texts) {
    for (const m of text.matchAll(FILE_REF)) {
      if (files.length >= settings.maxFiles) return files;
      const abs = path.resolve(projectRoot, m[1]);
      const rel = path.relative(projectRoot, abs);
      if (!isInside(projectRoot, abs) && !isInside(realRoot, abs)) continue;
      const relToRoot = isInside(projectRoot, abs) ? rel : path.relative(realRoot, abs);
      if (seen.has(relToRoot)) continue;
      seen.add(relToRoot);
      const real = await realInside(realRoot, projectRoot, relToRoot).catch(() => null);
      if (!real) continue;
      const st = await lstat(real).catch(() => null);
      if (!st?.isFile() || st.size > settings.maxFileBytes) continue;
      files.push({ path: relToRoot.split(path.sep).join('/'), content: await readFile(real, 'utf8') });
    }
  }
  return files;
}

/** The user message: the evidence, the log lines, the files. */
export function buildPrompt(input: FixerInput, files: SentFile[], maxLogLines: number): string {
  const { evidence, diagnostics } = input;
  const logLines = maxLogLines > 0 ? (diagnostics?.logLines ?? []).slice(-maxLogLines) : [];
  const parts = [
    `Failure: ${evidence.kind} on kernel ${evidence.kernel ?? '(none)'}`,
    `Error text:\n${evidence.text}`,
    `Detail:\n${evidence.detail}`,
    logLines.length > 0 ? `Last ${logLines.length} log lines:\n${logLines.join('\n')}` : 'No log lines.',
  ];
  for (const f of files) parts.push(`File ${f.path}:\n\`\`\`\n${f.content}\n\`\`\``);
  if (files.length === 0) parts.push('No project file is named in the error text.');
  parts.push('Reply with the unified diff that fixes this failure.');
  return parts.join('\n\n');
}

/**
 * The unified diff in a model's answer: the ```diff (or ```patch) fenced blocks, else a fenced
 * block that is a diff, else the answer from its first `diff --git` or `--- ` line. Null when none.
 */
export function extractDiff(answer: string): string | null {
  const fences = [...answer.matchAll(/```([\w-]*)[^\n]*\n([\s\S]*?)```/g)];
  const looksLikeDiff = (t: string) => /^(diff --git |--- )/m.test(t) && /^@@ /m.test(t);
  const tagged = fences.filter((f) => ['diff', 'patch', 'udiff'].includes(f[1].toLowerCase())).map((f) => f[2]);
  const chosen = tagged.length > 0 ? tagged : fences.map((f) => f[2]).filter(looksLikeDiff);
  if (chosen.length > 0) return chosen.map((t) => (t.endsWith('\n') ? t : `${t}\n`)).join('');
  const start = answer.search(/^(diff --git |--- )/m);
  if (start < 0) return null;
  const bare = answer.slice(start);
  return looksLikeDiff(bare) ? (bare.endsWith('\n') ? bare : `${bare}\n`) : null;
}

/** POSTs the chat completion and returns the answer's text. */
async function complete(settings: LlmSettings, apiKey: string | undefined, prompt: string): Promise<string> {
  const url = `${settings.url!.replace(/\/+$/, '')}/chat/completions`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  const body = JSON.stringify({
    model: settings.model,
    temperature: 0,
    messages: [
      { role: 'system', content: SYSTEM_PROMPT },
      { role: 'user', content: prompt },
    ],
  });
  const signal = AbortSignal.timeout(settings.timeoutMs);
  let text: string;
  let status: number;
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal });
    status = res.status;
    text = await res.text();
  } catch (err) {
    const e = err as Error;
    if (signal.aborted || e.name === 'TimeoutError' || e.name === 'AbortError') {
      throw new LlmFixError('timeout', `${url} did not answer within ${settings.timeoutMs} ms`);
    }
    const cause = (e as { cause?: Error }).cause;
    throw new LlmFixError('http', `${url}: ${cause?.message ?? e.message}`);
  }
  if (status < 200 || status > 299) throw new LlmFixError('http', `${url} answered ${status}: ${text.slice(0, 300)}`);
  try {
    const content = (JSON.parse(text) as { choices?: Array<{ message?: { content?: unknown } }> }).choices?.[0]?.message?.content;
    if (typeof content !== 'string') throw new Error('no choices[0].message.content');
    return content;
  } catch (err) {
    throw new LlmFixError('http', `${url} answered something other than a chat completion: ${(err as Error).message}`);
  }
}

/** Checks each file of the diff (safe path, no symlink out of the root, applies) and returns its change. */
async function checkedChanges(diff: string, projectRoot: string, source: string): Promise<FileChange[]> {
  const patches = parseUnifiedDiff(diff);
  if (patches.length === 0) throw new LlmFixError('no_diff', 'the answer holds a diff without any hunk');
  const realRoot = await realpath(projectRoot);
  const changes: FileChange[] = [];
  const seen = new Set<string>();
  for (const patch of patches) {
    const { oldPath, newPath } = patchPaths(patch);
    const target = newPath ?? oldPath;
    if (target === null) throw new LlmFixError('does_not_apply', 'a file of the diff has no name');
    if (newPath === null) throw new LlmFixError('does_not_apply', `${oldPath}: the LLM fixer does not delete files`);
    if (oldPath !== null && oldPath !== newPath) throw new LlmFixError('does_not_apply', `${oldPath} → ${newPath}: the LLM fixer does not rename files`);
    try {
      refuseUnsafePath({ root: 'project', path: target });
    } catch (err) {
      if (err instanceof UnsafeChangeError) throw new LlmFixError('unsafe_path', err.message);
      throw err;
    }
    if (seen.has(target)) throw new LlmFixError('does_not_apply', `${target} is patched twice in one diff`);
    seen.add(target);
    const real = await realInside(realRoot, projectRoot, target);
    if (real === null) throw new LlmFixError('unsafe_path', `project:${target}: resolves outside the project root`);
    const st = await lstat(real).catch(() => null);
    if (oldPath === null && st !== null) throw new LlmFixError('does_not_apply', `${target}: the diff creates a file that exists`);
    if (oldPath !== null && !st?.isFile()) throw new LlmFixError('does_not_apply', `${target}: no such file in the project`);
    const current = oldPath === null ? '' : await readFile(real, 'utf8');
    const one = formatPatch(patch);
    applyUnifiedDiff(current, one);
    changes.push({ root: 'project', path: target, diff: one, source });
  }
  return changes;
}

/** What the change set runs once its files are in place: a rebuild when TypeScript changed. */
export function commandsFor(files: FileChange[]): ApplyCommand[] {
  if (!files.some((f) => /\.(ts|tsx|mts|cts)$/.test(f.path))) return [];
  return [{ why: 'rebuild the TypeScript output', argv: ['npm', '--prefix', '{root}', 'run', 'build'], live: true, timeoutMs: 300_000 }];
}

/**
 * The LLM fixer. `handles()` is true only when enabled (config validation guarantees url and model
 * then). `propose()` throws {@link LlmFixError} (timeout, http, no_diff, does_not_apply,
 * unsafe_path) rather than return a partial change set.
 */
export function llmFixer(settings: LlmSettings, options: LlmFixerOptions = {}): Fixer {
  const env = options.env ?? process.env;
  return {
    name: LLM_FIXER_NAME,
    description: 'asks an OpenAI-compatible endpoint for a unified diff (off by default: codingAgent.llm)',
    handles: () => settings.enabled && settings.url !== null && settings.model !== null,
    async propose(input: FixerInput): Promise<ChangeSet | null> {
      if (!settings.enabled || settings.url === null || settings.model === null) return null;
      const { evidence, diagnostics } = input;
      const texts = [evidence.text, evidence.detail, ...(diagnostics?.logLines ?? []).slice(-settings.maxLogLines)];
      const files = await filesNamedIn(texts, input.projectRoot, settings);
      const answer = await complete(settings, env[settings.apiKeyEnv] || undefined, buildPrompt(input, files, settings.maxLogLines));
      const diff = extractDiff(answer);
      if (diff === null) throw new LlmFixError('no_diff', `the answer of ${settings.model} holds no unified diff`);
      const changes = await checkedChanges(diff, input.projectRoot, `llm:${settings.model}`);
      return {
        fixer: LLM_FIXER_NAME,
        params: { model: settings.model, files: changes.map((c) => c.path) },
        summary: `${evidence.kind} on ${evidence.kernel ?? 'the stack'}: ${settings.model} proposes a diff of ${changes.map((c) => c.path).join(', ')}`,
        files: changes,
        commands: commandsFor(changes),
        restartKernel: evidence.kernel,
      };
    },
  };
}
