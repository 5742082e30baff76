/**
 * Probes: read the system itself — the process table, files and their checksums, the servers'
 * own answers — and throw a {@link ProbeError} saying what is still wrong. The scenarios' `verify`
 * (the independent check after a playbook ran) is built from them; they never read a run's report,
 * so a playbook that reports success without having repaired anything fails them.
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Db } from 'mongodb';
import { CONTROL_PLANE_WORKFLOW_ID, getControlPlaneStatusQuery } from '../../contracts/control-plane';
import { immutableLogClient } from '../../kernels/registry';
import { livePollers } from '../../kernels/kernel';
import { BACKLOG_COLLECTION } from '../clients/collections';
import { readLogEntries } from '../clients/audit-log';
import { withDeadline } from '../deadline';
import { procStartTicks, procStatFields } from '../process/manager';
import { SnapshotStore, sha256File, SNAPSHOTS_DIR } from '../snapshots/store';
import type { BacklogItem } from '../backlog/store';
import type { KernelContext } from '../../kernels/registry';
import type { KernelName } from '../domain/kernels';
import { controlPlaneStatus } from '../stack/kernel-status';

/** What a probe reads the system with (the scenarios' context is one). */
export type ScenarioContext = KernelContext;

/** What a probe found wrong. */
export class ProbeError extends Error {
  override name = 'ProbeError';
}

function fail(message: string): never {
  throw new ProbeError(message);
}

/** The process `pid` (started at `ticks`, when known) no longer runs: gone, a zombie, or its pid reused. */
export function processGone(pid: number, what: string, ticks?: number | null): void {
  const state = procStatFields(pid)?.[0];
  if (state === undefined || state === 'Z' || state === 'X') return;
  if (ticks != null && procStartTicks(pid) !== ticks) return;
  fail(`${what} (pid ${pid}) still runs (state ${state})`);
}

/** The managed process runs, is not stopped, and is not the pid the fault hit. */
export function processReplaced(ctx: ScenarioContext, name: string, oldPid: number): number {
  const pid = ctx.pm.pid(name);
  if (pid === null) fail(`${name} is not running`);
  if (pid === oldPid) fail(`${name} is still pid ${oldPid}, the process the fault hit`);
  const state = procStatFields(pid)?.[0];
  if (state === 'T' || state === 't') fail(`${name} (pid ${pid}) is stopped`);
  return pid;
}

/** `name`'s current process polls `taskQueue` in Temporal (its identity `name:pid@host`). */
export async function pollsTaskQueue(ctx: ScenarioContext, name: string, taskQueue: string): Promise<void> {
  const pid = ctx.pm.pid(name);
  const pollers = await livePollers(ctx, taskQueue);
  if (!pollers.some((p) => p.startsWith(`${name}:${pid}@`))) fail(`${name} (pid ${pid}) does not poll ${taskQueue}; pollers: ${pollers.join(', ') || 'none'}`);
}

/** The control plane workflow runs (another run than `notRunId`, if given) and answers its status query within `ms`. */
export async function controlPlaneAnswers(ctx: ScenarioContext, ms: number, notRunId?: string): Promise<void> {
  const handle = ctx.temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
  const d = await handle.describe();
  if (d.status.name !== 'RUNNING') fail(`the control plane is ${d.status.name}`);
  if (notRunId && d.runId === notRunId) fail(`the control plane is still run ${notRunId}`);
  const t0 = Date.now();
  await withDeadline(handle.query(getControlPlaneStatusQuery), ms, `the control plane did not answer its status query within ${ms} ms`).catch((err: Error) => fail(err.message));
  const took = Date.now() - t0;
  if (took > ms) fail(`the control plane answered in ${took} ms (deadline ${ms} ms)`);
}

/**
 * The control plane has `kernel` ready again, since at most `ms` after `since`: a repair that only
 * comes when some slower mechanism gives up (a restart's own timeout) is not the playbook's.
 */
export async function kernelReadyWithin(ctx: ScenarioContext, kernel: string, since: number, ms: number): Promise<void> {
  const status = await withDeadline(controlPlaneStatus(ctx.temporal), 5_000);
  const rec = status?.kernels[kernel as KernelName];
  if (!rec?.readySince) fail(`${kernel} is ${rec?.state ?? 'unknown'} in the control plane, not ready`);
  const took = Date.parse(rec.readySince) - since;
  if (took > ms) fail(`${kernel} was ready again ${took} ms after the fault (at most ${ms} ms)`);
}

/** Total bytes of the files under `dir` (0 when it does not exist). */
export async function dirBytes(dir: string): Promise<number> {
  if (!existsSync(dir)) return 0;
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    // A file may go between the listing and its stat (a temporary file renamed into place): it counts 0.
    total += e.isDirectory() ? await dirBytes(p) : e.isFile() ? ((await stat(p).catch(() => null))?.size ?? 0) : 0;
  }
  return total;
}

/** The immutable log's whole chain verifies and reaches at least `minSeq`. */
export async function logChainVerifies(ctx: ScenarioContext, minSeq = 0): Promise<void> {
  const verify = await immutableLogClient(ctx.config, 60_000).verify({ full: true }, 60_000);
  if (!verify.ok) fail(`the log chain does not verify: ${JSON.stringify(verify.failure)}`);
  if (verify.toSeq < minSeq) fail(`the chain covers seq 1..${verify.toSeq}, not the ${minSeq} acknowledged before`);
}

/** An entry of `kind` from `fromSeq` on whose data matches every field of `data`. */
export async function logHasEntry(ctx: ScenarioContext, fromSeq: number, kind: string, data: Record<string, unknown>): Promise<void> {
  const entries = await readLogEntries(immutableLogClient(ctx.config, 30_000), fromSeq);
  const hit = entries.find((e) => e.kind === kind && Object.entries(data).every(([k, v]) => (e.data as Record<string, unknown> | null)?.[k] === v));
  if (!hit) fail(`no ${kind} entry with ${JSON.stringify(data)} in the log from seq ${fromSeq}`);
}

/** A backlog item opened at or after `since` whose title matches, with that severity. */
export async function backlogItemOpened(db: Db, since: number, title: RegExp, severity: BacklogItem['severity']): Promise<void> {
  const items = await db
    .collection<BacklogItem>(BACKLOG_COLLECTION)
    .find({ createdAt: { $gte: new Date(since - 1_000) } })
    .toArray();
  if (!items.some((i) => title.test(i.title) && i.severity === severity)) {
    fail(`no ${severity} backlog item matching ${title} since the fault (saw: ${items.map((i) => i.title).join('; ') || 'none'})`);
  }
}

/**
 * A snapshot (other than the model baseline) taken within `maxAgeMs`, whose every copy still has
 * its manifest's SHA-256: fresh and restorable.
 */
export async function freshSnapshot(ctx: ScenarioContext, maxAgeMs: number, exceptLabels: readonly string[] = []): Promise<void> {
  const store = new SnapshotStore(ctx.config.stateDir);
  const newest = (await store.list()).find((m) => !exceptLabels.includes(m.label));
  if (!newest) fail('there is no snapshot');
  const age = Date.now() - Date.parse(newest.createdAt);
  if (age > maxAgeMs) fail(`the newest snapshot ${newest.id} is ${age} ms old (at most ${maxAgeMs})`);
  if (newest.files.length === 0) fail(`snapshot ${newest.id} holds no file`);
  for (const f of newest.files) {
    const copy = path.join(ctx.config.stateDir, SNAPSHOTS_DIR, newest.label, newest.id, 'files', f.path);
    const sha = await sha256File(copy).catch(() => null);
    if (sha !== f.sha256) fail(`snapshot ${newest.id}: ${f.path} has SHA-256 ${sha ?? 'none'}, its manifest says ${f.sha256}`);
  }
}
