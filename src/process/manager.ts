/**
 * The process manager: the narrow seam through which Layer 1 starts and stops the processes it
 * supervises (servers, workers, kernels). The embedded implementation runs them detached with pid
 * and log files in the state directory, so a worker or CLI crash does not take them down; systemd
 * or Kubernetes can implement the same interface later.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** What to run. `name` is the identity: one process per name. */
export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Keep a warm spare: a second process of the same spec, started with STANDBY_ENV=1, that does
   * its slow start-up (loading, connecting) and then waits for SIGUSR2 to take the name's place.
   * A start of a dead process promotes the spare (milliseconds) instead of starting cold
   * (seconds); `ensureStandby` starts the next spare. The process must implement that protocol
   * (workers/standby.ts); one that does not would die of SIGUSR2's default action, so a spare is
   * promoted only once /proc shows it catches SIGUSR2.
   */
  standby?: boolean;
}

/** Set in a spare's environment: do the start-up, then wait for SIGUSR2 (see ProcessSpec.standby). */
export const STANDBY_ENV = 'LAYER1_STANDBY';
/** Set in a spare's environment: the file it writes its pid to once its start-up is done. */
export const STANDBY_WARM_FILE_ENV = 'LAYER1_STANDBY_WARM_FILE';
/** The signal that promotes a spare. */
export const PROMOTE_SIGNAL: NodeJS.Signals = 'SIGUSR2';

export const STANDBY_SUFFIX = '.standby';
/** A claim to start a spare older than this is left over from a crashed caller. */
const STANDBY_CLAIM_STALE_MS = 10_000;
/** A claim to start a process older than this is left over from a crashed caller (a spawn takes milliseconds). */
const START_CLAIM_STALE_MS = 10_000;

/** The managed name of a process's spare. */
export function standbyName(name: string): string {
  return `${name}${STANDBY_SUFFIX}`;
}

export interface StandbyInfo {
  pid: number | null;
  alive: boolean;
  /** Its start-up is done: a promotion makes it work at once. */
  warm: boolean;
}

export interface ProcessInfo {
  name: string;
  pid: number | null;
  alive: boolean;
  logPath: string;
  /** Set when a pid file exists but its process is gone or is another program (pid reused). */
  stale: boolean;
  /** The pid the pid file names, alive or not: the evidence when a process died. */
  recordedPid: number | null;
  /** A stop is under way: its process exiting is expected, not a crash. */
  stopping: boolean;
}

export interface ProcessManager {
  /** Starts the process unless one of that name is already alive (then a no-op returning it). */
  start(spec: ProcessSpec): Promise<ProcessInfo>;
  /** TERM, then KILL after `graceMs`. Stopping a process that is not running is a no-op. */
  stop(name: string, graceMs?: number): Promise<void>;
  signal(name: string, signal: NodeJS.Signals): boolean;
  isAlive(name: string): boolean;
  pid(name: string): number | null;
  logPath(name: string): string;
  info(name: string): ProcessInfo;
  /** Names of every process this manager has a record of, alive or stale (spares included). */
  list(): string[];
  /** Starts the spare of a `standby` spec unless one is alive (a no-op for other specs). */
  ensureStandby(spec: ProcessSpec): Promise<StandbyInfo>;
  standbyInfo(name: string): StandbyInfo;
}

/** Contents of a pid file. The start time guards against a recycled pid being taken for ours. */
interface PidRecord {
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks since boot) when we started it. */
  startTicks: number | null;
  command: string;
  args: string[];
  startedAt: string;
}

export const DEFAULT_STOP_GRACE_MS = 5_000;

/**
 * Runs processes detached (own session, stdio to a log file) and tracks them by pid files in
 * `<stateDir>/run`. Never finds processes by name: only by the pid files it wrote.
 */
export class DetachedProcessManager implements ProcessManager {
  readonly runDir: string;
  readonly logDir: string;

  constructor(stateDir: string) {
    this.runDir = path.join(stateDir, 'run');
    this.logDir = path.join(stateDir, 'logs');
  }

  logPath(name: string): string {
    return path.join(this.logDir, `${name}.log`);
  }

  private pidPath(name: string): string {
    return path.join(this.runDir, `${name}.pid`);
  }

  private readRecord(name: string): PidRecord | null {
    const file = this.pidPath(name);
    if (!existsSync(file)) return null;
    try {
      const rec = JSON.parse(readFileSync(file, 'utf8')) as PidRecord;
      return typeof rec.pid === 'number' ? rec : null;
    } catch {
      return null;
    }
  }

  info(name: string): ProcessInfo {
    const rec = this.readRecord(name);
    const alive = rec !== null && isOurProcess(rec);
    return {
      name,
      pid: alive ? rec.pid : null,
      alive,
      logPath: this.logPath(name),
      stale: rec !== null && !alive,
      recordedPid: rec?.pid ?? null,
      stopping: existsSync(this.stoppingPath(name)),
    };
  }

  list(): string[] {
    if (!existsSync(this.runDir)) return [];
    return readdirSync(this.runDir)
      .filter((f) => f.endsWith('.pid'))
      .map((f) => f.slice(0, -'.pid'.length))
      .sort();
  }

  isAlive(name: string): boolean {
    return this.info(name).alive;
  }

  pid(name: string): number | null {
    return this.info(name).pid;
  }

  async start(spec: ProcessSpec): Promise<ProcessInfo> {
    const current = this.info(spec.name);
    if (current.alive) return current; // Idempotent: one process per name.
    // Two callers at once (the control plane restarting a kernel while a playbook restarts it, in
    // other processes) must not start two: in a CI run both started the bus in the same
    // millisecond, one took its ports, the other died, and its pid was the one recorded, so the
    // live bus ran untracked and every later start failed on its ports. An exclusive claim file
    // decides, as for spares; the caller that loses waits for the winner's process.
    mkdirSync(this.runDir, { recursive: true });
    // Not `.start-claim`: startServerOnce (src/stack/server-start.ts) holds that one around its call here.
    const claim = `${this.pidPath(spec.name)}.spawn-claim`;
    let fd: number;
    try {
      fd = openSync(claim, 'wx');
    } catch (err) {
      // Only a claim already there means another caller: anything else (a run dir we cannot write) is said.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (statSync(claim, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (age < START_CLAIM_STALE_MS) {
        await new Promise((r) => setTimeout(r, 50));
        return this.start(spec);
      }
      rmSync(claim, { force: true });
      return this.start(spec);
    }
    try {
      closeSync(fd);
      const now = this.info(spec.name);
      if (now.alive) return now; // started by the claim's last holder
      if (now.stale) rmSync(this.pidPath(spec.name), { force: true });
      if (spec.standby) {
        // The spare used up is replaced by whoever keeps spares (ensureStandby; for the workers,
        // the trigger monitor), not here: a start must not wait on it.
        const promoted = this.promote(spec);
        if (promoted) return promoted;
      }
      return await this.spawnDetached(spec, spec.name, {});
    } finally {
      rmSync(claim, { force: true });
    }
  }

  async ensureStandby(spec: ProcessSpec): Promise<StandbyInfo> {
    const name = standbyName(spec.name);
    if (!spec.standby) return { pid: null, alive: false, warm: false };
    const current = this.info(name);
    if (current.alive) return this.standbyInfo(spec.name);
    if (current.stale) rmSync(this.pidPath(name), { force: true });
    mkdirSync(this.runDir, { recursive: true });
    // Two callers at once (two healing replicas in a change of leader) must not start two spares:
    // the one whose pid file lost would run untracked. An exclusive claim file decides; a claim
    // older than a spawn can take is left over from a crash and is taken over.
    const claim = `${this.pidPath(name)}.claim`;
    let fd: number;
    try {
      fd = openSync(claim, 'wx');
    } catch {
      const age = Date.now() - (statSync(claim, { throwIfNoEntry: false })?.mtimeMs ?? 0);
      if (age < STANDBY_CLAIM_STALE_MS) return this.standbyInfo(spec.name);
      rmSync(claim, { force: true });
      return this.ensureStandby(spec);
    }
    try {
      closeSync(fd);
      if (this.info(name).alive) return this.standbyInfo(spec.name); // started by the claim's last holder
      const warmFile = this.warmPath(spec.name);
      rmSync(warmFile, { force: true });
      // Its output goes to the log of the name it will take over: once promoted, that is its log.
      const info = await this.spawnDetached(spec, name, { [STANDBY_ENV]: '1', [STANDBY_WARM_FILE_ENV]: warmFile }, spec.name);
      return { pid: info.pid, alive: true, warm: false };
    } finally {
      rmSync(claim, { force: true });
    }
  }

  standbyInfo(name: string): StandbyInfo {
    const info = this.info(standbyName(name));
    let warm = false;
    if (info.alive) {
      try {
        warm = readFileSync(this.warmPath(name), 'utf8').trim() === String(info.pid);
      } catch {
        warm = false;
      }
    }
    return { pid: info.pid, alive: info.alive, warm };
  }

  private warmPath(name: string): string {
    return path.join(this.runDir, `${standbyName(name)}.warm`);
  }

  /**
   * Makes the live spare of `spec` the process of its name: its pid file is renamed onto the
   * name's (atomic: a reader sees the old record or the new, and two promoters cannot both
   * win), then it is told to go on. Null when there is no spare that can be promoted.
   */
  private promote(spec: ProcessSpec): ProcessInfo | null {
    const name = standbyName(spec.name);
    const rec = this.readRecord(name);
    if (!rec || !isOurProcess(rec)) return null;
    // A spare of an older spec (an upgrade, a changed config) must not take over: it is replaced.
    if (rec.command !== spec.command || JSON.stringify(rec.args) !== JSON.stringify(spec.args) || !catchesSignal(rec.pid, PROMOTE_SIGNAL)) {
      return null;
    }
    try {
      renameSync(this.pidPath(name), this.pidPath(spec.name));
    } catch {
      return null; // another promoter took it
    }
    rmSync(this.warmPath(spec.name), { force: true });
    try {
      process.kill(rec.pid, PROMOTE_SIGNAL);
    } catch {
      return null; // it died between the check and the signal: the caller starts one cold
    }
    return { name: spec.name, pid: rec.pid, alive: true, logPath: this.logPath(spec.name), stale: false, recordedPid: rec.pid, stopping: false };
  }

  private async spawnDetached(spec: ProcessSpec, name: string, extraEnv: NodeJS.ProcessEnv, logName = name): Promise<ProcessInfo> {
    mkdirSync(this.runDir, { recursive: true });
    mkdirSync(this.logDir, { recursive: true });
    const logFd = openSync(this.logPath(logName), 'a');
    // Only a spare gets the standby variables: a caller that is itself a promoted spare (a healing
    // worker) must not pass its own on, or what it starts would wait for a promotion forever.
    const env = { ...(spec.env ?? process.env) };
    delete env[STANDBY_ENV];
    delete env[STANDBY_WARM_FILE_ENV];
    try {
      const child = spawn(spec.command, spec.args, {
        cwd: spec.cwd,
        env: { ...env, ...extraEnv },
        detached: true,
        stdio: ['ignore', logFd, logFd],
      });
      const pid = await new Promise<number>((resolve, reject) => {
        child.once('error', reject);
        child.once('spawn', () => resolve(child.pid as number));
      });
      child.unref();
      const record: PidRecord = {
        pid,
        startTicks: procStartTicks(pid),
        command: spec.command,
        args: spec.args,
        startedAt: new Date().toISOString(),
      };
      // Write then rename, so a reader never sees half a pid file.
      const tmp = `${this.pidPath(name)}.tmp`;
      writeFileSync(tmp, JSON.stringify(record));
      renameSync(tmp, this.pidPath(name));
      return { name, pid, alive: true, logPath: this.logPath(logName), stale: false, recordedPid: pid, stopping: false };
    } finally {
      closeSync(logFd);
    }
  }

  signal(name: string, sig: NodeJS.Signals): boolean {
    const rec = this.readRecord(name);
    if (!rec || !isOurProcess(rec)) return false;
    try {
      process.kill(rec.pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  async stop(name: string, graceMs = DEFAULT_STOP_GRACE_MS): Promise<void> {
    const rec = this.readRecord(name);
    if (!rec) return;
    // Watchers (the trigger monitor) must not take the exit they are about to see for a crash.
    const marker = this.stoppingPath(name);
    writeFileSync(marker, `${rec.pid}\n`);
    try {
      await this.terminate(rec, graceMs);
      rmSync(this.pidPath(name), { force: true });
      if (name.endsWith(STANDBY_SUFFIX)) rmSync(this.warmPath(name.slice(0, -STANDBY_SUFFIX.length)), { force: true });
    } finally {
      rmSync(marker, { force: true });
    }
  }

  private stoppingPath(name: string): string {
    return `${this.pidPath(name)}.stopping`;
  }

  private async terminate(rec: PidRecord, graceMs: number): Promise<void> {
    if (isOurProcess(rec)) {
      signalGroup(rec.pid, 'SIGTERM');
      const deadline = Date.now() + graceMs;
      while (isOurProcess(rec) && Date.now() < deadline) await sleep(50);
      if (isOurProcess(rec)) {
        signalGroup(rec.pid, 'SIGKILL');
        while (isOurProcess(rec)) await sleep(20);
      }
    }
  }
}

/** Signals the process group the detached child leads, so helpers it spawned stop with it. */
function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // Already gone.
    }
  }
}

function isOurProcess(rec: PidRecord): boolean {
  if (!pidAlive(rec.pid)) return false;
  if (rec.startTicks === null) return true;
  // A zombie or a recycled pid has another start time (or none).
  const ticks = procStartTicks(rec.pid);
  return ticks === rec.startTicks && !isZombie(rec.pid);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The fields of /proc/PID/stat from the third (the state letter) on: index 0 is field 3, so field N
 * is at N - 3. Null when the process is gone or there is no /proc.
 */
export function procStatFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Field 22 of /proc/PID/stat; null where /proc is not available. */
export function procStartTicks(pid: number): number | null {
  const fields = procStatFields(pid);
  return fields ? Number(fields[19]) : null;
}

/** Whether the process has a handler for `sig` (the SigCgt mask of /proc/PID/status). */
export function catchesSignal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(status);
    if (!mask) return false;
    const bit = BigInt(osConstants.signals[sig] - 1);
    return ((BigInt(`0x${mask[1]}`) >> bit) & 1n) === 1n;
  } catch {
    return false;
  }
}

function isZombie(pid: number): boolean {
  const fields = procStatFields(pid);
  return fields !== null && fields[0] === 'Z';
}
