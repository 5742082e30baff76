/**
 * What the distributed deployment's test tier (test/dist/) and its benchmark (bench/dist.ts) share:
 * its config, its scripts, and the pieces of a failure drill — a crash by pid file (kill -9), the
 * evidence Layer 1 recorded for it, the time until `layer1 status` is healthy again, messages
 * published before the loss and delivered after it, a playbook waiting at its approval gate through
 * the loss and completing after it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Db } from 'mongodb';
import { loadConfig, type LoadedConfig } from '../../src/config/load';
import { connectBus } from '../../src/clients/bus';
import { EVIDENCE_COLLECTION } from '../../src/clients/collections';
import type { StoredEvidence } from '../../src/healing/seam';
import { REPO_ROOT } from '../../src/stack/repo-root';
import { fullStatus } from '../../scripts/stack-verbs';
import { approveStepUpdate, getPlaybookProgressQuery, PLAYBOOK_WORKFLOW, PLAYBOOK_WORKFLOW_TASK_TIMEOUT, type PlaybookWorkflow } from '../../contracts/playbook';
import { findPlaybook, resolveRunParams } from '../../src/playbooks/loader';

export const DIST_DIR = path.join(REPO_ROOT, 'deploy', 'dist');
export const DIST_STATE = process.env.DIST_STATE ? path.resolve(process.env.DIST_STATE) : path.join(REPO_ROOT, '.layer1-dist');
export const DIST_CONFIG = process.env.LAYER1_CONFIG ? path.resolve(process.env.LAYER1_CONFIG) : path.join(DIST_DIR, 'layer1.dist.yaml');

/** The shipped config with the state dir the scripts give it (lib.sh: $DIST_STATE/layer1). */
export function distConfig(): LoadedConfig {
  return loadConfig(DIST_CONFIG, { LAYER1_STATE_DIR: process.env.LAYER1_STATE_DIR ?? path.join(DIST_STATE, 'layer1') });
}

/** Runs deploy/dist/<script> with args; its output goes to stderr (progress), or is returned when `capture`. */
export function distScript(script: string, args: string[] = [], opts: { capture?: boolean; env?: NodeJS.ProcessEnv } = {}): string {
  const out = execFileSync('bash', [path.join(DIST_DIR, script), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, DIST_STATE, LAYER1_CONFIG: DIST_CONFIG, ...opts.env },
    stdio: ['ignore', opts.capture ? 'pipe' : 'inherit', 'inherit'],
    encoding: 'utf8',
  });
  return out ?? '';
}

/** The pid in $DIST_STATE/run/<name>.pid, or null. */
export function serverPid(name: string): number | null {
  const f = path.join(DIST_STATE, 'run', `${name}.pid`);
  if (!existsSync(f)) return null;
  const pid = Number(readFileSync(f, 'utf8').trim());
  try {
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/** kill -9 of the named server processes; returns their pids. */
export function crash(names: string[]): number[] {
  return names.map((n) => {
    const pid = serverPid(n);
    if (pid === null) throw new Error(`${n} does not run (no live pid in ${DIST_STATE}/run/${n}.pid)`);
    process.kill(pid, 'SIGKILL');
    return pid;
  });
}

/** Waits until each named server runs again as a new process (the deployment's restart policy). */
export async function restarted(names: string[], oldPids: number[], timeoutMs = 60_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (names.every((n, i) => {
      const p = serverPid(n);
      return p !== null && p !== oldPids[i];
    })) return Date.now();
    await sleep(100);
  }
  throw new Error(`${names.join(', ')} not started again within ${timeoutMs / 1000} s (is DIST_RESTART=always?)`);
}

/** One `layer1 status` (what the CLI computes, in process), and what was unhealthy. */
export async function statusLine(config: LoadedConfig): Promise<{ healthy: boolean; line: string }> {
  try {
    const s = await fullStatus(config);
    const bad = [
      ...Object.entries(s.services).filter(([, v]) => !v.healthy).map(([n, v]) => `${n}: ${v.detail.slice(0, 80)}`),
      ...s.workers.filter((w) => !w.healthy).map((w) => `${w.name}: ${w.detail.slice(0, 60)}`),
      ...s.kernels.filter((k) => !k.ready).map((k) => `${k.name} ${k.state}`),
    ];
    return { healthy: s.healthy, line: s.healthy ? 'healthy' : `NOT healthy: ${bad.join('; ')}` };
  } catch (err) {
    return { healthy: false, line: `status failed: ${(err as Error).message.slice(0, 120)}` };
  }
}

/**
 * Samples `layer1 status` from the kill on, printing each change, until it is healthy `stableMs` on end
 * after `back` (the killed processes run again), or `timeoutMs` passes. Returns when it was healthy
 * again for good, epoch ms (the kill's own time when it never stopped being healthy), when the
 * processes were back, and how many samples were not healthy.
 */
export async function healthyAgain(
  config: LoadedConfig,
  say: (m: string) => void,
  t0: number,
  back: Promise<number>,
  timeoutMs = 180_000,
  stableMs = 3_000,
): Promise<{ at: number; backAt: number; unhealthySamples: number }> {
  let backAt: number | null = null;
  let failed: unknown = null;
  back.then((at) => (backAt = at), (err: unknown) => (failed = err));
  let since: number | null = t0;
  let unhealthy = 0;
  let last = '';
  while (Date.now() - t0 < timeoutMs) {
    if (failed) throw failed;
    const s = await statusLine(config);
    const now = Date.now();
    if (s.line !== last) say(`${((now - t0) / 1000).toFixed(1).padStart(6)} s  ${s.line}`);
    last = s.line;
    if (!s.healthy) {
      unhealthy++;
      since = null;
    } else {
      since ??= now;
      if (backAt !== null && now - Math.max(since, backAt) >= stableMs) return { at: since, backAt, unhealthySamples: unhealthy };
    }
    await sleep(250);
  }
  throw new Error(`layer1 status not healthy ${timeoutMs / 1000} s after the kill (processes back: ${backAt !== null}): ${last}`);
}

/**
 * The evidence of `kind` (external_down, external_back) of an outage that began at `sinceMs` or
 * later (its `data.downAt`, the first failed probe) whose data matches `data`, waiting up to `timeoutMs`.
 */
export async function evidenceSince(db: Db, kind: string, data: Record<string, unknown>, sinceMs: number, timeoutMs = 60_000): Promise<StoredEvidence[]> {
  const filter = { kind, 'data.downAt': { $gte: sinceMs - 1_000 }, ...Object.fromEntries(Object.entries(data).map(([k, v]) => [`data.${k}`, v])) } as never;
  const coll = db.collection<StoredEvidence>(EVIDENCE_COLLECTION);
  const t0 = Date.now();
  for (;;) {
    const found = await coll.find(filter).toArray().catch(() => []);
    if (found.length > 0 || Date.now() - t0 > timeoutMs) return found;
    await sleep(500);
  }
}

/** The stream holding the drills' messages (the telemetry subjects: nothing of Layer 1 acts on them). */
export const DRILL_STREAM = 'LAYER1_TELEMETRY';

/** Which node leads each of Layer 1's streams (nats-server's server_name, dist-n1..3). */
export async function streamLeaders(config: LoadedConfig): Promise<Record<string, string>> {
  const nc = await connectBus(config, { user: 'operator', name: 'layer1-dist-drill' });
  try {
    const jsm = await jetstreamManager(nc);
    const out: Record<string, string> = {};
    for await (const si of jsm.streams.list()) out[si.config.name] = si.cluster?.leader ?? '-';
    return out;
  } finally {
    await nc.close();
  }
}

/**
 * Publishes `count` messages on the drill stream behind a durable consumer of their own, before a
 * loss; `deliver()` later pulls them (and removes the consumer): every id published must come back.
 */
export async function messagesBeforeLoss(config: LoadedConfig, id: string, count = 5): Promise<{ ids: string[]; deliver: () => Promise<string[]> }> {
  const subject = `telemetry.layer1.dist-drill.${id}`;
  const durable = `dist-drill-${id}`;
  const nc = await connectBus(config, { user: 'operator', name: 'layer1-dist-drill' });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(DRILL_STREAM, { durable_name: durable, filter_subject: subject, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
    const js = jetstream(nc);
    const ids = Array.from({ length: count }, (_, i) => `${id}-${i}`);
    for (const m of ids) await js.publish(subject, JSON.stringify({ drill: m }));
    return { ids, deliver: () => deliverAll(config, durable, count) };
  } finally {
    await nc.close();
  }
}

async function deliverAll(config: LoadedConfig, durable: string, count: number): Promise<string[]> {
  const nc = await connectBus(config, { user: 'operator', name: 'layer1-dist-drill' });
  try {
    const js = jetstream(nc);
    const got: string[] = [];
    const consumer = await js.consumers.get(DRILL_STREAM, durable);
    for (let round = 0; round < 10 && got.length < count; round++) {
      const batch = await consumer.fetch({ max_messages: count - got.length, expires: 2_000 });
      for await (const m of batch) {
        got.push((m.json() as { drill: string }).drill);
        m.ack();
      }
    }
    await (await jetstreamManager(nc)).consumers.delete(DRILL_STREAM, durable).catch(() => undefined);
    return got;
  } finally {
    await nc.close();
  }
}

/** A run of examples/playbooks audit_and_snapshot, waiting at its approval gate; `finish()` approves it and waits for its outcome. */
export async function playbookAtGate(config: LoadedConfig, client: Client, id: string): Promise<{ workflowId: string; finish: (client: Client) => Promise<string> }> {
  const playbook = findPlaybook('audit_and_snapshot', path.join(REPO_ROOT, 'examples', 'playbooks'));
  const workflowId = `playbook-audit_and_snapshot-dist-${id}`;
  const handle = await client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, {
    taskQueue: config.temporal.taskQueues.healing,
    workflowId,
    workflowTaskTimeout: PLAYBOOK_WORKFLOW_TASK_TIMEOUT,
    args: [{ playbook, params: resolveRunParams(playbook, { note: `dist drill ${id}` }), dryRun: false, startedBy: 'test:dist' }],
  });
  let gate: string | undefined;
  for (let i = 0; i < 120 && !gate; i++) {
    const r = await handle.query(getPlaybookProgressQuery).catch(() => null);
    gate = r?.steps.find((s) => s.status === 'waiting_approval')?.id;
    if (!gate) await sleep(500);
  }
  if (!gate) throw new Error(`${workflowId} did not reach its approval gate within 60 s`);
  const step = gate;
  return {
    workflowId,
    finish: async (c) => {
      const h = c.workflow.getHandle<PlaybookWorkflow>(workflowId);
      await h.executeUpdate(approveStepUpdate, { args: [{ step, by: 'test:dist' }] });
      const report = await h.result();
      return report.outcome;
    },
  };
}
