/**
 * One fault, one remedy, for the bus: `kill -9` of nats-server, `--kills` times (10 by default), on
 * the bench's own stack (bench/layer1.bus-kills.yaml). After each kill the bench waits for the
 * dispatched `message_bus_restart_drain` run and for every kernel to be ready again, lets late
 * evidence arrive (the dependencies detector needs two missed probes), and then counts, from
 * Temporal's visibility and the store, not from a run's report:
 *   runs      playbook runs started since the kill: exactly one, message_bus_restart_drain, succeeded
 *   failed    playbook runs since the kill that did not succeed: none
 *   dep       dependency_unreachable evidence of the bus recorded since the kill, and how the seam
 *             handled it (a consequence of the bus outage, never dispatched)
 * plus the scenario's own independent check (the bus answers, the policy's streams and consumers,
 * every user's enforced rules, a new message taken by the triggers' reader).
 *
 *   npm run build && npm run bench:bus-kills [-- --kills 10] [--config FILE]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { connectClient } from '../src/clients/temporal';
import { connectStore } from '../src/clients/store';
import { immutableLogClient } from '../kernels/registry';
import { EVIDENCE_COLLECTION } from '../src/clients/collections';
import { processManager, stopAll } from '../src/stack/stack';
import { allKernelsReady } from '../src/stack/kernel-readiness';
import { runBoot } from '../scripts/kernel-verbs';
import { awaitDispatchedRun, SCENARIOS, type ScenarioContext } from '../src/chaos/scenarios';
import { REPO_ROOT } from '../src/stack/tools';
import { loadConfig } from '../src/config/load';
import path from 'node:path';
import { argOf, freshStack, percentile, printTable, progress } from './support';

const SCENARIO = SCENARIOS.find((s) => s.playbook === 'message_bus_restart_drain')!;
/** Long enough for the dependencies detector's second missed probe, and its dispatch, to show. */
const SETTLE_MS = 5_000;
/** A run aimed at the bus: the dispatcher's id ends with its target, the kernel or the process. */
const BUS_TARGET = /-(message_bus|bus)$/;

/** Until no playbook run has been running for `quietMs` (the boot's own first runs, a stale snapshot's). */
async function quiet(temporal: Client, quietMs: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let since = Date.now();
  while (Date.now() < deadline) {
    let running = false;
    for await (const w of temporal.workflow.list({ query: `WorkflowType = 'playbookWorkflow' AND ExecutionStatus = 'Running'` })) running = running || Boolean(w);
    if (running) since = Date.now();
    else if (Date.now() - since >= quietMs) return;
    await sleep(500);
  }
}

interface KillResult {
  kill: number;
  remedy: string;
  outcome: string;
  /** Runs started since the kill aimed at the bus (`…-message_bus`, `…-bus`): the remedies of this fault. */
  runs: string[];
  /** Runs of anything else started meanwhile (a snapshot schedule, say): listed, not this fault's. */
  others: string[];
  failed: string[];
  depEvidence: number;
  depHandled: string[];
  verified: string;
  healedMs: number;
}

/** Every playbook run started since `sinceMs`: `playbook status` each (visibility). */
async function runsSince(temporal: Client, sinceMs: number): Promise<Array<{ id: string; status: string }>> {
  const out: Array<{ id: string; status: string }> = [];
  const query = `WorkflowType = 'playbookWorkflow' AND StartTime >= '${new Date(sinceMs).toISOString()}'`;
  for await (const w of temporal.workflow.list({ query })) out.push({ id: w.workflowId, status: w.status.name });
  return out;
}

async function oneKill(ctx: ScenarioContext, kill: number): Promise<KillResult> {
  const since = Date.now();
  const logHead = (await immutableLogClient(ctx.config).head()).seq;
  const injected = await SCENARIO.inject(ctx);
  const run = await awaitDispatchedRun(ctx.temporal, SCENARIO.workflowId, since, 120_000).catch((err: Error) => ({ report: { outcome: `no run: ${err.message}` } }) as never);
  await allKernelsReady(ctx, 60_000);
  const healedMs = Date.now() - since;
  await sleep(SETTLE_MS);
  let verified = 'ok';
  try {
    await SCENARIO.verify(ctx, injected, { since, logHead });
  } catch (err) {
    verified = (err as Error).message;
  }
  // Runs still going are waited for: a run that fails late still counts as failed.
  let runs = await runsSince(ctx.temporal, since - 1_000);
  for (let i = 0; i < 60 && runs.some((r) => r.status === 'RUNNING'); i++) {
    await sleep(1_000);
    runs = await runsSince(ctx.temporal, since - 1_000);
  }
  const dep = await ctx.db
    .collection(EVIDENCE_COLLECTION)
    .find({ kind: 'dependency_unreachable', 'data.dependency': 'bus', firstSeen: { $gte: new Date(since - 1_000) } })
    .toArray();
  return {
    kill,
    remedy: SCENARIO.playbook,
    outcome: (run as { report: { outcome: string } }).report.outcome,
    runs: runs.filter((r) => BUS_TARGET.test(r.id)).map((r) => `${r.id.replace(/^dispatch-/, '')} ${r.status.toLowerCase()}`),
    others: runs.filter((r) => !BUS_TARGET.test(r.id)).map((r) => `${r.id.replace(/^dispatch-/, '')} ${r.status.toLowerCase()}`),
    failed: runs.filter((r) => r.status !== 'COMPLETED').map((r) => `${r.id} ${r.status}`),
    depEvidence: dep.length,
    depHandled: dep.map((d) => String((d.dispatch as { outcome?: string } | undefined)?.outcome ?? 'not yet')),
    verified,
    healedMs,
  };
}

async function main(): Promise<void> {
  const kills = Number(argOf('kills') ?? 10);
  const file = argOf('config');
  const config = loadConfig(path.resolve(file ?? path.join(REPO_ROOT, 'bench', 'layer1.bus-kills.yaml')), {});
  progress(`starting the bench stack (${config.configFile})`);
  await freshStack(config);
  const temporal = await connectClient(config);
  const store = await connectStore(config);
  const ctx: ScenarioContext = { config, pm: processManager(config), db: store.db, temporal };
  const results: KillResult[] = [];
  try {
    const boot = await runBoot(config, temporal, () => undefined);
    if (!boot.ok) throw new Error(`boot failed: ${boot.failedChecks.join('; ')}`);
    await allKernelsReady(ctx, 60_000);
    await quiet(temporal, 5_000, 120_000);
    for (let i = 1; i <= kills; i++) {
      const r = await oneKill(ctx, i);
      results.push(r);
      progress(`kill ${i}: ${r.remedy} ${r.outcome} in ${(r.healedMs / 1000).toFixed(1)} s; runs for the bus: ${r.runs.join(', ') || 'none'}; others: ${r.others.join(', ') || 'none'}; dependency_unreachable evidence ${r.depEvidence} (${r.depHandled.join(', ')}); verify: ${r.verified}`);
    }
  } finally {
    await temporal.connection.close();
    await store.close();
    await stopAll(config, () => undefined);
  }
  printTable(
    results.map((r) => ({
      kill: r.kill,
      remedy: `${r.remedy} ${r.outcome}`,
      'bus runs': r.runs.length,
      'other runs': r.others.length,
      failed: r.failed.length,
      'dep. evidence (handled)': `${r.depEvidence} (${[...new Set(r.depHandled)].join(', ') || '-'})`,
      verify: r.verified === 'ok' ? 'ok' : 'FAILED',
      'kill → ready': `${(r.healedMs / 1000).toFixed(1)} s`,
    })),
  );
  const healed = results.map((r) => r.healedMs);
  const good = results.filter((r) => r.outcome === 'succeeded' && r.runs.length === 1 && r.failed.length === 0 && r.verified === 'ok').length;
  console.log(`\n${good}/${results.length} kills: one remedy run, succeeded, no other run, independent check passed; kill → ready p50 ${(percentile(healed, 50) / 1000).toFixed(1)} s, max ${(Math.max(...healed) / 1000).toFixed(1)} s`);
  for (const r of results) if (r.verified !== 'ok' || r.failed.length > 0) console.log(`kill ${r.kill}: ${r.failed.join('; ')} ${r.verified}`);
  if (good !== results.length) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
