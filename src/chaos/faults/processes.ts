/**
 * Process faults: signals to managed processes (kill, SIGSTOP stalls, throttling, crash loops) and
 * runaway processes that burn a core or hold memory.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { rssMb } from '../../healing/detectors/resources';
import { procStartTicks } from '../../process/manager';
import { SERVICE_NAMES } from '../../stack/services';
import { FaultError, type FaultContext, type Injected } from './types';

/** Default process-restart wait of {@link crashLoop}. */
const RESTART_TIMEOUT_MS = 20_000;

const SERVER_TEXT: Record<(typeof SERVICE_NAMES)[number], string> = { bus: 'the bus', store: 'the store', temporal: 'the Temporal server' };

function livePid({ pm, config }: Pick<FaultContext, 'pm' | 'config'>, name: string): number {
  const server = SERVICE_NAMES.find((s) => s === name);
  // An external server has no process here: said as such, not as a process that happens to be missing.
  if (server && !config[server].embedded) {
    throw new FaultError(
      `${SERVER_TEXT[server]} is external (${server}.embedded: false): Layer 1 runs no "${name}" process to signal. A node's failure on a cluster is drilled by the deployment (npm run test:dist kills nodes by pid file)`,
    );
  }
  const pid = pm.pid(name);
  if (pid === null) throw new FaultError(`no live managed process named "${name}" (known: ${pm.list().join(', ') || 'none'})`);
  return pid;
}

/**
 * Signals one exact process — the one we stopped, not whichever pid the pid file names by then (the
 * control plane may have replaced it). The start time guards against a recycled pid.
 */
function signalExact(pid: number, startTicks: number | null, sig: NodeJS.Signals): boolean {
  if (startTicks !== null && procStartTicks(pid) !== startTicks) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Signals a managed process by its process-manager name (`bus`, `immutable-log`, `healing-1`,
 * `coding-agent-1`, `store`, …).
 *
 * restore: nothing. Bringing the process back is the system's job (the trigger monitor and the
 * control plane); if it is still dead when `restore()` is called, it is left dead, since a test
 * that restarted it here would hide exactly the failure it is there to see.
 */
export async function killProcess(
  ctx: FaultContext,
  options: { process: string; signal?: NodeJS.Signals },
): Promise<Injected<{ pid: number; signal: NodeJS.Signals }>> {
  const signal = options.signal ?? 'SIGKILL';
  const pid = livePid(ctx, options.process);
  if (!ctx.pm.signal(options.process, signal)) throw new FaultError(`could not send ${signal} to ${options.process} (pid ${pid})`);
  return { detail: `sent ${signal} to ${options.process} (pid ${pid})`, pid, signal, restore: async () => undefined };
}

/**
 * Freezes a managed process (SIGSTOP) for `ms`, then lets it run again (SIGCONT): its pid stays
 * alive while it answers nothing, which only a liveness probe can tell from healthy. The timer is
 * deliberately not unref'd, so a script that forgets `restore()` still resumes the process.
 * `holdMs` keeps the injection itself going that long after the stop (a drill's injection window:
 * what a drill cancelled, or whose worker is killed, while it injects must still roll back).
 *
 * restore: SIGCONT now (the same process only; a no-op once it resumed or was replaced).
 */
export async function stallProcess(
  ctx: FaultContext,
  options: { process: string; ms: number; holdMs?: number },
): Promise<Injected<{ pid: number; until: Date; ended: Promise<void> }>> {
  const pid = livePid(ctx, options.process);
  const ticks = procStartTicks(pid);
  await ctx.journal?.({ kind: 'resume', pid, ticks, process: options.process });
  if (!signalExact(pid, ticks, 'SIGSTOP')) throw new FaultError(`could not stop ${options.process} (pid ${pid})`);
  let finish!: () => void;
  const ended = new Promise<void>((resolve) => (finish = resolve));
  const resume = async (): Promise<void> => {
    clearTimeout(timer);
    signalExact(pid, ticks, 'SIGCONT');
    finish();
  };
  const timer = setTimeout(() => void resume(), options.ms);
  if (options.holdMs) await sleep(options.holdMs);
  return {
    detail: `stopped ${options.process} (pid ${pid}) for ${options.ms} ms`,
    pid,
    until: new Date(Date.now() + options.ms),
    ended,
    restore: resume,
  };
}

/**
 * For `ms`, alternates SIGSTOP for `stopMs` and SIGCONT for `runMs` on a managed process: every
 * request it serves is slowed by up to `stopMs`, but it never stops answering altogether.
 *
 * restore: stops the cycle and leaves the process running.
 */
export async function throttleProcess(
  ctx: FaultContext,
  options: { process: string; ms: number; stopMs?: number; runMs?: number },
): Promise<Injected<{ pid: number; until: Date; ended: Promise<{ cycles: number }> }>> {
  const { stopMs = 80, runMs = 40 } = options;
  const pid = livePid(ctx, options.process);
  const ticks = procStartTicks(pid);
  await ctx.journal?.({ kind: 'resume', pid, ticks, process: options.process });
  const abort = new AbortController();
  const until = Date.now() + options.ms;
  const pause = (ms: number): Promise<void> => sleep(Math.max(0, Math.min(ms, until - Date.now())), undefined, { signal: abort.signal });
  const ended = (async () => {
    let cycles = 0;
    try {
      while (Date.now() < until && !abort.signal.aborted) {
        // The process is gone (killed, restarted under a new pid): nothing left to throttle.
        if (!signalExact(pid, ticks, 'SIGSTOP')) break;
        cycles++;
        await pause(stopMs);
        signalExact(pid, ticks, 'SIGCONT');
        await pause(runMs);
      }
    } catch {
      // Aborted by restore().
    } finally {
      signalExact(pid, ticks, 'SIGCONT');
    }
    return { cycles };
  })();
  return {
    detail: `throttling ${options.process} (pid ${pid}) for ${options.ms} ms: ${stopMs} ms stopped, ${runMs} ms running`,
    pid,
    until: new Date(until),
    ended,
    restore: async () => {
      abort.abort();
      await ended;
      signalExact(pid, ticks, 'SIGCONT');
    },
  };
}

/**
 * kill -9 a managed process `kills` times; after each kill, waits until the process manager shows a
 * new pid alive (up to 20 s) and then `intervalMs` (not after the last). What the control plane
 * should report as a crash loop once `controlPlane.crashLoop.restarts` fall in its window.
 *
 * Give `intervalMs` at least the kernel's time to ready (a second or two), so each kill hits a
 * process the control plane has seen ready: that is what a crash loop looks like (a death during
 * the self-test wait interrupts the wait, but is a failed start rather than a crash).
 *
 * restore: nothing; the process is the control plane's to restart.
 * @throws FaultError when a restart does not come in time (its `message` lists the pids killed)
 */
export async function crashLoop(
  ctx: FaultContext,
  options: { process: string; kills: number; intervalMs: number; restartTimeoutMs?: number },
): Promise<Injected<{ pids: number[]; restartedPids: number[] }>> {
  const timeoutMs = options.restartTimeoutMs ?? RESTART_TIMEOUT_MS;
  const pids: number[] = [];
  const restartedPids: number[] = [];
  for (let i = 0; i < options.kills; i++) {
    const pid = livePid(ctx, options.process);
    if (!ctx.pm.signal(options.process, 'SIGKILL')) throw new FaultError(`could not kill ${options.process} (pid ${pid})`);
    pids.push(pid);
    const deadline = Date.now() + timeoutMs;
    let next = ctx.pm.pid(options.process);
    while ((next === null || next === pid) && Date.now() < deadline) {
      await sleep(50);
      next = ctx.pm.pid(options.process);
    }
    if (next === null || next === pid) {
      throw new FaultError(`${options.process} was not restarted within ${timeoutMs} ms after kill ${i + 1} of ${options.kills} (killed pids ${pids.join(', ')})`);
    }
    restartedPids.push(next);
    if (i < options.kills - 1) await sleep(options.intervalMs);
  }
  return {
    detail: `killed ${options.process} ${pids.length} times (pids ${pids.join(', ')}); restarted as ${restartedPids.join(', ')}`,
    pids,
    restartedPids,
    restore: async () => undefined,
  };
}

/**
 * The `-e` program of a runaway process. A memory hog fills its buffers so every page is resident
 * (an allocation alone is only address space), then idles.
 */
export function runawayScript(kind: 'cpu' | 'memory', mb: number, ignoreTerm = false, threads = 1): string {
  // A listener replaces Node's default (exit on TERM) and does nothing: only SIGKILL stops it.
  const term = ignoreTerm ? "process.on('SIGTERM', () => {}); " : '';
  // More busy threads than one: on a loaded machine one thread may get less than a core's share.
  // The main thread's loop waits until every worker thread is online: started at once, it blocks
  // the event loop the workers start through, and only the main thread burns (seen: 3 "threads" got
  // 86-89 % of one core, and under load less than the detector's threshold).
  const n = Math.max(1, Math.floor(threads));
  if (kind === 'cpu' && n > 1) {
    return `${term}const { Worker } = require('node:worker_threads'); let online = 0; for (let i = 1; i < ${n}; i++) new Worker('for (;;) {}', { eval: true }).on('online', () => { if (++online === ${n - 1}) for (;;) {} });`;
  }
  if (kind === 'cpu') return `${term}for (;;) {}`;
  return [
    `${term}const held = [];`,
    `for (let i = 0; i < ${Math.max(1, Math.floor(mb))}; i++) held.push(Buffer.alloc(1048576, (i % 251) + 1));`,
    'setInterval(() => held.length, 60000);',
  ].join(' ');
}

/**
 * Starts a managed process (`runaway-cpu` or `runaway-memory`) that burns one core, or holds `mb` MB
 * resident (default: {@link RUNAWAY_MEMORY_OVER_MB} over the memory detector's threshold, so the fault
 * is one the configuration calls pressure, whatever its threshold). Resolves once the memory is
 * resident (up to 20 s), so the fault is real on return.
 *
 * restore: stops it (`pm.stop`, idempotent).
 */
/** How far over `detectors.memory.rssMb` a memory runaway goes by default. */
export const RUNAWAY_MEMORY_OVER_MB = 150;

export async function startRunaway(
  ctx: FaultContext,
  options: { kind: 'cpu' | 'memory'; mb?: number; ignoreTerm?: boolean; threads?: number },
): Promise<Injected<{ name: string; pid: number; rssMb: number | null }>> {
  const mb = options.mb ?? ctx.config.detectors.memory.rssMb + RUNAWAY_MEMORY_OVER_MB;
  const name = `runaway-${options.kind}`;
  await ctx.journal?.({ kind: 'stop_process', name });
  const info = await ctx.pm.start({
    name,
    command: process.execPath,
    args: ['-e', runawayScript(options.kind, mb, options.ignoreTerm, options.threads)],
    cwd: ctx.config.stateDir,
  });
  const pid = info.pid as number;
  let rss: number | null = null;
  if (options.kind === 'memory') {
    rss = rssMb(pid);
    const deadline = Date.now() + 20_000;
    while ((rss ?? 0) < mb * 0.9 && Date.now() < deadline && ctx.pm.isAlive(name)) {
      await sleep(100);
      rss = rssMb(pid);
    }
    if ((rss ?? 0) < mb * 0.9) {
      await ctx.pm.stop(name);
      throw new FaultError(`${name} (pid ${pid}) reached only ${Math.round(rss ?? 0)} of ${mb} MB resident; stopped it`);
    }
  }
  return {
    detail:
      options.kind === 'cpu'
        ? `started ${name} (pid ${pid}): busy loops on ${options.threads ?? 1} thread(s)${options.ignoreTerm ? ', deaf to SIGTERM' : ''}`
        : `started ${name} (pid ${pid}): ${Math.round(rss ?? 0)} MB resident${options.ignoreTerm ? ', deaf to SIGTERM' : ''}`,
    name,
    pid,
    rssMb: rss === null ? null : Math.round(rss),
    restore: () => ctx.pm.stop(name),
  };
}
