/**
 * Fault injectors: real failures, injected into a running Layer 1 stack, for the integration tests
 * and benchmarks of the self-healing playbooks and for chaos drills (see drills.ts for declaring
 * one). Each acts only on the project's own processes (by their process-manager names, never by
 * searching for a program) and only on files inside the state directory.
 *
 * Every injector returns `{ detail, restore, ...facts }`. `restore()` is idempotent and undoes only
 * what is still undone, so it is safe to call after the system already healed itself (the usual
 * case: a test injects, waits for the playbook, then restores in `finally`). Where there is nothing
 * to undo (an append-only log cannot un-append, a killed process is the system's to restart),
 * `restore()` does nothing and says so in its comment.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, statSync } from 'node:fs';
import { chmod, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import { immutableLogClient } from '../../kernels/registry';
import { ImmutableLogRequestError, type ImmutableLogClient } from '../../kernels/immutable-log/client';
import { canonicalJson, parseLine, scanLines } from '../../kernels/immutable-log/format';
import type { SegmentRecord } from '../../kernels/immutable-log/log';
import { loadPolicy, policyFileOf, subjectCovers } from '../../kernels/message-bus/policy';
import { reloadBus } from '../../kernels/message-bus/readiness';
import { busPaths, renderBus } from '../../kernels/message-bus/render';
import { ensureStreams } from '../../kernels/message-bus/streams';
import { CONTROL_PLANE_WORKFLOW_ID } from '../../contracts/control-plane';
import { connectBus } from '../clients/bus';
import type { LoadedConfig } from '../config/load';
import { MODEL_FILES, MODELS_DIR } from '../coding-agent/models';
import { rssMb } from '../healing/detectors/resources';
import { procStartTicks, type ProcessManager } from '../process/manager';
import { SNAPSHOTS_DIR, sha256File } from '../snapshots/store';
import { errorText } from '../stack/services';

export interface FaultContext {
  config: LoadedConfig;
  pm: ProcessManager;
  db?: Db;
  temporal?: Client;
}

/** What every injector returns, plus its own facts. */
export type Injected<T extends object = object> = T & {
  /** One line saying what was done, for test output and drill reports. */
  detail: string;
  /** Undoes what is still undone; idempotent. */
  restore: () => Promise<void>;
};

/** The fault could not be injected (its target is missing, or not in the state it needs). */
export class FaultError extends Error {
  override name = 'FaultError';
}

/** One line per injector, for docs and drill listings. */
export const FAULTS = {
  killProcess: 'signal a managed process (SIGKILL by default); the control plane restarts it',
  stallProcess: 'SIGSTOP a managed process for a while, then SIGCONT: alive but unresponsive',
  throttleProcess: 'alternate SIGSTOP and SIGCONT on a managed process: real latency without an outage',
  corruptSealedLogEntry: "flip one byte inside an entry's payload in a sealed segment of the immutable log",
  fillLogQuota: "append bulky entries to the immutable log until its usage reaches a percentage of its quota",
  growLogArchives: "append incompressible entries and archive them until the log's archives exceed a size",
  floodStream: 'publish a burst of messages to a JetStream subject, leaving a backlog on its durable consumers',
  deleteConsumer: 'delete a durable JetStream consumer (default LAYER1_EVENTS/self_healing_triggers)',
  forbiddenPublish: "connect to the bus as a kernel user and publish where its ACL forbids: a permissions violation",
  tamperBusConfig: "edit the rendered nats.conf so control_plane may no longer publish system.control, and reload it",
  corruptModelFile: "flip one byte of the coding agent's model file (models/fixers.json)",
  startRunaway: 'start a managed process that burns a CPU core or holds hundreds of MB of resident memory',
  terminateControlPlane: 'terminate the control-plane workflow (layer1-control-plane)',
  hideSnapshots: 'move every snapshot out of snapshots/ so none is fresh',
  crashLoop: 'kill -9 a managed process repeatedly, each time after the control plane restarted it',
} as const;

export type FaultName = keyof typeof FAULTS;

const MiB = 1024 * 1024;
/** Default process-restart wait of {@link crashLoop}. */
const RESTART_TIMEOUT_MS = 20_000;

// ---------------------------------------------------------------- processes

function livePid(pm: ProcessManager, name: string): number {
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
  const pid = livePid(ctx.pm, options.process);
  if (!ctx.pm.signal(options.process, signal)) throw new FaultError(`could not send ${signal} to ${options.process} (pid ${pid})`);
  return { detail: `sent ${signal} to ${options.process} (pid ${pid})`, pid, signal, restore: async () => undefined };
}

/**
 * Freezes a managed process (SIGSTOP) for `ms`, then lets it run again (SIGCONT): its pid stays
 * alive while it answers nothing, which only a liveness probe can tell from healthy. The timer is
 * deliberately not unref'd, so a script that forgets `restore()` still resumes the process.
 *
 * restore: SIGCONT now (the same process only; a no-op once it resumed or was replaced).
 */
export async function stallProcess(
  ctx: FaultContext,
  options: { process: string; ms: number },
): Promise<Injected<{ pid: number; until: Date; ended: Promise<void> }>> {
  const pid = livePid(ctx.pm, options.process);
  const ticks = procStartTicks(pid);
  if (!signalExact(pid, ticks, 'SIGSTOP')) throw new FaultError(`could not stop ${options.process} (pid ${pid})`);
  let finish!: () => void;
  const ended = new Promise<void>((resolve) => (finish = resolve));
  const resume = async (): Promise<void> => {
    clearTimeout(timer);
    signalExact(pid, ticks, 'SIGCONT');
    finish();
  };
  const timer = setTimeout(() => void resume(), options.ms);
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
  const pid = livePid(ctx.pm, options.process);
  const ticks = procStartTicks(pid);
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
    const pid = livePid(ctx.pm, options.process);
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
export function runawayScript(kind: 'cpu' | 'memory', mb: number): string {
  if (kind === 'cpu') return 'for (;;) {}';
  return [
    'const held = [];',
    `for (let i = 0; i < ${Math.max(1, Math.floor(mb))}; i++) held.push(Buffer.alloc(1048576, (i % 251) + 1));`,
    'setInterval(() => held.length, 60000);',
  ].join(' ');
}

/**
 * Starts a managed process (`runaway-cpu` or `runaway-memory`) that burns one core, or holds `mb` MB
 * resident. Resolves once the memory is resident (up to 20 s), so the fault is real on return.
 *
 * restore: stops it (`pm.stop`, idempotent).
 */
export async function startRunaway(
  ctx: FaultContext,
  options: { kind: 'cpu' | 'memory'; mb?: number },
): Promise<Injected<{ name: string; pid: number; rssMb: number | null }>> {
  const mb = options.mb ?? 400;
  const name = `runaway-${options.kind}`;
  const info = await ctx.pm.start({
    name,
    command: process.execPath,
    args: ['-e', runawayScript(options.kind, mb)],
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
        ? `started ${name} (pid ${pid}): a busy loop on one core`
        : `started ${name} (pid ${pid}): ${Math.round(rss ?? 0)} MB resident`,
    name,
    pid,
    rssMb: rss === null ? null : Math.round(rss),
    restore: () => ctx.pm.stop(name),
  };
}

// ---------------------------------------------------------------- byte flips

/** Flipping the lowest bit of an ASCII letter or digit gives a character a JSON string may hold as is. */
export function flipByte(b: number): number {
  return b ^ 0x01;
}

const isAlnum = (b: number): boolean => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);

/**
 * Offset of an ASCII letter or digit inside a JSON string within `buf[start, end)` — the first one at
 * or after `from`, else the first one at all; -1 when there is none. `start` must be outside any
 * string. Flipping such a byte with {@link flipByte} leaves the text valid JSON with another value:
 * damage only a checksum or hash finds, as a real bit flip would be.
 */
export function jsonStringByteOffset(buf: Buffer, start = 0, end = buf.length, from = start): number {
  let inString = false;
  let first = -1;
  for (let i = start; i < end; i++) {
    const b = buf[i];
    if (!inString) {
      if (b === 0x22) inString = true;
      continue;
    }
    if (b === 0x5c) {
      // An escape: \uXXXX's hex digits are letters and digits that must stay hex.
      i += buf[i + 1] === 0x75 ? 5 : 1;
    } else if (b === 0x22) {
      inString = false;
    } else if (isAlnum(b)) {
      if (i >= from) return i;
      if (first === -1) first = i;
    }
  }
  return first;
}

/**
 * Where to flip a byte of a segment so that exactly one entry's payload changes: a letter or digit
 * inside a string of some entry's `data`, starting with the middle entry. The line must be exactly
 * as format.ts encodes it (data last, canonical), which is how the offset of `data` is known.
 */
export function pickPayloadByte(segment: Buffer): { offset: number; seq: number } | null {
  const { offsets, completeBytes } = scanLines(segment);
  const ends = [...offsets.slice(1), completeBytes];
  const order = offsets.map((_, i) => (i + Math.floor(offsets.length / 2)) % offsets.length);
  for (const i of order) {
    const lineEnd = ends[i] - 1; // at the newline
    const parsed = parseLine(segment.subarray(offsets[i], lineEnd).toString('utf8'));
    if (!parsed.ok) continue;
    const data = Buffer.from(canonicalJson(parsed.entry.data));
    const dataStart = lineEnd - 1 - data.length; // the line ends with `<data>}`
    if (dataStart < offsets[i] || !segment.subarray(dataStart, dataStart + data.length).equals(data)) continue;
    const offset = jsonStringByteOffset(segment, dataStart, dataStart + data.length, dataStart + Math.floor(data.length / 2));
    if (offset !== -1) return { offset, seq: parsed.entry.seq };
  }
  return null;
}

/** Writes one byte in place, through a read-only mode if need be (sealed segments are 0444), keeping the mode. */
async function writeByte(file: string, offset: number, value: number): Promise<void> {
  const mode = statSync(file).mode & 0o7777;
  if ((mode & 0o200) === 0) await chmod(file, mode | 0o200);
  try {
    const fh = await open(file, 'r+');
    try {
      await fh.write(Buffer.from([value]), 0, 1, offset);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  } finally {
    if ((mode & 0o200) === 0) await chmod(file, mode);
  }
}

async function readByte(file: string, offset: number): Promise<number | null> {
  try {
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(1);
      const { bytesRead } = await fh.read(buf, 0, 1, offset);
      return bytesRead === 1 ? buf[0] : null;
    } finally {
      await fh.close();
    }
  } catch {
    return null;
  }
}

/** restore() of a flipped byte: puts the original back only while the flipped value is still there. */
function unflip(file: string, offset: number, original: number): () => Promise<void> {
  return async () => {
    // A playbook that restored the file from a snapshot (or an archive that replaced it) already undid it.
    if ((await readByte(file, offset)) === flipByte(original)) await writeByte(file, offset, original);
  };
}

// ---------------------------------------------------------------- immutable log

function logDir(config: LoadedConfig): string {
  return path.join(config.stateDir, 'log');
}

function sealedSegments(config: LoadedConfig): SegmentRecord[] {
  const file = path.join(logDir(config), 'manifest.json');
  if (!existsSync(file)) return [];
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as { segments: SegmentRecord[] };
  return manifest.segments.filter((r) => !r.archive && !r.removedAt && existsSync(path.join(logDir(config), 'segments', r.name)));
}

/**
 * Appends `count` entries of about `bytes` each through the log API, `parallel` at a time (the
 * server's group commit writes a batch with one fsync). Incompressible payloads when `random`.
 * Stops after the first batch with a refused append; every append of that batch has settled by
 * then, so `appended` is exact.
 */
async function appendFill(
  client: ImmutableLogClient,
  options: { count: number; bytes: number; random: boolean; kind: string; parallel?: number },
): Promise<{ appended: number; error?: unknown }> {
  const parallel = options.parallel ?? 32;
  let appended = 0;
  const filler = 'x'.repeat(options.bytes);
  for (let sent = 0; sent < options.count; ) {
    const n = Math.min(parallel, options.count - sent);
    const settled = await Promise.allSettled(
      Array.from({ length: n }, (_, i) =>
        client.append(options.kind, {
          fault: 'chaos',
          i: sent + i,
          // base64 of random bytes: gzip gains little on it, so archives keep their size.
          pad: options.random ? randomBytes(Math.ceil((options.bytes * 3) / 4)).toString('base64').slice(0, options.bytes) : filler,
        }),
      ),
    );
    sent += n;
    appended += settled.filter((r) => r.status === 'fulfilled').length;
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) return { appended, error: failed.reason };
  }
  return { appended };
}

const isQuotaError = (err: unknown): boolean => err instanceof ImmutableLogRequestError && err.remoteName === 'LogQuotaExceededError';

/**
 * Flips one byte inside an entry's payload in a sealed segment (never the active one, whose damage
 * the log reports differently), appending entries first until a segment is sealed. The entry still
 * parses, so a verify reports `hash_mismatch` at its seq.
 *
 * restore: flips the byte back if it is still the flipped value.
 */
export async function corruptSealedLogEntry(
  ctx: FaultContext,
): Promise<Injected<{ segment: string; segmentFile: string; offset: number; original: number; flipped: number; seq: number; appended: number }>> {
  const client = immutableLogClient(ctx.config, 30_000);
  let appended = 0;
  const segmentBytes = ctx.config.kernels.immutable_log.segmentKb * 1024;
  for (let round = 0; sealedSegments(ctx.config).length === 0; round++) {
    if (round >= 4) throw new FaultError(`no sealed segment in ${logDir(ctx.config)} after appending ${appended} entries`);
    // A little more than one segment's worth seals the active segment.
    const fill = await appendFill(client, { count: Math.ceil((segmentBytes * 1.1) / 4096) + 1, bytes: 4096, random: false, kind: 'chaos.fill' });
    appended += fill.appended;
    if (fill.error !== undefined) throw new FaultError(`appending to seal a segment failed: ${errorText(fill.error)}`, { cause: fill.error });
  }
  const rec = sealedSegments(ctx.config).at(-1) as SegmentRecord;
  const segmentFile = path.join(logDir(ctx.config), 'segments', rec.name);
  const pick = pickPayloadByte(await readFile(segmentFile));
  if (!pick) throw new FaultError(`no entry of ${rec.name} has a string in its data to flip`);
  const original = (await readByte(segmentFile, pick.offset)) as number;
  const flipped = flipByte(original);
  await writeByte(segmentFile, pick.offset, flipped);
  const segment = path.relative(ctx.config.stateDir, segmentFile);
  return {
    detail: `flipped byte ${pick.offset} of ${segment} (seq ${pick.seq}): 0x${original.toString(16)} → 0x${flipped.toString(16)}`,
    segment,
    segmentFile,
    offset: pick.offset,
    original,
    flipped,
    seq: pick.seq,
    appended,
    restore: unflip(segmentFile, pick.offset, original),
  };
}

/**
 * Appends bulky entries (8 KB by default) until `GET /usage` shows at least `percent` % of the
 * log's quota used. At 100 % it stops at the first append the quota refuses.
 *
 * restore: nothing: an append-only log cannot un-append. Only archiving and cleanup (the quota
 * playbook's job) bring usage down.
 */
export async function fillLogQuota(
  ctx: FaultContext,
  options: { percent: number; entryBytes?: number },
): Promise<Injected<{ appended: number; usageBytes: number; quotaBytes: number; percent: number }>> {
  const entryBytes = options.entryBytes ?? 8192;
  const client = immutableLogClient(ctx.config, 30_000);
  let { usage } = await client.usage();
  const quotaBytes = usage.quotaBytes ?? ctx.config.kernels.immutable_log.quotaMb * MiB;
  const target = (Math.min(100, options.percent) / 100) * quotaBytes;
  let appended = 0;
  while (usage.usedBytes < target) {
    // ~300 bytes of envelope and 8 of index per entry; overshoot is bounded by one batch.
    const count = Math.max(1, Math.min(64, Math.ceil((target - usage.usedBytes) / (entryBytes + 308))));
    const fill = await appendFill(client, { count, bytes: entryBytes, random: false, kind: 'chaos.fill', parallel: 64 });
    appended += fill.appended;
    ({ usage } = await client.usage());
    if (fill.error === undefined) continue;
    // Full: the quota refuses what does not fit, which is where a percent near 100 ends.
    if (isQuotaError(fill.error)) break;
    throw fill.error;
  }
  const percent = Math.round((usage.usedBytes / quotaBytes) * 1000) / 10;
  return {
    detail: `appended ${appended} entries: the log uses ${usage.usedBytes} of ${quotaBytes} bytes (${percent} %)`,
    appended,
    usageBytes: usage.usedBytes,
    quotaBytes,
    percent,
    restore: async () => undefined,
  };
}

/**
 * Makes the log's gzipped archives exceed `mb` MB for real: appends incompressible entries, then
 * archives every sealed segment (`POST /archive` with keep 0), until `/usage` shows the archive
 * bytes above `mb` MB. Mind the quota: archives count against it.
 *
 * restore: nothing; removing archives is the cleanup playbook's job (and the chain's anchors stay).
 */
export async function growLogArchives(
  ctx: FaultContext,
  options: { mb: number },
): Promise<Injected<{ archiveBytes: number; archived: string[]; appended: number }>> {
  const client = immutableLogClient(ctx.config, 60_000);
  const target = options.mb * MiB;
  const segmentBytes = ctx.config.kernels.immutable_log.segmentKb * 1024;
  const entryBytes = 8192;
  const archived: string[] = [];
  let appended = 0;
  let { usage } = await client.usage();
  for (let round = 0; usage.archiveBytes <= target; round++) {
    if (round >= 8) throw new FaultError(`archives reached only ${usage.archiveBytes} of ${target} bytes after ${appended} appends`);
    // base64 gzips to about 3/4; one more segment's worth so the last of it is sealed, not active.
    const need = (target - usage.archiveBytes) / 0.74 + segmentBytes;
    const fill = await appendFill(client, { count: Math.ceil(need / (entryBytes + 300)), bytes: entryBytes, random: true, kind: 'chaos.archive-fill' });
    appended += fill.appended;
    if (isQuotaError(fill.error)) {
      throw new FaultError(`the log's quota refused appends before its archives reached ${options.mb} MB: ${errorText(fill.error)}`, { cause: fill.error });
    }
    if (fill.error !== undefined) throw fill.error;
    archived.push(...(await client.archive(0)).archived);
    ({ usage } = await client.usage());
  }
  return {
    detail: `appended ${appended} entries and archived ${archived.length} segments: archives hold ${usage.archiveBytes} bytes (> ${options.mb} MB)`,
    archiveBytes: usage.archiveBytes,
    archived,
    appended,
    restore: async () => undefined,
  };
}

// ---------------------------------------------------------------- message bus

/**
 * Publishes `count` messages (JetStream publish, acknowledged, in parallel batches) as `operator`,
 * so every durable consumer of the stream holding the subject — `telemetry_archive` of
 * LAYER1_TELEMETRY by default, which nobody pulls between runs — gets a backlog.
 *
 * restore: nothing; the backlog is for its consumers to drain (or the stream's limits to age out).
 */
export async function floodStream(
  ctx: FaultContext,
  options: { subject?: string; count: number; batch?: number },
): Promise<Injected<{ published: number; stream: string; pending: Record<string, number> }>> {
  const subject = options.subject ?? 'telemetry.layer1.flood';
  const batch = options.batch ?? 256;
  const policy = loadPolicy(policyFileOf(ctx.config));
  const stream = Object.entries(policy.streams).find(([, s]) => s.subjects.some((x) => subjectCovers(x, subject)))?.[0];
  if (!stream) throw new FaultError(`no stream of the ACL policy captures ${subject}: a flood there would be stored nowhere`);
  const nc = await connectBus(ctx.config, { name: 'layer1-chaos-flood' });
  try {
    const js = jetstream(nc, { timeout: 10_000 });
    let published = 0;
    const payload = 'x'.repeat(200);
    while (published < options.count) {
      const n = Math.min(batch, options.count - published);
      await Promise.all(Array.from({ length: n }, (_, i) => js.publish(subject, JSON.stringify({ flood: published + i, pad: payload }))));
      published += n;
    }
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const pending: Record<string, number> = {};
    for (const consumer of Object.keys(policy.streams[stream].consumers)) {
      pending[consumer] = (await jsm.consumers.info(stream, consumer).catch(() => null))?.num_pending ?? -1;
    }
    return {
      detail: `published ${published} messages to ${subject} (${stream}); pending: ${Object.entries(pending).map(([c, p]) => `${c} ${p}`).join(', ')}`,
      published,
      stream,
      pending,
      restore: async () => undefined,
    };
  } finally {
    await nc.close();
  }
}

/**
 * Deletes a durable consumer through the JetStream API, as `operator`.
 *
 * restore: `ensureStreams(config)`, which re-creates whatever the policy has and the bus lacks.
 */
export async function deleteConsumer(
  ctx: FaultContext,
  options: { stream?: string; consumer?: string } = {},
): Promise<Injected<{ stream: string; consumer: string }>> {
  const stream = options.stream ?? 'LAYER1_EVENTS';
  const consumer = options.consumer ?? 'self_healing_triggers';
  const nc = await connectBus(ctx.config, { name: 'layer1-chaos-delete-consumer' });
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    try {
      await jsm.consumers.delete(stream, consumer);
    } catch (err) {
      throw new FaultError(`could not delete consumer ${stream}/${consumer}: ${(err as Error).message}`, { cause: err });
    }
  } finally {
    await nc.close();
  }
  return {
    detail: `deleted durable consumer ${stream}/${consumer}`,
    stream,
    consumer,
    restore: async () => {
      await ensureStreams(ctx.config);
    },
  };
}

/** Lines appended to a file since it was `fromBytes` long. */
function linesSince(file: string, fromBytes: number): string[] {
  try {
    const buf = readFileSync(file);
    return buf.subarray(Math.min(fromBytes, buf.length)).toString('utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

const fileSize = (file: string): number => {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
};

/**
 * Connects to the bus as a kernel's own user (its rendered credentials and reply inbox, through
 * `connectBus`) and publishes a core NATS message where its ACL forbids. The server answers with
 * `-ERR 'Permissions Violation for Publish to "<subject>"'` (a PermissionViolationError on the
 * connection's status) and logs the violation to the bus log.
 *
 * restore: nothing; a refused publish changes nothing.
 */
export async function forbiddenPublish(
  ctx: FaultContext,
  options: { user?: string; subject?: string; timeoutMs?: number } = {},
): Promise<Injected<{ user: string; subject: string; refused: boolean; error: string | null; logLines: string[] }>> {
  const user = options.user ?? 'immutable_log';
  const subject = options.subject ?? 'system.control';
  const timeoutMs = options.timeoutMs ?? 2_000;
  const busLog = ctx.pm.logPath('bus');
  const logFrom = fileSize(busLog);
  const nc: NatsConnection = await connectBus(ctx.config, { user, name: `layer1-chaos-${user}` });
  let violation: PermissionViolationError | undefined;
  try {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error' && s.error instanceof PermissionViolationError && s.error.subject === subject) violation ??= s.error;
      }
    })();
    nc.publish(subject, JSON.stringify({ chaos: 'forbiddenPublish', user }));
    // The server handles a connection's protocol in order: its -ERR precedes the flush's PONG.
    await nc.flush();
    const deadline = Date.now() + timeoutMs;
    while (!violation && Date.now() < deadline) await sleep(10);
  } finally {
    await nc.close().catch(() => undefined);
  }
  // nats-server writes its log line asynchronously to the one it answers with.
  let logLines: string[] = [];
  const deadline = Date.now() + timeoutMs;
  do {
    logLines = linesSince(busLog, logFrom).filter((l) => /violation/i.test(l) && l.includes(subject));
    if (logLines.length > 0 || !violation) break;
    await sleep(50);
  } while (Date.now() < deadline);
  const refused = violation !== undefined;
  return {
    detail: refused
      ? `publish to ${subject} as ${user} refused: ${violation?.message}`
      : `publish to ${subject} as ${user} was NOT refused: the loaded ACL lets it through`,
    user,
    subject,
    refused,
    error: violation?.message ?? null,
    logLines,
    restore: async () => undefined,
  };
}

/**
 * `conf` (as renderNatsConf writes it) with `subject` taken out of `user`'s publish allow list.
 * @throws FaultError when the user's block or the subject in its allow list is not found
 */
export function withoutPublishAllow(conf: string, user: string, subject: string): string {
  const lines = conf.split('\n');
  const userLine = lines.findIndex((l) => l.trim() === `user: ${JSON.stringify(user)}`);
  if (userLine === -1) throw new FaultError(`nats.conf has no user ${user}`);
  const publish = /^(\s*publish: \{ allow: )\[(.*?)\](, deny: \[.*\] \})$/;
  for (let i = userLine + 1; i < lines.length && !/^\s*user: /.test(lines[i]); i++) {
    const m = publish.exec(lines[i]);
    if (!m) continue;
    const allow = JSON.parse(`[${m[2]}]`) as string[];
    if (!allow.includes(subject)) throw new FaultError(`${user} has no publish permission on ${subject} in nats.conf to take away`);
    const kept = allow.filter((s) => s !== subject);
    lines[i] = `${m[1]}[${kept.map((s) => JSON.stringify(s)).join(', ')}]${m[3]}`;
    return lines.join('\n');
  }
  throw new FaultError(`nats.conf has no publish permissions for user ${user}`);
}

/**
 * Makes the loaded bus configuration drift from the policy: takes `system.control` out of
 * `control_plane`'s publish allow list in `<stateDir>/bus/nats.conf`, then has nats-server reload
 * that file as it is (SIGHUP, waiting for the new load time).
 *
 * restore: re-renders from the policy and reloads, only when the file still differs from the render.
 */
export async function tamperBusConfig(
  ctx: FaultContext,
  options: { user?: string; subject?: string } = {},
): Promise<Injected<{ confFile: string; before: string; after: string; configLoadTime: string }>> {
  const user = options.user ?? 'control_plane';
  const subject = options.subject ?? 'system.control';
  const { confFile } = busPaths(ctx.config);
  const before = await sha256File(confFile);
  const tampered = withoutPublishAllow(readFileSync(confFile, 'utf8'), user, subject);
  // Written in place, as a hand edit would be; nats.conf holds passwords, so its mode stays 0600.
  const fh = await open(confFile, 'w', 0o600);
  try {
    await fh.writeFile(tampered);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  const after = await sha256File(confFile);
  const { configLoadTime } = await reloadBus(ctx.config, { render: false, pm: ctx.pm });
  return {
    detail: `took ${subject} out of ${user}'s publish allow list in ${path.relative(ctx.config.stateDir, confFile)} and reloaded the bus`,
    confFile,
    before,
    after,
    configLoadTime,
    restore: async () => {
      if (renderBus(ctx.config).changed) await reloadBus(ctx.config, { render: false, pm: ctx.pm });
    },
  };
}

// ---------------------------------------------------------------- coding agent, control plane, snapshots

/**
 * Flips one byte of the coding agent's model file (`<stateDir>/models/fixers.json`), a letter
 * inside a JSON string in its middle: the file still parses, only its checksum against
 * models/manifest.json tells it is damaged.
 *
 * restore: flips the byte back if it is still the flipped value.
 */
export async function corruptModelFile(
  ctx: FaultContext,
): Promise<Injected<{ file: string; offset: number; original: number; flipped: number }>> {
  const rel = path.join(MODELS_DIR, MODEL_FILES[0]);
  const file = path.join(ctx.config.stateDir, rel);
  if (!existsSync(file)) throw new FaultError(`${file} does not exist: the coding agent has not written its models yet`);
  const buf = await readFile(file);
  const offset = jsonStringByteOffset(buf, 0, buf.length, Math.floor(buf.length / 2));
  if (offset === -1) throw new FaultError(`${file} holds no JSON string to flip a byte in`);
  const original = buf[offset];
  const flipped = flipByte(original);
  await writeByte(file, offset, flipped);
  return {
    detail: `flipped byte ${offset} of ${rel}: 0x${original.toString(16)} → 0x${flipped.toString(16)}`,
    file: rel,
    offset,
    original,
    flipped,
    restore: unflip(file, offset, original),
  };
}

/**
 * Terminates the control-plane workflow (`layer1-control-plane`) with a reason.
 *
 * restore: nothing; bringing it back is the control_plane_failover playbook's job (and `layer1 up`'s).
 */
export async function terminateControlPlane(
  ctx: FaultContext,
  options: { reason?: string } = {},
): Promise<Injected<{ workflowId: string; runId: string }>> {
  if (!ctx.temporal) throw new FaultError('terminateControlPlane needs a Temporal client (ctx.temporal)');
  const handle = ctx.temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
  const desc = await handle.describe();
  if (desc.status.name !== 'RUNNING') throw new FaultError(`${CONTROL_PLANE_WORKFLOW_ID} is not running (${desc.status.name})`);
  const reason = options.reason ?? 'chaos: terminateControlPlane';
  await handle.terminate(reason);
  return {
    detail: `terminated ${CONTROL_PLANE_WORKFLOW_ID} (run ${desc.runId}): ${reason}`,
    workflowId: CONTROL_PLANE_WORKFLOW_ID,
    runId: desc.runId,
    restore: async () => undefined,
  };
}

/**
 * Moves every complete snapshot (`snapshots/<label>/<id>/`) to `<stateDir>/snapshots-hidden-<ts>/`
 * (same file system, so each move is a rename), leaving no fresh snapshot. A take in progress (its
 * `.tmp-` directory) is left alone. `keepLabels` spares some labels.
 *
 * restore: moves them back, skipping any whose name exists again (a newer take of the same id).
 */
export async function hideSnapshots(
  ctx: FaultContext,
  options: { keepLabels?: string[] } = {},
): Promise<Injected<{ hiddenDir: string; moved: string[] }>> {
  const root = path.join(ctx.config.stateDir, SNAPSHOTS_DIR);
  const hiddenDir = path.join(ctx.config.stateDir, `${SNAPSHOTS_DIR}-hidden-${Date.now()}`);
  const moved: string[] = [];
  const dirs = (p: string): string[] => {
    try {
      return readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      return [];
    }
  };
  for (const label of dirs(root)) {
    if (options.keepLabels?.includes(label)) continue;
    for (const id of dirs(path.join(root, label))) {
      if (id.startsWith('.tmp-')) continue;
      mkdirSync(path.join(hiddenDir, label), { recursive: true });
      renameSync(path.join(root, label, id), path.join(hiddenDir, label, id));
      moved.push(`${label}/${id}`);
    }
  }
  return {
    detail: `moved ${moved.length} snapshot(s) to ${path.relative(ctx.config.stateDir, hiddenDir)}`,
    hiddenDir,
    moved,
    restore: async () => {
      for (const rel of moved) {
        const from = path.join(hiddenDir, rel);
        const to = path.join(root, rel);
        if (!existsSync(from) || existsSync(to)) continue;
        mkdirSync(path.dirname(to), { recursive: true });
        renameSync(from, to);
      }
      // Only empty directories go; a snapshot left behind (its name taken meanwhile) stays visible here.
      for (const label of dirs(hiddenDir)) {
        try {
          rmdirSync(path.join(hiddenDir, label));
        } catch {
          // Not empty.
        }
      }
      try {
        rmdirSync(hiddenDir);
      } catch {
        // Not empty, or already gone.
      }
    },
  };
}
