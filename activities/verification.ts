/**
 * The verification workflow's checks (contracts/verification.ts). Every one only reads or runs a
 * check — nothing here writes state a retry could double — so each is idempotent: running it again
 * reports what holds then.
 *
 *  - On the healing task queue (`createVerificationActivities`, in `createActivities`):
 *    `verificationSettings` (the workflow's first, local, activity), `verifyReadiness` and
 *    `verifyDetector`.
 *  - On the coding agent's task queue (`createProjectCheckActivities`, workers/coding-agent.ts):
 *    `runProjectCheck` — the targeted mocha tests, eslint, `tsc --noEmit`, run for real, one at a
 *    time per process (they are CPU-heavy: two at once on a 2-core machine slow both and the
 *    workers beside them), at a lower CPU priority; a check takes the result of the same command's
 *    run that started after it asked, or that passed on the same tree (`sharedRun`).
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Mutex } from 'async-mutex';
import type { Logger } from 'pino';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { LoadedConfig } from '../src/config/load';
import { VERIFICATION_CHECK_NAMES, type VerificationCheckName, type VerificationCheckReport, type VerificationSettings, type VerifiedEvidence } from '../contracts/verification';
import { CONTROL_PLANE_WORKFLOW_ID, getControlPlaneStatusQuery } from '../contracts/control-plane';
import { KERNELS } from '../kernels/registry';
import { isKernelName, type KernelName } from '../src/domain/kernels';
import { DETECTORS, latencySpikes, type AnyDetector, type DetectorContext, type Finding } from '../src/healing/detectors';
import { FIRST_LOOK_MS, LogTail } from '../src/healing/detectors/bus';
import { controlPlane, procState } from '../src/healing/detectors/control-plane';
import { settingsOf } from '../src/healing/detectors/loop';
import { withDeadline } from '../src/deadline';
import { logger } from '../src/log';
import { REPO_ROOT } from '../src/stack/tools';
import { runCommand, tailBytes, VerificationAbortedError, type CommandResult } from '../src/verification/loop';
import { extraTestsDirOf, selectTests } from '../src/verification/targets';
import { treeDigest } from '../src/verification/tree-digest';
import { activityContext, heartbeat, heartbeatWhile, sleepOrCancel } from './actions/context';
import { createKernelActivities, type KernelActivityDeps } from './kernels';

/** The most of a check's output a report keeps: its end, where the errors are. */
export const CHECK_OUTPUT_BYTES = 4096;
/**
 * How long `verifyReadiness` re-runs the self-test inside its activity (every 30 ms) before it
 * reports a failure: a remedy that restarted a process leaves it a few hundred ms to come up.
 */
export const READINESS_WAIT_MS = 5_000;
/**
 * The observation window of an event detector: how long after the remedy the detector check waits
 * before it looks, so an event that recurs (a client still publishing where it may not) has time to
 * show in the bus log. Config-free: a refused publish is logged within milliseconds, and a client
 * retrying slower than this is not caught (the next occurrence opens a new incident).
 */
export const EVENT_OBSERVATION_MS = 1_500;
/** Kinds whose detector reports events (`event: true`), not conditions: the check waits its window and counts only events after the remedy. */
export const EVENT_KINDS: readonly string[] = ['acl_violation'];
/** Kinds checked with the kernel's own probes: every process alive, its liveness probe healthy, its self-test passing. */
export const PROCESS_KINDS: readonly string[] = ['exited', 'liveness_failed', 'not_ready', 'heartbeat_missed'];
/** How long a control-plane check waits for the status query's answer. */
const STATUS_QUERY_MS = 5_000;

export interface VerificationActivityDeps extends KernelActivityDeps {
  log?: Logger;
}

interface CheckResultText {
  ok: boolean;
  command: string;
  output: string;
  /** It held at the first look (a self-test that passed on its first run). */
  firstTry?: boolean;
}

/** Runs an in-process check and reports it in the contract's shape (no exit code: nothing was spawned). */
async function timed(name: VerificationCheckName, fn: () => Promise<CheckResultText>): Promise<VerificationCheckReport> {
  const startedAt = new Date();
  const r = await heartbeatWhile(fn());
  const ms = Date.now() - startedAt.getTime();
  // Passed on its first try: it held when the check started.
  const passedAt = r.ok ? new Date(r.firstTry ? startedAt.getTime() : Date.now()).toISOString() : undefined;
  return { name, ok: r.ok, command: r.command, exitCode: null, output: tailBytes(r.output, CHECK_OUTPUT_BYTES), ms, startedAt: startedAt.toISOString(), ...(passedAt ? { passedAt } : {}) };
}

const sameKernel = (f: Finding, e: VerifiedEvidence): boolean => (f.kernel ?? null) === e.kernel;

export function createVerificationActivities(deps: VerificationActivityDeps) {
  const { config } = deps;
  const kernels = createKernelActivities(deps);
  const ctx: DetectorContext = { ...deps, log: deps.log ?? logger.child({ activities: 'verification' }) };
  const checks = verificationChecks(ctx, kernels.kernelReadiness);
  return {
    /** Read-only: what the workflow needs from this worker's config (checks, their timeout, the task queues). */
    async verificationSettings(): Promise<VerificationSettings> {
      const v = config.incidents.verification;
      return {
        checks: VERIFICATION_CHECK_NAMES.filter((c) => v.checks.includes(c)),
        checkTimeoutMs: v.checkTimeoutMs,
        taskQueues: { healing: config.temporal.taskQueues.healing, codingAgent: config.temporal.taskQueues.codingAgent },
      };
    },

    /** Read-only apart from the log's own probe entry: the kernel's real self-test, awaited up to READINESS_WAIT_MS. */
    async verifyReadiness({ kernel }: { kernel: string | null }): Promise<VerificationCheckReport> {
      return timed('readiness', async () => {
        if (!kernel) return { ok: true, command: 'self-test (none)', output: 'no kernel concerned: nothing to self-test' };
        return checks.readiness(kernel);
      });
    },

    /**
     * Read-only: runs the detector(s) of the evidence's kind once, with a fresh state, and checks
     * that none reproduces its condition (same kind and kernel, i.e. the same signature; for an
     * event, one after `since`). Kinds without a periodic detector use the kernel's probes or the
     * control plane (see `byKind`).
     */
    async verifyDetector({ evidence, since }: { evidence: VerifiedEvidence; since: number }): Promise<VerificationCheckReport> {
      return timed('detector', () => checks.detector(evidence, since));
    },
  };
}

function verificationChecks(ctx: DetectorContext, kernelReadiness: ReturnType<typeof createKernelActivities>['kernelReadiness']) {
  const { config, pm } = ctx;

  const readiness = async (kernel: string): Promise<CheckResultText> => {
    const r = await kernelReadiness(kernel, { waitMs: READINESS_WAIT_MS });
    const lines = r.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.detail ? `: ${c.detail}` : ''}`);
    return { ok: r.ready, firstTry: (r.polls ?? 1) === 1, command: `self-test ${kernel}`, output: [`${kernel} ${r.ready ? 'ready' : 'not ready'} after ${r.polls ?? 1} self-test(s)`, ...lines].join('\n') };
  };

  /** exited, liveness_failed, not_ready, heartbeat_missed: every process alive and answering its probe, then the self-test. */
  const processes = async (kernel: KernelName): Promise<CheckResultText> => {
    const def = KERNELS[kernel];
    const lines: string[] = [];
    let ok = true;
    for (const p of def.processes(config)) {
      const h = pm.isAlive(p) ? await def.liveness({ config, pm }, p, config.kernels[kernel].liveness.timeoutMs) : { healthy: false, detail: 'not running' };
      ok &&= h.healthy;
      lines.push(`${h.healthy ? 'ok  ' : 'FAIL'} ${p}: ${h.detail}`);
    }
    const r = await readiness(kernel);
    return { ok: ok && r.ok, command: `liveness probes and self-test ${kernel}`, output: [...lines, r.output].join('\n') };
  };

  /** Any other kind: its periodic detector(s), one round with a fresh state. */
  const periodic = async (e: VerifiedEvidence, since: number, detectors: readonly AnyDetector[]): Promise<CheckResultText> => {
    const event = EVENT_KINDS.includes(e.kind);
    if (event) await sleepOrCancel(Math.max(0, since + EVENT_OBSERVATION_MS - Date.now()));
    const lines: string[] = [];
    let ok = true;
    for (const d of detectors) {
      let state = d.createState();
      // A fresh log tail keeps, on its first look, only lines from shortly before it was made: make it keep those since the remedy.
      if (state instanceof LogTail) state = new LogTail(since + FIRST_LOOK_MS);
      let findings: Finding[];
      try {
        findings = await d.check(ctx, settingsOf(config, d), state);
      } finally {
        await d.close?.(state);
      }
      const same = findings.filter((f) => f.kind === e.kind && sameKernel(f, e) && (!event || f.at === undefined || f.at > since));
      ok &&= same.length === 0;
      lines.push(same.length === 0 ? `${d.name}: no ${e.kind} for ${e.kernel ?? '-'}${event ? ` after ${new Date(since).toISOString()}` : ''}` : `${d.name}: ${same.length} finding(s) reproduce it`, ...same.slice(0, 20).map((f) => `  ${f.detail}`));
    }
    return { ok, command: `detector ${detectors.map((d) => d.name).join(', ')} (one round, fresh state)`, output: lines.join('\n') };
  };

  /** Which check stands for the detector of each kind. */
  const byKind = async (e: VerifiedEvidence, since: number): Promise<CheckResultText> => {
    const kernel = e.kernel && isKernelName(e.kernel) ? e.kernel : null;
    if (PROCESS_KINDS.includes(e.kind)) return kernel ? processes(kernel) : { ok: true, command: 'probes (none)', output: `${e.kind} without a kernel: nothing to probe` };
    if (e.kind === 'latency_spike') return kernel ? latencyCheck(ctx, kernel) : { ok: true, command: 'latency probes (none)', output: 'latency_spike without a kernel: nothing to probe' };
    if (['control_plane_lost', 'crash_loop', 'control_plane_deadlock'].includes(e.kind)) {
      // A crash loop is over when no restart follows the remedy: watched like an event.
      if (e.kind === 'crash_loop') await sleepOrCancel(Math.max(0, since + EVENT_OBSERVATION_MS - Date.now()));
      return controlPlaneCheck(ctx, e, since);
    }
    const detectors = DETECTORS.filter((d) => (d.kinds as readonly string[]).includes(e.kind));
    if (detectors.length > 0) return periodic(e, since, detectors);
    return { ok: true, command: 'detector (none)', output: `no detector reports ${e.kind}: not verified beyond the readiness check` };
  };

  return {
    readiness,
    detector: byKind,
  };
}

/** latency_spike: the detector's own rule (`samples` slow probes in a row) over fresh probes of each process. */
async function latencyCheck({ config, pm }: DetectorContext, kernel: KernelName): Promise<CheckResultText> {
  const settings = settingsOf(config, latencySpikes as unknown as AnyDetector) as { thresholdMs: number; samples: number; relative: number };
  const state = latencySpikes.createState();
  const def = KERNELS[kernel];
  const lines: string[] = [];
  for (const p of def.processes(config)) {
    const pid = pm.pid(p);
    if (pid === null) continue;
    for (let i = 0; i < settings.samples; i++) {
      const started = Date.now();
      const h = await def.liveness({ config, pm }, p, config.kernels[kernel].liveness.timeoutMs);
      const ms = Date.now() - started;
      const f = h.healthy ? latencySpikes.observe(state, settings, { kernel, process: p, pid, ms, at: Date.now() }) : null;
      lines.push(`${p} probe ${i + 1}: ${h.healthy ? `${ms} ms` : `failed: ${h.detail}`}`);
      if (f) return { ok: false, command: `latency probes ${kernel}`, output: [...lines, f.detail].join('\n') };
    }
  }
  return { ok: true, command: `latency probes ${kernel}`, output: [...lines, `no ${settings.samples} probes in a row at or over ${settings.thresholdMs} ms`].join('\n') };
}

/**
 * control_plane_lost, crash_loop, control_plane_deadlock: the control plane runs and answers; for a
 * crash loop, no restart of the kernel since the remedy finished (`since`). Not the crash-loop flag:
 * it stays up until a whole window (`controlPlane.crashLoop.windowMs`) passes without a restart, by
 * design, so it says nothing about whether the loop ended.
 */
async function controlPlaneCheck({ config, pm, temporal }: DetectorContext, e: VerifiedEvidence, since: number): Promise<CheckResultText> {
  const command = `describe and query ${CONTROL_PLANE_WORKFLOW_ID}`;
  const handle = temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { ok: false, command, output: `${CONTROL_PLANE_WORKFLOW_ID} does not exist` };
    throw err;
  }
  if (status !== 'RUNNING') return { ok: false, command, output: `${CONTROL_PLANE_WORKFLOW_ID} is ${status}` };
  if (e.kind === 'control_plane_lost') return { ok: true, command, output: `${CONTROL_PLANE_WORKFLOW_ID} is RUNNING` };
  const queryMs = (settingsOf(config, controlPlane) as { queryTimeoutMs?: number }).queryTimeoutMs ?? STATUS_QUERY_MS;
  let cp;
  try {
    cp = await withDeadline(handle.query(getControlPlaneStatusQuery), queryMs);
  } catch (err) {
    return { ok: false, command, output: `the status query was not answered in ${queryMs} ms: ${(err as Error).message}` };
  }
  const rec = e.kernel ? cp.kernels[e.kernel] : undefined;
  if (e.kind === 'crash_loop' && rec) {
    const after = rec.recentRestarts.filter((t) => t > since);
    if (after.length > 0) return { ok: false, command, output: `${e.kernel} restarted ${after.length} time(s) after the remedy: the crash loop goes on` };
    return { ok: true, command, output: `no restart of ${e.kernel} since the remedy (${rec.recentRestarts.length} before it in the window; ${rec.state})` };
  }
  if (e.kind === 'control_plane_deadlock' && e.kernel && isKernelName(e.kernel)) {
    const stuck = KERNELS[e.kernel].processes(config).find((p) => ['T', 't', 'D'].includes(procState(pm.pid(p)) ?? ''));
    if (stuck) return { ok: false, command, output: `${stuck} is still stopped or in uninterruptible I/O (${rec?.state ?? 'unknown state'})` };
  }
  return { ok: true, command, output: `RUNNING, status answered${rec ? `; ${e.kernel}: ${rec.state}${rec.crashLoop ? ', crash loop' : ''}` : ''}` };
}

// ---------------------------------------------------------------------------------------------
// Project checks, on the coding agent's task queue.

export type ProjectCheckName = 'tests' | 'lint' | 'types';

export interface ProjectCheckInput {
  name: ProjectCheckName;
  kernel: string | null;
  /** Relative to the root. */
  changedFiles: string[];
  /** Where the checks run; relative paths are taken from the project root. @default the project root */
  root?: string;
}

/** One project check at a time in this process (see the module comment); shared by every factory instance. */
const projectCheckQueue = new Mutex();

/** A run of a project check's command, kept for {@link sharedRun}. */
export interface KeptRun {
  startedAt: number;
  /** The tree's digest (src/verification/tree-digest.ts) when it was the same before and after the run; else null. */
  digest: string | null;
  result: CommandResult;
}

/** The last run of each command in each root (key: root and argv). */
const lastRuns = new Map<string, KeptRun>();
/** Runs kept at most (scratch copies each have their own root): the oldest are forgotten first. */
const KEPT_RUNS = 64;

/**
 * A run of the same command in the same root whose result this check may take instead of running
 * the command again, and why:
 *  - `after_ask`: it started after this check was asked for (while the check waited its turn). It
 *    saw the tree as it was when the check was asked for, or later: the remedy being verified had
 *    finished before, so its changes were there;
 *  - `same_tree`: it passed, and the tree's files (path, size, modification time) are what they
 *    were before and after it ran, as ESLint's own cache judges a file unchanged. A failure is
 *    always run again: it may have been the machine's (a flaky test, a killed process).
 * Why: a burst of incidents (a chaos suite, an outage touching every kernel) asks for one
 * `tsc --noEmit` each (18 s on a loaded 2-core machine): a CI run queued verifications for up to
 * 22 minutes behind them, on a tree no remedy had changed. Never a result from before the check was
 * asked for on a tree that differs: that could be a tree without the remedy.
 */
export function sharedRun(key: string, askedAt: number, digest: string | null): { run: KeptRun; why: 'after_ask' | 'same_tree' } | null {
  const last = lastRuns.get(key);
  if (!last) return null;
  if (last.startedAt >= askedAt) return { run: last, why: 'after_ask' };
  if (digest !== null && last.digest === digest && last.result.ok) return { run: last, why: 'same_tree' };
  return null;
}

/**
 * What a project check in `root` reads, as a digest: the root's tree, without the state directory,
 * and the operator's extra tests (under the state directory by default). Null when unreadable.
 */
export function checkDigest(config: LoadedConfig, root: string): string | null {
  const tree = treeDigest(root, [config.stateDir]);
  return tree === null ? null : `${tree}:${treeDigest(extraTestsDirOf(config)) ?? 'none'}`;
}

/** Keeps a run as the last of `key`: its digest only if the tree was the same before and after it. */
export function keepRun(key: string, startedAt: number, before: string | null, after: string | null, result: CommandResult): void {
  lastRuns.delete(key);
  lastRuns.set(key, { startedAt, digest: before !== null && before === after ? before : null, result });
  // A Map iterates in insertion order: the first keys are the least recently run.
  for (const k of lastRuns.keys()) {
    if (lastRuns.size <= KEPT_RUNS) break;
    lastRuns.delete(k);
  }
}

/**
 * The niceness of a project check's process group: below the workers and servers, so a queue of
 * checks does not delay detectors, heartbeats and remedies (a loaded CI run saw detection take a
 * minute). Its children inherit it.
 */
export const PROJECT_CHECK_NICENESS = 10;

interface Plan {
  argv: string[];
  /** Said before the command's output (what was selected, what is missing). */
  note: string;
  /** False when the plan already knows the check fails (a selected test is not compiled). */
  planOk: boolean;
}

/** A binary of the root's node_modules, or of this installation's when the root has none (a scratch copy). */
function bin(root: string, name: string): string {
  const own = path.join(root, 'node_modules', '.bin', name);
  return existsSync(own) ? own : path.join(REPO_ROOT, 'node_modules', '.bin', name);
}

/** What a project check runs; null when there is nothing to run (no targeted tests). */
export function planProjectCheck(config: LoadedConfig, input: ProjectCheckInput, root: string): Plan | { none: string } {
  const { name, kernel, changedFiles } = input;
  if (name === 'tests') {
    const sel = selectTests({ root, kernel, changedFiles, extraTestsDir: extraTestsDirOf(config) });
    if (sel.files.length === 0 && sel.missing.length === 0) return { none: `no targeted tests for kernel ${kernel ?? '-'} and changed files [${changedFiles.join(', ')}]` };
    const note = [
      `tests: ${sel.sources.join(', ') || 'none'}${sel.extra.length ? `; extra: ${sel.extra.join(', ')}` : ''}`,
      ...(sel.missing.length ? [`not compiled (npm run build first): ${sel.missing.join(', ')}`] : []),
    ].join('\n');
    if (sel.files.length === 0) return { argv: ['true'], note, planOk: false };
    return { argv: ['node', bin(root, 'mocha'), '--no-config', '--exit', '--timeout', '60000', ...sel.files], note, planOk: sel.missing.length === 0 };
  }
  if (name === 'lint') {
    const files = changedFiles.filter((f) => /\.(ts|js|mjs|cjs)$/.test(f) && existsSync(path.resolve(root, f)));
    const kernelDir = kernel ? `kernels/${kernel.replace(/_/g, '-')}/` : null;
    const targets = files.length > 0 ? files : kernelDir && existsSync(path.join(root, kernelDir)) ? [kernelDir] : ['.'];
    return { argv: ['node', bin(root, 'eslint'), ...targets], note: '', planOk: true };
  }
  const dir = path.join(config.stateDir, 'verification');
  mkdirSync(dir, { recursive: true });
  // One build-info file per root: a scratch copy's would otherwise invalidate the project's.
  const info = path.resolve(root) === REPO_ROOT ? 'tsconfig.tsbuildinfo' : `tsconfig-${Buffer.from(path.resolve(root)).toString('base64url').slice(-24)}.tsbuildinfo`;
  return { argv: ['node', bin(root, 'tsc'), '--noEmit', '--incremental', '--tsBuildInfoFile', path.join(dir, info), '-p', 'tsconfig.json'], note: '', planOk: true };
}

export function createProjectCheckActivities({ config }: { config: LoadedConfig }) {
  return {
    /**
     * Runs one project check for real in the root (tests, lint or types) and reports it. Only runs
     * checks (tsc writes nothing but its build-info file under the state dir): idempotent.
     * Waits its turn behind the other project checks of this process, heartbeating meanwhile.
     */
    async runProjectCheck(input: ProjectCheckInput): Promise<VerificationCheckReport> {
      const ctx = activityContext();
      const askedAt = Date.now();
      const root = path.resolve(REPO_ROOT, input.root ?? '.');
      let waiting = true;
      const beat = setInterval(() => heartbeat({ check: input.name, waiting }), 1_000);
      try {
        return await projectCheckQueue.runExclusive(async () => {
          waiting = false;
          if (ctx?.cancellationSignal.aborted) await ctx.cancelled;
          const startedAt = new Date();
          const plan = planProjectCheck(config, input, root);
          const report = (ok: boolean, command: string, exitCode: number | null, output: string): VerificationCheckReport => ({
            name: input.name, ok, command, exitCode, output: tailBytes(output, CHECK_OUTPUT_BYTES), ms: Date.now() - startedAt.getTime(), startedAt: startedAt.toISOString(),
          });
          if ('none' in plan) return report(true, '', null, plan.none);
          const key = JSON.stringify([root, plan.argv]);
          const before = checkDigest(config, root);
          const shared = sharedRun(key, askedAt, before);
          let r: CommandResult;
          if (shared) {
            r = shared.run.result;
          } else {
            r = await runCommand(plan.argv, {
              cwd: root,
              timeoutMs: config.incidents.verification.checkTimeoutMs,
              name: input.name,
              env: { LAYER1_TEST_STACK: 'off' },
              signal: ctx?.cancellationSignal,
              outputBytes: CHECK_OUTPUT_BYTES,
              niceness: PROJECT_CHECK_NICENESS,
            });
            keepRun(key, startedAt.getTime(), before, checkDigest(config, root), r);
          }
          const status = r.timedOut ? `timed out after ${r.timeoutMs} ms` : `exit ${r.exitCode}`;
          const at = shared ? new Date(shared.run.startedAt).toISOString() : '';
          const sharedNote = !shared
            ? ''
            : shared.why === 'after_ask'
              ? `the same command's run that started at ${at}, after this check was asked for (${new Date(askedAt).toISOString()}): its result`
              : `the same command's run that started at ${at} and passed, on this tree as it is now (every file's size and modification time unchanged, digest ${before!.slice(0, 12)}): its result`;
          const out = report(r.ok && plan.planOk, r.command, r.exitCode, [sharedNote, plan.note, r.output.trimEnd(), `${status} in ${r.ms} ms`].filter(Boolean).join('\n'));
          return shared ? { ...out, shared: true, ms: r.ms, startedAt: at } : out;
        });
      } catch (err) {
        // Cancelled: surface the SDK's cancellation, not our abort.
        if (err instanceof VerificationAbortedError && ctx) await ctx.cancelled;
        throw err;
      } finally {
        clearInterval(beat);
      }
    },
  };
}

export type VerificationActivities = ReturnType<typeof createVerificationActivities>;
export type ProjectCheckActivities = ReturnType<typeof createProjectCheckActivities>;
