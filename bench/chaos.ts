/**
 * Chaos benchmark (issue 17): every shipped failure card drilled --runs times (default 5) on the
 * benchmarks' own stack, through the drill workflow as `layer1 chaos run` starts it. Per card: the
 * drills that passed all four gates, time to detect (injection → first evidence tagged with the
 * drill) and to recover (injection → the card's recovery probes hold), p50 and p95, and the
 * success rate. The targets the issue sets: 100 % success; recovery p50 ≤ 1 s for process cards
 * (kill, stall, stress) and ≤ 5 s for file cards (code, config, model, log, bus config).
 *
 *   npm run build && node dist/bench/chaos.js [--runs 5] [--only kernel_crash,heartbeat_stop]
 */
import path from 'node:path';
import type { DrillResult } from '../contracts/chaos';
import { loadCards } from '../src/chaos/cards/loader';
import type { ChaosCard } from '../src/chaos/cards/format';
import { failingProbes } from '../src/chaos/harness/probes';
import { awaitDrill, startDrill } from '../src/chaos/harness/start';
import { sealedSegmentSnapshotted, type ScenarioContext } from '../src/chaos/scenarios';
import { connectStore } from '../src/clients/store';
import { connectClient } from '../src/clients/temporal';
import { loadConfig } from '../src/config/load';
import { processManager, stopAll } from '../src/stack/stack';
import { REPO_ROOT } from '../src/stack/tools';
import { runBoot } from '../scripts/kernel-verbs';
import { argOf, freshStack, percentile, printTable, progress } from './support';

/** Cards whose fault is a process's (killed, stopped, a runaway); the others damage a file. */
const PROCESS_FAULTS = new Set(['killProcess', 'stallProcess', 'throttleProcess', 'crashLoop', 'startRunaway']);

async function steady(ctx: ScenarioContext, card: ChaosCard, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let failing = await failingProbes(ctx, card.steadyState); failing.length > 0; failing = await failingProbes(ctx, card.steadyState)) {
    // A snapshot of the sealed segments, when the card asks for one (log_entry_corruption).
    if (failing.some((f) => f.startsWith('sealed_segment_snapshotted'))) await sealedSegmentSnapshotted(ctx);
    if (Date.now() > deadline) throw new Error(`the steady state of ${card.id} did not hold within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

const fmt = (v: number): string => (Number.isNaN(v) ? '-' : `${Math.round(v)} ms`);

function row(card: ChaosCard, drills: DrillResult[]): Record<string, string | number> {
  const passed = drills.filter((d) => d.ok);
  const detect = passed.flatMap((d) => (d.timeToDetectMs === null ? [] : [d.timeToDetectMs]));
  const recover = passed.flatMap((d) => (d.timeToRecoverMs === null ? [] : [d.timeToRecoverMs]));
  const kind = PROCESS_FAULTS.has(card.injection.fault) ? 'process' : 'file';
  const target = kind === 'process' ? 1_000 : 5_000;
  const p50 = percentile(recover, 50);
  const failedGates = drills.flatMap((d) => d.gates.filter((g) => !g.ok).slice(0, 1).map((g) => g.name));
  return {
    card: card.id,
    kind,
    'all gates': `${passed.length}/${drills.length}`,
    'detect p50': fmt(percentile(detect, 50)),
    'detect p95': fmt(percentile(detect, 95)),
    'recover p50': fmt(p50),
    'recover p95': fmt(percentile(recover, 95)),
    success: `${Math.round((100 * passed.length) / Math.max(1, drills.length))}%`,
    target: `${p50 <= target ? 'met' : 'MISSED'} (p50 ≤ ${target / 1000} s)`,
    'failed at': failedGates.join(',') || '-',
  };
}

async function main(): Promise<void> {
  const runs = Number(argOf('runs') ?? 5);
  const only = argOf('only')?.split(',');
  const config = loadConfig(path.join(REPO_ROOT, 'bench', 'layer1.playbooks.yaml'), {});
  const cards = loadCards().cards.filter((c) => !only || only.includes(c.id));
  progress(`fresh stack from ${config.configFile}; ${cards.length} cards × ${runs} runs`);
  await freshStack(config);
  const client = await connectClient(config);
  const store = await connectStore(config);
  const ctx: ScenarioContext = { config, pm: processManager(config), db: store.db, temporal: client };
  const rows: Array<Record<string, string | number>> = [];
  try {
    const boot = await runBoot(config, client, () => undefined);
    if (!boot.ok) throw new Error(`boot failed: ${boot.failedChecks.join('; ')}`);
    for (const card of cards) {
      const drills: DrillResult[] = [];
      for (let i = 1; i <= runs; i++) {
        await steady(ctx, card);
        const r = await awaitDrill(await startDrill(config, client, card, 'bench'));
        drills.push(r);
        const failed = r.gates.find((g) => !g.ok);
        progress(`${card.id} ${i}/${runs}: ${r.result}, detect ${r.timeToDetectMs} ms, recover ${r.timeToRecoverMs} ms${failed ? ` (${failed.name}: ${failed.detail.slice(0, 160)})` : ''}`);
      }
      rows.push(row(card, drills));
    }
  } finally {
    await client.connection.close();
    await store.close();
    await stopAll(config, () => undefined);
  }
  printTable(rows);
  const total = rows.reduce((n, r) => n + Number(String(r['all gates']).split('/')[0]), 0);
  console.log(`\n${total}/${cards.length * runs} drills passed all four gates`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
