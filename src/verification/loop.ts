/**
 * The verification loop: the seam through which a change is judged before it is trusted. It runs
 * one shell command per check (tests, lint, types) in the target directory, each with a timeout,
 * and reports per check. The coding-agent issue fills this seam with targeted tests and its own
 * commands; callers pass `commands` (from a parameter or configuration) to override the defaults.
 *
 * {@link runCommand} is the one command runner underneath (own process group, timeout, abort,
 * bounded output); the verification workflow's project checks (activities/verification.ts) use it too.
 */
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../stack/tools';

export const VERIFICATION_CHECKS = ['tests', 'lint', 'types'] as const;
export type VerificationCheck = (typeof VERIFICATION_CHECKS)[number];

/** What each check runs, in the target directory. */
export const DEFAULT_VERIFICATION_COMMANDS: Record<VerificationCheck, string> = {
  tests: 'npm run --silent test:unit',
  lint: 'npm run --silent lint',
  types: 'npm run --silent typecheck',
};

/** @default 600000 (10 minutes) per check */
export const DEFAULT_CHECK_TIMEOUT_MS = 600_000;
/** How much of a failing command's output the detail keeps (its end, where errors are). */
const DETAIL_CHARS = 2_000;

export interface VerificationOptions {
  /** Directory to run in; relative paths are taken from the repository root. @default '.' */
  target?: string;
  /** @default every check */
  checks?: readonly VerificationCheck[];
  /** Per-check command overrides. */
  commands?: Partial<Record<VerificationCheck, string>>;
  /** @default {@link DEFAULT_CHECK_TIMEOUT_MS} */
  timeoutMs?: number;
  /** Aborts the running command (its whole process group) and the loop. */
  signal?: AbortSignal;
  /** Called about once a second while a command runs, e.g. to heartbeat. */
  onProgress?: (check: VerificationCheck) => void;
}

export interface VerificationResult {
  check: VerificationCheck;
  ok: boolean;
  detail: string;
  command: string;
  exitCode: number | null;
  ms: number;
  timedOut: boolean;
}

export interface VerificationReport {
  ok: boolean;
  target: string;
  results: VerificationResult[];
}

/** The loop was aborted (the activity was cancelled): its report would be partial. */
export class VerificationAbortedError extends Error {
  override name = 'VerificationAbortedError';
  constructor(readonly check: string) {
    super(`verification aborted while running ${check}`);
  }
}

/** Runs the checks one after another (they compete for the same CPU) and reports each. Read-only apart from what the commands do. */
export async function runVerification(options: VerificationOptions = {}): Promise<VerificationReport> {
  const target = path.resolve(REPO_ROOT, options.target ?? '.');
  const commands = { ...DEFAULT_VERIFICATION_COMMANDS, ...options.commands };
  const results: VerificationResult[] = [];
  for (const check of options.checks ?? VERIFICATION_CHECKS) {
    if (options.signal?.aborted) throw new VerificationAbortedError(check);
    const command = commands[check];
    const r = await runCommand(command, {
      cwd: target,
      name: check,
      timeoutMs: options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS,
      signal: options.signal,
      onProgress: () => options.onProgress?.(check),
      outputBytes: DETAIL_CHARS,
    });
    const status = r.timedOut ? `timed out after ${r.timeoutMs} ms` : `exit ${r.exitCode}`;
    const tail = r.output.trim();
    results.push({
      check,
      ok: r.ok,
      detail: `${command}: ${status} in ${r.ms} ms${r.ok || !tail ? '' : `\n${tail}`}`,
      command,
      exitCode: r.exitCode,
      ms: r.ms,
      timedOut: r.timedOut,
    });
  }
  return { ok: results.every((r) => r.ok), target, results };
}

export interface RunCommandOptions {
  cwd: string;
  timeoutMs: number;
  /** Names the command in a {@link VerificationAbortedError}. @default the command */
  name?: string;
  /** Added to the process's environment. */
  env?: Record<string, string>;
  /** Kills the command's whole process group; the run then rejects with {@link VerificationAbortedError}. */
  signal?: AbortSignal;
  /** Called about once a second while the command runs, e.g. to heartbeat. */
  onProgress?: () => void;
  /** How much of the output (stdout and stderr interleaved) to keep: its end. @default 4096 */
  outputBytes?: number;
  /** The command's CPU niceness (0 to 19; its children inherit it). @default the caller's */
  niceness?: number;
}

export interface CommandResult {
  /** Exit 0 within the timeout. */
  ok: boolean;
  /** The command as shown to people (an argv is joined with spaces). */
  command: string;
  /** Null when a signal ended it (a timeout's SIGKILL). */
  exitCode: number | null;
  /** The end of its output, at most `outputBytes` bytes. */
  output: string;
  ms: number;
  timedOut: boolean;
  timeoutMs: number;
}

/** The last `bytes` bytes of `text` (a cut multi-byte character at the start is dropped). */
export function tailBytes(text: string, bytes: number): string {
  const buf = Buffer.from(text);
  if (buf.length <= bytes) return text;
  return buf.subarray(buf.length - bytes).toString('utf8').replace(/^\uFFFD+/, '');
}

/**
 * Runs one command — a shell command line (a string, run with `sh -c`) or an argv (no shell) — in
 * its own process group, so a timeout or an abort stops it and everything it started, and keeps
 * the end of its output.
 */
export function runCommand(cmd: string | readonly string[], options: RunCommandOptions): Promise<CommandResult> {
  const command = typeof cmd === 'string' ? cmd : cmd.join(' ');
  const [file, args] = typeof cmd === 'string' ? ['sh', ['-c', cmd]] : [cmd[0]!, cmd.slice(1)];
  const keepBytes = options.outputBytes ?? 4096;
  const { timeoutMs } = options;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ? { ...process.env, ...options.env } : process.env,
    });
    if (options.niceness !== undefined && child.pid !== undefined) {
      try {
        setPriority(child.pid, options.niceness);
      } catch {
        // Gone already, or not allowed: it runs at the caller's priority.
      }
    }
    let output = '';
    // Kept in characters while running (cheap), cut to bytes at the end.
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-keepBytes);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const killGroup = (): void => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    const progress = setInterval(() => options.onProgress?.(), 1_000);
    const onAbort = (): void => killGroup();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      clearTimeout(timer);
      clearInterval(progress);
      options.signal?.removeEventListener('abort', onAbort);
    };
    child.once('error', (err) => {
      done();
      reject(err);
    });
    child.once('close', (code) => {
      done();
      if (options.signal?.aborted) return reject(new VerificationAbortedError(options.name ?? command));
      resolve({ ok: code === 0 && !timedOut, command, exitCode: code, output: tailBytes(output, keepBytes), ms: Date.now() - started, timedOut, timeoutMs });
    });
  });
}
