/**
 * The control plane: a long-lived workflow (entity pattern) that owns kernel state and lifecycle.
 *
 * - Operators start, stop and restart kernels through updates whose validators refuse unknown
 *   kernels before anything is recorded.
 * - The trigger monitors signal `kernelUnwell` with evidence; the control plane restarts the
 *   failed process, with no delay for the first restart in a window, then exponential backoff
 *   with a cap, and calls it a crash loop past a threshold. Both healing replicas may report the
 *   same death: evidence is deduplicated on the pid that died.
 * - Each kernel's work runs under its own mutex, so a restart and an operator's stop never interleave.
 * - A crash loop ends when a whole window passes without a restart: a timer for the window's end
 *   after the last restart clears the flag (and the CRASH_LOOP state of a kernel that is ready).
 * - Status is a query. The workflow continues-as-new when Temporal suggests it, after every
 *   handler has finished, carrying its state.
 */
import { allHandlersFinished, condition, continueAsNew, patched, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import { Mutex } from 'async-mutex';
import {
  getControlPlaneStatusQuery,
  kernelCommandSignal,
  kernelsBootedSignal,
  kernelUnwellSignal,
  restartKernelUpdate,
  startKernelUpdate,
  stopKernelUpdate,
  type BootObservation,
  type CommandResult,
  type ControlPlaneInput,
  type ControlPlaneStatus,
  type ControlPlaneWorkflow,
  type KernelCommand,
  type KernelRecord,
  UNKNOWN_KERNEL,
} from '../contracts/control-plane';
import type { ReadinessPolicy } from '../contracts/boot';
import { KernelState } from '../src/domain/kernel-state';
import type { KernelUnwell } from '../src/domain/kernels';
import type { KernelActivities } from '../activities/kernels';
import { lifecycleActivity } from './policies';
import { waitKernelReady } from './readiness';

const MAX_EVENTS = 50;
const MAX_COMMANDS = 50;
const MAX_HANDLED_PIDS = 20;
/**
 * Self-test attempts after a restart: polled often (a restarted process is usually ready within a
 * second, and a long backoff step would only add to the time to ready), for about 20 s.
 */
const AFTER_RESTART_READINESS: ReadinessPolicy = { attempts: 100, initialBackoffMs: 50, maxBackoffMs: 200 };

const acts = proxyActivities<KernelActivities>(lifecycleActivity);
/** Patch id of the crash loop's end timer (histories recorded before it replay without the timer). */
const CRASH_LOOP_ENDS = 'crash-loop-ends';
/**
 * Patch id: once the crash loop's timer has fired, what is left of the window is read from the
 * restarts recorded since, not from the clock (histories recorded before it read the clock).
 */
const CRASH_LOOP_TIMER_WITHOUT_CLOCK = 'crash-loop-timer-without-clock';

/** The state class the handlers delegate to. */
class ControlPlane {
  readonly status: ControlPlaneStatus;
  private readonly locks = new Map<string, Mutex>();
  /**
   * Kernels whose process died while the control plane awaited its self-test: the wait gives up at
   * once instead of polling a dead process until its attempts run out (a crash loop, or a start
   * that hung and was killed, would otherwise hold the kernel for tens of seconds).
   */
  private readonly interrupted = new Set<string>();
  /** While a kernel's self-test is awaited: the pids it waits on (a death of another pid is old news). */
  private readonly awaiting = new Map<string, number[]>();
  /**
   * Pids reported dead, newest last: a death reported in the same workflow task as the restart that
   * started that pid is handled before the restart's result (signals come first), when nobody awaits
   * the pid yet; awaitReady looks here so that wait is cut short too, instead of running its full
   * timeout with the process already gone.
   */
  private readonly exitedPids: number[] = [];
  /** Kernels whose crash loop has a timer running for the end of its window. */
  private readonly crashLoopTimers = new Set<string>();

  constructor(private readonly input: ControlPlaneInput) {
    this.status = input.state ?? { kernels: {}, events: [] };
    if (!input.state) this.observeBoot({ pids: input.pids ?? {}, kernels: input.kernels ?? [] });
    // A crash loop carried across continue-as-new gets its timer again.
    for (const rec of Object.values(this.status.kernels)) this.endCrashLoopLater(rec.name);
  }

  /**
   * Clears a kernel's crash loop once `crashLoop.windowMs` has passed since its last restart with
   * no restart since. The timer is re-armed while restarts go on, and waits for the kernel's mutex
   * (a restart's backoff shows CRASH_LOOP while it sleeps). One timer per kernel; none for a
   * kernel not in a crash loop. Deterministic: workflow timers and workflow time only, and once a
   * timer has fired, no time at all.
   */
  private endCrashLoopLater(kernel: string): void {
    if (!this.status.kernels[kernel]?.crashLoop || this.crashLoopTimers.has(kernel) || !patched(CRASH_LOOP_ENDS)) return;
    this.crashLoopTimers.add(kernel);
    const { windowMs } = this.input.settings.crashLoop;
    const run = async (): Promise<void> => {
      // The last restart whose window a timer has run out. After that timer fires, the time left is
      // the restarts since (last - waitedOut), not the clock: in a CI run, the worker that ran the
      // task after this timer fired saw the time of the task before it (51 s left, so a second
      // timer), every later replay saw the fire's own time (nothing left, no timer), and the control
      // plane was stuck on a nondeterminism error. Only the restarts recorded decide here.
      let waitedOut: number | null = null;
      for (;;) {
        const rec = this.status.kernels[kernel];
        if (!rec?.crashLoop) return;
        const last = Math.max(0, ...rec.recentRestarts, rec.lastRestartAt ? Date.parse(rec.lastRestartAt) : 0);
        const left = waitedOut !== null && patched(CRASH_LOOP_TIMER_WITHOUT_CLOCK) ? last - waitedOut : last + windowMs - Date.now();
        if (left > 0) {
          waitedOut = last;
          await sleep(left);
          continue;
        }
        const lock = this.locks.get(kernel);
        if (lock?.isLocked()) {
          await lock.waitForUnlock();
          continue;
        }
        rec.crashLoop = false;
        rec.recentRestarts = [];
        if (rec.state === KernelState.CRASH_LOOP) rec.state = KernelState.READY;
        this.event(kernel, `crash loop over: no restart for ${windowMs} ms`);
        return;
      }
    };
    void run().finally(() => this.crashLoopTimers.delete(kernel));
  }

  /**
   * The kernel's record; a kernel the control plane has not seen (added since its state was
   * carried over, or named by a boot, a report or a command for the first time) is adopted.
   */
  private recordOf(kernel: string): KernelRecord {
    let rec = this.status.kernels[kernel];
    if (!rec) {
      rec = this.status.kernels[kernel] = newRecord(kernel);
      this.event(kernel, 'adopted: a kernel this control plane had not seen');
    }
    return rec;
  }

  /** Forgets a kernel adopted by a command that the registry turned out not to know. */
  private forget(kernel: string, why: string): void {
    delete this.status.kernels[kernel];
    this.locks.delete(kernel);
    this.event(kernel, `forgotten: ${why}`);
  }

  observeBoot(obs: BootObservation): void {
    for (const [kernel, pids] of Object.entries(obs.pids)) this.recordOf(kernel).pids = { ...pids };
    for (const k of obs.kernels) {
      const rec = this.recordOf(k.kernel);
      rec.desired = 'running';
      rec.state = k.ready ? KernelState.READY : KernelState.UNHEALTHY;
      rec.readySince = k.ready ? (rec.readySince ?? new Date().toISOString()) : null;
      if (k.checks) {
        rec.checks = k.checks;
        rec.checkedAt = new Date().toISOString();
      }
    }
  }

  private event(kernel: string, what: string): void {
    this.status.events.push({ at: new Date().toISOString(), kernel, what });
    if (this.status.events.length > MAX_EVENTS) this.status.events.splice(0, this.status.events.length - MAX_EVENTS);
  }

  /** Runs under the kernel's mutex (adopting the kernel if it is new). */
  private withKernel<T>(kernel: string, fn: (rec: KernelRecord) => Promise<T>): Promise<T> {
    let lock = this.locks.get(kernel);
    if (!lock) this.locks.set(kernel, (lock = new Mutex()));
    this.recordOf(kernel);
    return lock.runExclusive(() => fn(this.recordOf(kernel)));
  }

  /**
   * A start of a kernel adopted by this very command: if the registry does not know it (the
   * activity's non-retryable `UnknownKernel`), the record is dropped again, so a typo leaves nothing.
   */
  private async startOrForget(kernel: string, adopted: boolean): Promise<Record<string, number | null>> {
    try {
      return await acts.startKernel(kernel);
    } catch (err) {
      if (adopted && (err as { cause?: { type?: string } }).cause?.type === UNKNOWN_KERNEL) this.forget(kernel, 'not a kernel of the registry');
      throw err;
    }
  }

  /** The trigger monitor's report. Duplicates and stale evidence are recorded and dropped. */
  async onUnwell(e: KernelUnwell): Promise<void> {
    const rec = this.recordOf(e.kernel);
    if (rec.desired === 'stopped') {
      this.event(e.kernel, `ignored ${e.reason} of ${e.process}: kernel stopped by an operator`);
      return;
    }
    // Before deduplication: a failed probe of this pid may have been reported first, and its
    // handler waits behind the very readiness wait this death must cut short.
    if (e.reason === 'exited' && e.pid !== null && this.awaiting.get(e.kernel)?.includes(e.pid)) this.interrupted.add(e.kernel);
    if (e.reason === 'exited' && e.pid !== null) {
      this.exitedPids.push(e.pid);
      if (this.exitedPids.length > MAX_HANDLED_PIDS) this.exitedPids.shift();
    }
    if (e.pid !== null && rec.handledPids.includes(e.pid)) return; // the other replica saw it first
    if (e.pid !== null) {
      rec.handledPids.push(e.pid);
      if (rec.handledPids.length > MAX_HANDLED_PIDS) rec.handledPids.shift();
    }
    await this.withKernel(e.kernel, async (r) => {
      if (r.desired === 'stopped') return;
      // A hung process's evidence is stale once that pid was replaced; restarting would kill the new one.
      if (e.reason !== 'exited' && e.pid !== null && r.pids[e.process] != null && r.pids[e.process] !== e.pid) {
        this.event(e.kernel, `ignored ${e.reason} of ${e.process} pid ${e.pid}: already replaced by pid ${r.pids[e.process]}`);
        return;
      }
      await this.restart(r, e.process, e.reason === 'exited' ? 'start' : 'restart', `${e.reason}: ${e.detail}`);
    });
  }

  private async restart(rec: KernelRecord, proc: string, mode: 'start' | 'restart', reason: string): Promise<void> {
    const { restartBackoff, crashLoop } = this.input.settings;
    const now = Date.now();
    rec.recentRestarts = rec.recentRestarts.filter((t) => now - t < crashLoop.windowMs);
    const recent = rec.recentRestarts.length;
    rec.crashLoop = recent >= crashLoop.restarts;
    rec.backoffMs = recent === 0 ? 0 : Math.min(restartBackoff.initialMs * 2 ** (recent - 1), restartBackoff.maxMs);
    rec.lastReason = reason;
    this.event(rec.name, `${proc} ${reason}; restart #${rec.restarts + 1}${rec.backoffMs > 0 ? ` after ${rec.backoffMs} ms backoff` : ''}${rec.crashLoop ? ' (crash loop)' : ''}`);
    if (rec.backoffMs > 0) {
      rec.state = rec.crashLoop ? KernelState.CRASH_LOOP : KernelState.BACKING_OFF;
      await sleep(rec.backoffMs);
    }
    rec.state = KernelState.RESTARTING;
    rec.readySince = null;
    const { pid, started } = await acts.restartKernelProcess(rec.name, proc, mode);
    rec.pids[proc] = pid;
    if (!started) {
      // Someone brought it back first (an operator's restart racing the report): not a restart.
      this.event(rec.name, `${proc} already running as pid ${pid}`);
      await this.awaitReady(rec);
      return;
    }
    rec.restarts++;
    rec.recentRestarts.push(Date.now());
    rec.lastRestartAt = new Date().toISOString();
    this.endCrashLoopLater(rec.name);
    await this.awaitReady(rec);
  }

  /** @param readySince kept as the kernel's ready-since when it passes (nothing was restarted). */
  private async awaitReady(rec: KernelRecord, readySince: string | null = null): Promise<void> {
    let wait;
    this.interrupted.delete(rec.name);
    const pids = Object.values(rec.pids).filter((p): p is number => p !== null);
    this.awaiting.set(rec.name, pids);
    // Already reported dead (see exitedPids): nothing to wait for. Patched: older histories waited.
    if (pids.some((p) => this.exitedPids.includes(p)) && patched('await-ready-sees-early-exit')) this.interrupted.add(rec.name);
    try {
      wait = await waitKernelReady(rec.name, AFTER_RESTART_READINESS, () => this.interrupted.has(rec.name));
    } finally {
      this.awaiting.delete(rec.name);
    }
    rec.checks = wait.checks;
    rec.checkedAt = new Date().toISOString();
    if (wait.ready) {
      rec.state = rec.crashLoop ? KernelState.CRASH_LOOP : KernelState.READY;
      rec.readySince = readySince ?? new Date().toISOString();
      this.event(rec.name, `ready after ${wait.attempts} self-test attempt(s)`);
    } else {
      rec.state = KernelState.UNHEALTHY;
      rec.readySince = null;
      this.event(rec.name, `not ready: ${wait.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
    }
  }

  async start(kernel: string): Promise<KernelRecord> {
    const adopted = !this.status.kernels[kernel];
    return this.withKernel(kernel, async (rec) => {
      rec.desired = 'running';
      // A start of a kernel that is ready and keeps its processes changes nothing: it stays ready
      // since when it was (a playbook's start after the control plane's own restart is common).
      const readySince = rec.state === KernelState.READY ? rec.readySince : null;
      const before = { ...rec.pids };
      rec.state = KernelState.STARTING;
      this.event(kernel, 'start requested');
      Object.assign(rec.pids, await this.startOrForget(kernel, adopted));
      const same = Object.entries(rec.pids).every(([p, pid]) => pid !== null && before[p] === pid);
      await this.awaitReady(rec, same ? readySince : null);
      return rec;
    });
  }

  /** Only a kernel it knows can be stopped. */
  validateKnown(kernel: string): void {
    validateKernel(kernel);
    if (!this.status.kernels[kernel]) throw new Error(`unknown kernel "${kernel}"; the control plane knows ${Object.keys(this.status.kernels).join(', ')}`);
  }

  async stop(kernel: string): Promise<KernelRecord> {
    return this.withKernel(kernel, async (rec) => {
      rec.desired = 'stopped';
      this.event(kernel, 'stop requested');
      // Stopped for good: its warm spares too. (Same activity as before, a new argument: replay
      // matches activities by type and id, so histories recorded before still replay.)
      await acts.stopKernel(kernel, { spares: true });
      for (const p of Object.keys(rec.pids)) rec.pids[p] = null;
      rec.state = KernelState.STOPPED;
      rec.readySince = null;
      return rec;
    });
  }

  /** A `kernelCommand` signal: run once per request id, its result kept for the caller's query. */
  async command(c: KernelCommand): Promise<void> {
    const commands = (this.status.commands ??= []);
    if (commands.some((r) => r.requestId === c.requestId)) return; // a retried signal
    const result: CommandResult = { requestId: c.requestId, op: c.op, kernel: String(c.kernel), done: false, record: null, error: null };
    commands.push(result);
    if (commands.length > MAX_COMMANDS) commands.splice(0, commands.length - MAX_COMMANDS);
    try {
      if (c.op === 'stop') this.validateKnown(c.kernel);
      else validateKernel(c.kernel);
      const rec = c.op === 'start' ? await this.start(c.kernel) : c.op === 'stop' ? await this.stop(c.kernel) : await this.restartAll(c.kernel, c.reason || 'playbook');
      result.record = JSON.parse(JSON.stringify(rec)) as KernelRecord;
    } catch (err) {
      result.error = err instanceof Error ? err.message : String(err);
    }
    result.done = true;
  }

  async restartAll(kernel: string, reason: string): Promise<KernelRecord> {
    const adopted = !this.status.kernels[kernel];
    return this.withKernel(kernel, async (rec) => {
      rec.desired = 'running';
      this.event(kernel, `restart requested: ${reason}`);
      // Spares are kept: the start below promotes them instead of starting cold.
      await acts.stopKernel(kernel);
      rec.state = KernelState.RESTARTING;
      rec.readySince = null;
      Object.assign(rec.pids, await this.startOrForget(kernel, adopted));
      rec.restarts++;
      rec.recentRestarts.push(Date.now());
      rec.lastRestartAt = new Date().toISOString();
      rec.lastReason = reason;
      await this.awaitReady(rec);
      return rec;
    });
  }
}

function newRecord(name: string): KernelRecord {
  return {
    name,
    state: KernelState.UNKNOWN,
    desired: 'running',
    restarts: 0,
    recentRestarts: [],
    crashLoop: false,
    backoffMs: 0,
    lastReason: null,
    lastRestartAt: null,
    readySince: null,
    pids: {},
    handledPids: [],
    checks: [],
    checkedAt: null,
  };
}

/** A kernel name's shape; whether the registry knows it is the start activity's to say. */
function validateKernel(kernel: string): void {
  if (typeof kernel !== 'string' || !/^[a-z][a-z0-9_]*$/.test(kernel)) throw new Error(`not a kernel name: ${JSON.stringify(kernel)}`);
}

export const controlPlaneWorkflow: ControlPlaneWorkflow = async (input: ControlPlaneInput): Promise<void> => {
  const cp = new ControlPlane(input);
  setHandler(getControlPlaneStatusQuery, () => cp.status);
  setHandler(kernelUnwellSignal, (e) => cp.onUnwell(e));
  setHandler(kernelsBootedSignal, (obs) => cp.observeBoot(obs));
  setHandler(kernelCommandSignal, (c) => cp.command(c));
  // Updates answer with a copy: a concurrent handler may change the live record before it is sent.
  const copy = (r: KernelRecord): KernelRecord => JSON.parse(JSON.stringify(r)) as KernelRecord;
  setHandler(startKernelUpdate, async (k) => copy(await cp.start(k)), { validator: validateKernel });
  setHandler(stopKernelUpdate, async (k) => copy(await cp.stop(k)), { validator: (k: string) => cp.validateKnown(k) });
  setHandler(restartKernelUpdate, async (k, reason) => copy(await cp.restartAll(k, reason || 'operator request')), {
    validator: (k: string, _reason: string) => validateKernel(k),
  });

  await condition(() => workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<ControlPlaneWorkflow>({ ...input, pids: undefined, kernels: undefined, state: cp.status });
};
