/**
 * The server supervisor: the stack's own embedded servers — the Temporal dev server and the store
 * (FerretDB) — watched like kernel processes, and restarted with no one acting. It runs in the
 * trigger monitor of the healing replicas, because that process survives both: a dead store only
 * fails its heartbeats, a dead Temporal only its polls (the SDK retries them), while its pid-file
 * watch and this supervisor go on.
 *
 * Why here and not a playbook: a playbook is a Temporal workflow and writes to the store; with
 * Temporal dead nothing runs at all, and with the store dead an incident cannot be recorded. So:
 *  - dead (its pid file names a dead process, and no stop is under way): started again at once,
 *    with the spec `layer1 up` uses (src/stack/server-start.ts, exclusive and idempotent);
 *  - hung (alive, but its health probe has not answered for `servers.temporalHungMs` /
 *    `servers.storeHungMs`): killed, then started again. A hung store is first the
 *    `dependency_unreachable` playbook's case (it resumes a stopped one), hence its longer bound;
 *    a hung Temporal can run no playbook, so only this supervisor can act;
 *  - restarts of one server within `servers.backoff.windowMs` back off exponentially (the first at
 *    once), so a server that cannot start does not spin.
 * Once the server answers again, one `server_restarted` evidence per outage (keyed on the dead pid)
 * goes through the seam to the store, and one entry to the immutable log. That kind starts no
 * playbook and opens no incident: the outage is already repaired (one fault, one remedy).
 *
 * The bus is not supervised here: it is the message-bus kernel's process, which the trigger
 * monitors' process watch reports and the control plane restarts; a second restarter would fight
 * it. Servers with `embedded: false` are never touched.
 *
 * Only one replica acts: the lowest-named healing replica whose pid file names a live process and
 * whose supervisor has written its beat file lately (this one, if its own pid file names this
 * process). Leadership through the store or Temporal cannot be used — they are what may be down —
 * and the start itself is exclusive besides.
 *
 * A replica connects to the store and Temporal before its monitor runs, so a server that died while
 * no replica ran (the self-healing kernel stopped) would keep every replica from starting, and so
 * from restarting it. {@link reviveDeadServers} runs before the replica connects and starts such a
 * server again; the replica's supervisor reports that outage like its own ({@link ServerSupervisor.adopt}).
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load';
import type { ProcessManager } from '../process/manager';
import { withDeadline } from '../deadline';
import { errorText } from '../domain/errors';
import type { HealthResult, ServiceDef, ServiceName } from '../stack/services';
import { services } from '../stack/services';
import { startServerOnce, type ServerStart } from '../stack/server-start';
import { workerDefs } from '../stack/workers';
import { makeEvidence, type Evidence } from './evidence';

/** The servers this supervisor may restart (see the module comment for the bus). */
export const SUPERVISED_SERVERS: readonly ServiceName[] = ['temporal', 'store'];

/** What one outage was, reported once the server answers again. */
export interface ServerOutage {
  server: ServiceName;
  cause: 'exited' | 'hung';
  deadPid: number | null;
  newPid: number | null;
  /** Epoch ms: when the supervisor saw it down, and when it answered again. */
  downAt: number;
  backAt: number;
  restarts: number;
  detail: string;
}

export interface ServerSupervisorDeps {
  config: LoadedConfig;
  pm: ProcessManager;
  /** This replica's process name (healing-1…). */
  name: string;
  log: Logger;
  /** Hands the outage's evidence over; resolves false when it could not be recorded (tried again later). */
  report: (e: Evidence, outage: ServerOutage) => Promise<boolean>;
  /** Health probe of a server; by default its own (a fresh connection each time). */
  health?: (svc: ServiceDef, timeoutMs: number) => Promise<HealthResult>;
  /** Starts a server unless it runs; by default {@link startServerOnce} (tests pass a fake). */
  start?: (server: ServiceName) => Promise<ServerStart>;
  now?: () => number;
}

interface Watch {
  svc: ServiceDef;
  /** The outage under way, or null. */
  outage: {
    cause: ServerOutage['cause'];
    deadPid: number | null;
    downAt: number;
    restarts: number;
    newPid: number | null;
    reported: boolean;
    detail: string;
    /** Ended by this replica before it connected ({@link reviveDeadServers}): reported by it, leading or not. */
    adopted?: boolean;
  } | null;
  /** Restart times within the back-off window. */
  restartTimes: number[];
  nextAttemptAt: number;
  /** When the live server last answered its probe, and when it was last probed. */
  lastAnswerAt: number;
  lastProbeAt: number;
  busy: boolean;
  /** The probe in flight, if any, and when it started. */
  probe: Promise<unknown> | null;
  probeStartedAt: number;
}

/**
 * A probe in flight for this many times its bound is given up on (left to settle alone) and a new
 * one made: a client stuck in one probe must not make a server that answers new connections look
 * hung. A CI run's store was killed so: answering others again from 10:03:36, it was killed at
 * 10:04:01 for "the previous probe has not answered", that probe stuck since 10:03:00.
 */
const STALE_PROBE_BOUNDS = 4;

/** A server a starting replica found dead and started again before it connected. */
export interface RevivedServer {
  server: ServiceName;
  deadPid: number | null;
  newPid: number | null;
  /** Epoch ms: when the starting replica found it dead (it may have died long before). */
  downAt: number;
  detail: string;
}

/** How long a starting replica waits for a server it started to answer, by default. */
export const REVIVE_WAIT_MS = 60_000;

/**
 * Run by a healing replica before it connects (see the module comment): each supervised embedded
 * server whose pid file names a dead process — the watch's rule: not one being stopped, not one
 * never started or stopped on purpose — is started again ({@link startServerOnce}, exclusive: two
 * replicas starting together start it once) and awaited until it answers or `waitMs` passes. The
 * replica's connect then says what is still wrong, if anything is. Idempotent: a live server is
 * left alone.
 */
export async function reviveDeadServers(
  config: LoadedConfig,
  pm: ProcessManager,
  log: Logger,
  opts: {
    waitMs?: number;
    /** Test seams: the start ({@link startServerOnce} by default) and the probe (the server's own). */
    start?: (server: ServiceName) => Promise<ServerStart>;
    health?: (svc: ServiceDef) => Promise<HealthResult>;
  } = {},
): Promise<RevivedServer[]> {
  if (!config.servers.supervise) return [];
  const dead = services(config).filter((s) => {
    if (!s.embedded || !SUPERVISED_SERVERS.includes(s.name)) return false;
    const info = pm.info(s.name);
    return !info.alive && info.stale && !info.stopping;
  });
  const revived: RevivedServer[] = [];
  await Promise.all(
    dead.map(async (svc) => {
      const deadPid = pm.info(svc.name).recordedPid;
      const downAt = Date.now();
      let outcome = 'not started';
      try {
        const r = await (opts.start ? opts.start(svc.name) : startServerOnce(config, pm, svc.name));
        outcome = r.outcome;
      } catch (err) {
        log.error({ err, server: svc.name }, `the ${svc.name} is dead and could not be started before connecting`);
        return;
      }
      // Started here or by the other replica at the same moment: either way, wait until it answers.
      const deadline = Date.now() + (opts.waitMs ?? REVIVE_WAIT_MS);
      let h: HealthResult = { healthy: false, detail: 'not probed' };
      while (Date.now() < deadline) {
        h = await (opts.health ? opts.health(svc) : svc.health(2_000, { quick: true })).catch((err: unknown) => ({ healthy: false, detail: errorText(err) }));
        if (h.healthy) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const detail = `pid ${deadPid} was gone when this replica started (log: ${pm.info(svc.name).logPath}); ${outcome} before connecting`;
      log.warn({ server: svc.name, outcome, answers: h.healthy, waitedMs: Date.now() - downAt, health: h.detail }, `the ${svc.name} was dead when this replica started: ${outcome}`);
      revived.push({ server: svc.name, deadPid, newPid: pm.pid(svc.name), downAt, detail });
    }),
  );
  return revived;
}

/** A supervisor's beat is fresh for this long at least (4 rounds when `servers.watchMs` is longer). */
const BEAT_FRESH_MIN_MS = 2_000;

/** Where a replica's supervisor beats (`run/<replica>.server-supervisor.beat`). */
export function beatFile(config: Pick<LoadedConfig, 'stateDir'>, replica: string): string {
  return path.join(config.stateDir, 'run', `${replica}.server-supervisor.beat`);
}

/** The record of a report that could not be made is tried again for this long. */
const REPORT_RETRY_MS = 5 * 60_000;

export class ServerSupervisor {
  private timer: NodeJS.Timeout | undefined;
  private readonly watches: Watch[];
  private readonly now: () => number;
  private leading = false;

  constructor(private readonly deps: ServerSupervisorDeps) {
    this.now = deps.now ?? Date.now;
    const t = this.now();
    this.watches = services(deps.config)
      .filter((s) => s.embedded && SUPERVISED_SERVERS.includes(s.name))
      .map((svc) => ({ svc, outage: null, restartTimes: [], nextAttemptAt: 0, lastAnswerAt: t, lastProbeAt: 0, busy: false, probe: null, probeStartedAt: 0 }));
  }

  start(): void {
    if (!this.deps.config.servers.supervise || this.watches.length === 0) return;
    this.timer = setInterval(() => void this.tick(), this.deps.config.servers.watchMs);
  }

  /**
   * Takes over the outages {@link reviveDeadServers} ended before this replica connected: each is
   * reported as this supervisor's own once the server answers (one evidence per dead pid, whoever
   * reports it).
   */
  adopt(revived: readonly RevivedServer[]): void {
    for (const r of revived) {
      const w = this.watches.find((x) => x.svc.name === r.server);
      if (!w || w.outage) continue;
      w.outage = { cause: 'exited', deadPid: r.deadPid, downAt: r.downAt, restarts: 1, newPid: r.newPid, reported: false, detail: r.detail, adopted: true };
      w.restartTimes.push(r.downAt);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    // A stopped replica no longer claims to supervise (its pid file goes too, but not always first).
    rmSync(beatFile(this.deps.config, this.deps.name), { force: true });
  }

  /**
   * Whether this replica is the one that acts: the lowest-named healing replica that is alive and
   * whose supervisor has beaten lately (a local file, {@link beatFile}): a replica that is alive but
   * stopped or hung does not keep the others from acting. No store, no Temporal: they may be down.
   */
  leads(): boolean {
    const { config, pm, name } = this.deps;
    const replicas = workerDefs(config)
      .filter((w) => w.kernel === 'self_healing')
      .map((w) => w.name)
      .sort();
    const freshMs = Math.max(BEAT_FRESH_MIN_MS, 4 * config.servers.watchMs);
    const beatFresh = (r: string): boolean => {
      const at = statSync(beatFile(config, r), { throwIfNoEntry: false })?.mtimeMs;
      return at !== undefined && Date.now() - at < freshMs;
    };
    const first = replicas.find((r) => pm.isAlive(r) && beatFresh(r));
    return first === name && pm.pid(name) === process.pid;
  }

  /** Says this replica's supervisor is going: the file's time is what {@link leads} reads. */
  private beat(): void {
    try {
      const file = beatFile(this.deps.config, this.deps.name);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, `${process.pid}\n`);
    } catch (err) {
      this.deps.log.warn({ err }, 'server supervisor beat not written');
    }
  }

  /** One round over the servers; exported for tests. Each server's work runs one at a time. */
  async tick(): Promise<void> {
    this.beat();
    const leading = this.leads();
    if (leading !== this.leading) this.deps.log.info({ leading }, leading ? 'this replica supervises the servers' : 'another replica supervises the servers');
    this.leading = leading;
    if (!leading) {
      await Promise.all(this.watches.map((w) => this.reportAdopted(w)));
      return;
    }
    await Promise.all(
      this.watches.map(async (w) => {
        if (w.busy) return;
        w.busy = true;
        try {
          await this.check(w);
        } catch (err) {
          this.deps.log.error({ err, server: w.svc.name }, 'server supervisor round failed');
        } finally {
          w.busy = false;
        }
      }),
    );
  }

  /**
   * A replica that does not lead still reports the outage it ended before connecting, once the
   * server answers: the leader may never have seen that server dead (when two replicas start at
   * once, the one that starts the server second finds it alive), so it has nothing to report, and
   * a CI run recorded no evidence of the outage at all. Both reports fold into one record (the
   * evidence's key is the dead pid). A server that is dead again, or does not answer, is the
   * leader's to handle; the adopted outage is dropped after REPORT_RETRY_MS.
   */
  private async reportAdopted(w: Watch): Promise<void> {
    if (w.busy || !w.outage?.adopted || w.outage.reported) return;
    if (this.now() - w.outage.downAt > REPORT_RETRY_MS) {
      w.outage = null;
      return;
    }
    if (!this.deps.pm.isAlive(w.svc.name)) return;
    w.busy = true;
    try {
      const h = await this.health(w);
      if (h.healthy && w.outage && !w.outage.reported) await this.recovered(w, this.now());
    } catch (err) {
      this.deps.log.error({ err, server: w.svc.name }, 'server supervisor: reporting an adopted outage failed');
    } finally {
      w.busy = false;
    }
  }

  private async check(w: Watch): Promise<void> {
    const { config, pm, log } = this.deps;
    const name = w.svc.name;
    const info = pm.info(name);
    const now = this.now();
    // `layer1 down` (or a playbook) is stopping it, or it was never started / was stopped: not ours to start.
    if (info.stopping || (!info.alive && !info.stale)) {
      w.lastAnswerAt = now;
      // An outage someone else ended by stopping the server is no longer this supervisor's to report.
      w.outage = null;
      return;
    }
    if (!info.alive) {
      w.outage ??= { cause: 'exited', deadPid: info.recordedPid, downAt: now, restarts: 0, newPid: null, reported: false, detail: `pid ${info.recordedPid} is gone` };
      if (now < w.nextAttemptAt) return;
      await this.restart(w, `pid ${info.recordedPid} is gone (log: ${info.logPath})`);
      return;
    }
    // Alive: probe it (after an outage, at every round until it answers).
    if (!w.outage && now - w.lastProbeAt < config.servers.probeEveryMs) return;
    w.lastProbeAt = now;
    const h = await this.health(w);
    const after = this.now();
    if (h.healthy) {
      w.lastAnswerAt = after;
      if (w.outage && !w.outage.reported) await this.recovered(w, after);
      else if (w.outage?.reported) w.outage = null;
      return;
    }
    const hungMs = name === 'temporal' ? config.servers.temporalHungMs : config.servers.storeHungMs;
    // Since its last answer, or since it was (re)started: a new process gets the whole bound to answer.
    const since = w.lastAnswerAt;
    if (after - since < hungMs || after < w.nextAttemptAt) return;
    log.warn({ server: name, pid: info.pid, silentMs: after - since, detail: h.detail }, `the ${name} is alive but has not answered for ${after - since} ms: killing and restarting it (its goroutines go to ${info.logPath})`);
    w.outage ??= { cause: 'hung', deadPid: info.pid, downAt: since, restarts: 0, newPid: null, reported: false, detail: '' };
    // SIGQUIT first: both servers are Go programs, which write every goroutine's stack to their log
    // (stderr) and exit on it, so why it hung can be read afterwards. Then SIGKILL, which a stopped
    // (SIGSTOP) process dies of too. Real time for the waits, whatever the clock.
    pm.signal(name, 'SIGQUIT');
    const quitBy = Date.now() + 1_000;
    while (pm.isAlive(name) && Date.now() < quitBy) await new Promise((r) => setTimeout(r, 20));
    if (pm.isAlive(name)) pm.signal(name, 'SIGKILL');
    const deadline = Date.now() + 5_000;
    while (pm.isAlive(name) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await this.restart(w, `pid ${info.pid} did not answer for ${after - since} ms: ${h.detail}`);
  }

  /**
   * One probe, bounded by `servers.probeTimeoutMs`. At most one in flight per server: a probe of a
   * hung server that outlives its bound is waited for, not joined by another each round, until it
   * has been in flight STALE_PROBE_BOUNDS times its bound (then a new one is made).
   */
  private async health(w: Watch): Promise<HealthResult> {
    const timeoutMs = this.deps.config.servers.probeTimeoutMs;
    const now = this.now();
    if (w.probe && now - w.probeStartedAt < STALE_PROBE_BOUNDS * timeoutMs) {
      return { healthy: false, detail: `the previous probe has not answered for over ${timeoutMs} ms` };
    }
    const probe = (this.deps.health ? this.deps.health(w.svc, timeoutMs) : w.svc.health(timeoutMs, { quick: true })).catch(
      (err: unknown): HealthResult => ({ healthy: false, detail: errorText(err) }),
    );
    const inFlight: Promise<unknown> = probe.finally(() => {
      // Only this probe's own slot: a probe given up on settles after its successor started.
      if (w.probe === inFlight) w.probe = null;
    });
    w.probe = inFlight;
    w.probeStartedAt = now;
    try {
      return await withDeadline(probe, timeoutMs);
    } catch (err) {
      return { healthy: false, detail: errorText(err) };
    }
  }

  private async restart(w: Watch, why: string): Promise<void> {
    const { config, pm, log } = this.deps;
    const outage = w.outage!;
    const now = this.now();
    const { initialMs, maxMs, windowMs } = config.servers.backoff;
    w.restartTimes = w.restartTimes.filter((t) => now - t < windowMs);
    const n = w.restartTimes.length;
    // The first restart in a window at once, then initialMs, 2×, 4×… up to maxMs.
    w.nextAttemptAt = now + (n === 0 ? initialMs : Math.min(maxMs, initialMs * 2 ** n));
    w.restartTimes.push(now);
    w.lastAnswerAt = now;
    outage.restarts++;
    outage.detail = why;
    try {
      const r = await (this.deps.start ? this.deps.start(w.svc.name) : startServerOnce(config, pm, w.svc.name));
      if (r.outcome === 'started' || r.outcome === 'already_running') outage.newPid = r.pid;
      log.warn({ server: w.svc.name, outcome: r.outcome, why, restarts: outage.restarts, nextBackoffMs: w.nextAttemptAt - now }, `server ${w.svc.name}: ${r.outcome}`);
    } catch (err) {
      log.error({ err, server: w.svc.name }, `could not restart the ${w.svc.name}`);
    }
  }

  private async recovered(w: Watch, at: number): Promise<void> {
    const outage = w.outage!;
    const { name: observer, pm } = this.deps;
    const server = w.svc.name;
    const newPid = pm.pid(server) ?? outage.newPid;
    const downMs = at - outage.downAt;
    const result: ServerOutage = {
      server,
      cause: outage.cause,
      deadPid: outage.deadPid,
      newPid,
      downAt: outage.downAt,
      backAt: at,
      restarts: outage.restarts,
      detail: `the ${server === 'temporal' ? 'Temporal dev server' : server} at ${w.svc.address} ${outage.cause === 'exited' ? 'died' : 'hung'} (${outage.detail}); restarted as pid ${newPid}, answering again after ${downMs} ms`,
    };
    const evidence = makeEvidence({
      kind: 'server_restarted',
      kernel: null,
      process: server,
      pid: newPid,
      detail: result.detail,
      // Fixed text: one signature per server and cause, whatever the pids and times.
      text: `the ${server} server ${outage.cause === 'exited' ? 'died' : 'hung'} and was restarted by the server supervisor`,
      data: { server, cause: outage.cause, deadPid: outage.deadPid, newPid, downMs, restarts: outage.restarts, restartedBy: 'server_supervisor' },
      at,
      observer,
      // One per outage: both a retry and the other replica fold into the same record.
      key: `${server}:${outage.deadPid ?? outage.downAt}`,
    });
    let ok = false;
    try {
      ok = await this.deps.report(evidence, result);
    } catch (err) {
      this.deps.log.error({ err, server }, 'could not report the restart');
    }
    if (ok || at - outage.downAt > REPORT_RETRY_MS) {
      outage.reported = true;
      w.outage = null;
      this.deps.log.info({ server, downMs, restarts: outage.restarts, recorded: ok }, `the ${server} answers again`);
    }
  }
}
