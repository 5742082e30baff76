/**
 * Resource detectors over the managed processes (every pid file in the state directory, except the
 * stack's own servers — Temporal and the store are not ours to kill) and the state directory:
 *  - CPU: /proc/PID/stat user+system ticks over `detectors.cpu.windowMs`, in % of one core;
 *  - memory: resident set size from /proc/PID/status against `detectors.memory.rssMb`;
 *  - disk: free space of the state directory's file system, and the size of the log archives.
 */
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { immutableLogClient, kernelOfProcess } from '../../../kernels/registry';
import { procStartTicks, procStatFields, STANDBY_SUFFIX, type ProcessManager } from '../../process/manager';
import { cpuConfig, diskConfig, memoryConfig } from './resources.config';
import { defineDetector, type Finding } from './types';

/** Servers of the stack: watched by preflight and `status`, never signalled by a playbook. */
export const STACK_SERVERS = new Set(['temporal', 'store']);
/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)). */
const CLOCK_TICKS_PER_S = 100;

/** utime + stime (fields 14 and 15) of a process in clock ticks; null when it is gone. */
export function cpuTicks(pid: number): number | null {
  const fields = procStatFields(pid);
  return fields ? Number(fields[11]) + Number(fields[12]) : null;
}

/** Resident memory in MB; null when the process is gone. */
export function rssMb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function watched(pm: ProcessManager): Array<{ name: string; pid: number }> {
  const out: Array<{ name: string; pid: number }> = [];
  for (const name of pm.list()) {
    // A spare (ProcessSpec.standby) only loads and waits: it is watched once promoted.
    if (STACK_SERVERS.has(name) || name.endsWith(STANDBY_SUFFIX)) continue;
    const pid = pm.pid(name);
    if (pid !== null) out.push({ name, pid });
  }
  return out;
}

/** Seconds since the process started (its start ticks against /proc/uptime); null when gone. */
export function processAgeS(pid: number): number | null {
  const startTicks = procStartTicks(pid);
  if (startTicks === null) return null;
  try {
    return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) - startTicks / CLOCK_TICKS_PER_S;
  } catch {
    return null;
  }
}

export const cpuPressure = defineDetector({
  name: 'cpu_pressure',
  config: cpuConfig,
  kinds: ['cpu_pressure'],
  everyMs: (s) => s.everyMs ?? Math.max(250, Math.floor(s.windowMs / 5)),
  /** Samples per pid: [ms, ticks], oldest first, kept for one window. */
  createState: () => ({ samples: new Map<number, Array<[number, number]>>() }),
  async check({ config, pm }, { percent, windowMs }, { samples }) {
    const now = Date.now();
    const out: Array<Finding<'cpu_pressure'>> = [];
    const seen = new Set<number>();
    for (const { name, pid } of watched(pm)) {
      seen.add(pid);
      const ticks = cpuTicks(pid);
      // A starting process (a worker loading its workflow bundle) is busy by nature: its first
      // window is not held against it.
      const age = processAgeS(pid);
      if (ticks === null || age === null || age * 1000 < windowMs) continue;
      const list = samples.get(pid) ?? [];
      list.push([now, ticks]);
      while (list.length > 1 && now - list[1][0] >= windowMs) list.shift();
      samples.set(pid, list);
      const [t0, k0] = list[0];
      if (now - t0 < windowMs) continue; // not a whole window yet
      const used = (((ticks - k0) / CLOCK_TICKS_PER_S) * 1000 * 100) / (now - t0);
      if (used < percent) continue;
      out.push({
        kind: 'cpu_pressure',
        kernel: kernelOfProcess(config, name) ?? null,
        process: name,
        pid,
        key: `${name}:${pid}`,
        detail: `${name} (pid ${pid}) used ${used.toFixed(0)}% of a core over ${windowMs} ms (threshold ${percent}%)`,
        data: { cpuPercent: Math.round(used), windowMs },
      });
    }
    for (const pid of samples.keys()) if (!seen.has(pid)) samples.delete(pid);
    return out;
  },
});

export const memoryPressure = defineDetector({
  name: 'memory_pressure',
  config: memoryConfig,
  kinds: ['memory_pressure'],
  createState: () => undefined,
  async check({ config, pm }, { rssMb: limit }) {
    const out: Array<Finding<'memory_pressure'>> = [];
    for (const { name, pid } of watched(pm)) {
      const rss = rssMb(pid);
      if (rss === null || rss < limit) continue;
      out.push({
        kind: 'memory_pressure',
        kernel: kernelOfProcess(config, name) ?? null,
        process: name,
        pid,
        key: `${name}:${pid}`,
        detail: `${name} (pid ${pid}) holds ${rss.toFixed(0)} MB resident (threshold ${limit} MB)`,
        data: { rssMb: Math.round(rss) },
      });
    }
    return out;
  },
});

export const diskPressure = defineDetector({
  name: 'disk_pressure',
  config: diskConfig,
  kinds: ['disk_pressure'],
  createState: () => undefined,
  async check({ config }, { minFreeMb, archivesMaxMb }) {
    const out: Array<Finding<'disk_pressure'>> = [];
    const s = await statfs(config.stateDir);
    const freeMb = (s.bavail * s.bsize) / 1048576;
    if (freeMb < minFreeMb) {
      out.push({
        kind: 'disk_pressure',
        kernel: null,
        key: 'free',
        detail: `${freeMb.toFixed(0)} MB free on the state directory's file system (threshold ${minFreeMb} MB)`,
        data: { freeMb: Math.round(freeMb), cause: 'free_space' },
      });
    }
    const { usage } = await immutableLogClient(config).usage();
    const archivesMb = usage.archiveBytes / 1048576;
    if (archivesMb > archivesMaxMb) {
      out.push({
        kind: 'disk_pressure',
        kernel: 'immutable_log',
        process: 'immutable-log',
        key: 'archives',
        detail: `the log archives take ${archivesMb.toFixed(1)} MB (threshold ${archivesMaxMb} MB)`,
        data: { archivesMb: Math.round(archivesMb * 10) / 10, cause: 'archives' },
      });
    }
    return out;
  },
});
