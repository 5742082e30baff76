/**
 * The verification loop: the seam through which a change is judged before it is trusted. It runs
 * one shell command per check (tests, lint, types) in the target directory, each with a timeout,
 * and reports per check. The coding-agent issue fills this seam with targeted tests and its own
 * commands; callers pass `commands` (from a parameter or configuration) to override the defaults.
 */
import { spawn } from 'node:child_process';
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
  constructor(readonly check: VerificationCheck) {
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
    results.push(await runCheck(check, commands[check], target, options));
  }
  return { ok: results.every((r) => r.ok), target, results };
}

function runCheck(check: VerificationCheck, command: string, cwd: string, options: VerificationOptions): Promise<VerificationResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // Own process group, so a timeout or an abort stops the command and everything it started.
    const child = spawn('sh', ['-c', command], { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-DETAIL_CHARS);
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
    const progress = setInterval(() => options.onProgress?.(check), 1_000);
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
      if (options.signal?.aborted) return reject(new VerificationAbortedError(check));
      const ms = Date.now() - started;
      const ok = code === 0 && !timedOut;
      const status = timedOut ? `timed out after ${timeoutMs} ms` : `exit ${code}`;
      const tail = output.trim();
      resolve({
        check,
        ok,
        detail: `${command}: ${status} in ${ms} ms${ok || !tail ? '' : `\n${tail}`}`,
        command,
        exitCode: code,
        ms,
        timedOut,
      });
    });
  });
}
