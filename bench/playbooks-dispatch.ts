/**
 * Dispatch benchmark: for every shipped playbook, its real failure is injected (src/chaos/scenarios.ts)
 * and timed until the system is healthy again, with nobody acting:
 *   detection  fault injected → the detector saw the evidence
 *   repair     evidence seen → the dispatched playbook run finished
 *   healthy    fault injected → every kernel's self-test passes again
 * p50 over --runs runs (default 5), on its own stack (bench/layer1.playbooks.yaml).
 *
 *   npm run build && node dist/bench/playbooks-dispatch.js [--runs 5] [--only name,name]
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig, type LoadedConfig } from '../src/config/load';
import { connectClient } from '../src/clients/temporal';
import { connectStore } from '../src/clients/store';
import { REPO_ROOT } from '../src/stack/tools';
import { processManager, stopAll } from '../src/stack/stack';
import { runBoot } from '../scripts/kernel-verbs';
import { awaitDispatchedRun, SCENARIOS, type ScenarioContext } from '../src/chaos/scenarios';
import { allKernelsReady } from '../src/stack/kernel-readiness';
import { immutableLogClient } from '../kernels/registry';
import { DETECTORS } from '../src/healing/detectors';
import { periodOf, settingsOf } from '../src/healing/detectors/loop';
import { freshStack, percentile, printTable } from './support';

/** One period of the slowest detector in `config`, and a margin (2.5 s with the bench's config). */
const settleMs = (config: LoadedConfig): number => Math.max(...DETECTORS.map((d) => periodOf(d, settingsOf(config, d)))) + 500;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const log = (m: string): void => {
  process.stderr.write(`• ${m}\n`);
};

async function main(): Promise<void> {
  const runs = Number(arg('runs') ?? 5);
  const only = arg('only')?.split(',');
  const config = loadConfig(path.join(REPO_ROOT, 'bench', 'layer1.playbooks.yaml'), {});
  const pm = processManager(config);
  await freshStack(config);
  const client = await connectClient(config);
  const store = await connectStore(config);
  const ctx: ScenarioContext = { config, pm, db: store.db, temporal: client };
  const rows: Array<Record<string, string | number>> = [];
  try {
    const boot = await runBoot(config, client, () => undefined);
    if (!boot.ok) throw new Error(`boot failed: ${boot.failedChecks.join('; ')}`);
    // The first look finds no snapshot at all: let that playbook run before measuring anything.
    await sleep(5_000);
    await allKernelsReady(ctx, 60_000);
    for (const scenario of SCENARIOS.filter((s) => !only || only.includes(s.playbook))) {
      const detection: number[] = [];
      const repair: number[] = [];
      const healthy: number[] = [];
      const failures: string[] = [];
      for (let i = 1; i <= runs; i++) {
        await allKernelsReady(ctx, 120_000);
        // A detector reports a condition again only once it has seen it clear: give the slowest
        // a look at the repaired system before breaking it the same way again.
        if (i > 1) await sleep(settleMs(config));
        await scenario.ready?.(ctx);
        const logHead = (await immutableLogClient(config).head()).seq;
        const t0 = Date.now();
        const injected = await scenario.inject(ctx);
        try {
          const run = await awaitDispatchedRun(client, scenario.workflowId, t0, scenario.timeoutMs ?? 90_000);
          const done = Date.parse(run.report.finishedAt ?? '') || Date.now();
          const ready = await allKernelsReady(ctx, 60_000);
          // A run counts as ok only if the fault is gone, read from the system (the scenario's check).
          await scenario.verify(ctx, injected, { since: t0, logHead });
          if (run.evidenceAt !== null) {
            detection.push(run.evidenceAt - t0);
            repair.push(done - run.evidenceAt);
          }
          healthy.push(ready - t0);
          log(`${scenario.playbook} #${i}: detected ${run.evidenceAt !== null ? run.evidenceAt - t0 : '?'} ms, repaired ${run.evidenceAt !== null ? done - run.evidenceAt : '?'} ms, healthy ${ready - t0} ms`);
        } catch (err) {
          failures.push((err as Error).message.slice(0, 200));
          log(`${scenario.playbook} #${i}: FAILED ${(err as Error).message.slice(0, 300)}`);
        } finally {
          await injected.restore();
        }
      }
      const p50 = (xs: number[]): string => (xs.length ? `${percentile(xs, 50).toFixed(0)} ms` : '—');
      rows.push({
        playbook: scenario.playbook,
        fault: scenario.fault,
        'detection p50': p50(detection),
        'repair p50': p50(repair),
        'injected → healthy p50': p50(healthy),
        ok: `${healthy.length}/${runs}`,
      });
      if (failures.length) log(`${scenario.playbook}: ${failures.length} failed run(s): ${failures.join(' | ')}`);
    }
  } finally {
    printTable(rows);
    await client.connection.close();
    await store.close();
    await stopAll(config, () => undefined);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
