/**
 * Incident benchmark: for each scenario, its real fault is injected --runs times (default 4) with
 * nobody acting, and each incident is timed from the fault's evidence to the fault seen gone
 * (`timeToHealMs`), split by whether the remedy went through the coding agent and verification
 * (new) or was auto-applied from the knowledge base (known). Beside it, the remedy playbook's own run
 * time, and the knowledge base's figures at the end. The default knowledge settings (two verified
 * successes before auto-apply) are used, so the first two runs are new and the rest known.
 *
 *   npm run build && node dist/bench/incidents.js [--runs 4] [--only acl,log]
 *
 * Targets (issue #14): new ≤ 60 s, known ≤ 5 s and ≤ 1.5 × the playbook's own run time.
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../src/config/load';
import { connectClient } from '../src/clients/temporal';
import { connectStore } from '../src/clients/store';
import { REPO_ROOT } from '../src/stack/tools';
import { processManager, stopAll } from '../src/stack/stack';
import { runBoot } from '../scripts/kernel-verbs';
import { SCENARIOS, type ScenarioContext } from '../src/chaos/scenarios';
import * as faults from '../src/chaos/faults';
import type { Injected } from '../src/chaos/faults';
import { allKernelsReady } from '../src/stack/kernel-readiness';
import { INCIDENTS_COLLECTION } from '../src/clients/collections';
import type { Incident } from '../contracts/incident';
import type { PlaybookReport } from '../contracts/playbook';
import { KnowledgeBase } from '../src/knowledge/kb';
import { argOf, freshStack, ms, printTable, progress } from './support';

const arg = argOf;
const log = progress;

interface BenchScenario {
  name: string;
  kind: string;
  inject(ctx: ScenarioContext): Promise<Injected>;
  ready?(ctx: ScenarioContext): Promise<void>;
}

const BENCH_SCENARIOS: BenchScenario[] = [
  { name: 'acl', kind: 'acl_violation', inject: (ctx) => faults.forbiddenPublish(ctx, { user: 'immutable_log', subject: 'layer1.bench.forbidden' }) },
  (() => {
    const s = SCENARIOS.find((x) => x.playbook === 'immutable_log_integrity_repair')!;
    return { name: 'log', kind: 'log_corruption', inject: s.inject, ready: s.ready };
  })(),
];

async function main(): Promise<void> {
  const runs = Number(arg('runs') ?? 4);
  const only = arg('only')?.split(',');
  // The file leaves `incidents:` at its defaults (the workers read it): the figures are for them.
  const config = loadConfig(path.join(REPO_ROOT, 'bench', 'layer1.playbooks.yaml'), {});
  const pm = processManager(config);
  await freshStack(config);
  const client = await connectClient(config);
  const store = await connectStore(config);
  const ctx: ScenarioContext = { config, pm, db: store.db, temporal: client };
  const rows: Array<Record<string, string | number>> = [];
  const incidents = store.db.collection<Incident & { _id: string }>(INCIDENTS_COLLECTION);
  try {
    const boot = await runBoot(config, client, () => undefined);
    if (!boot.ok) throw new Error(`boot failed: ${boot.failedChecks.join('; ')}`);
    await sleep(5_000);
    for (const s of BENCH_SCENARIOS.filter((x) => !only || only.includes(x.name))) {
      for (let i = 1; i <= runs; i++) {
        await allKernelsReady(ctx, 120_000);
        await s.ready?.(ctx);
        await sleep(2_500); // a condition is reported again only once a detector has seen it clear
        const since = Date.now();
        const injected = await s.inject(ctx);
        let inc: Incident | undefined;
        try {
          const deadline = Date.now() + 300_000;
          while (Date.now() < deadline && !inc?.clarity) {
            inc = (await incidents.find({ openedAt: { $gte: new Date(since - 1_000).toISOString() } }).toArray()).find((x) => x.evidence.first.kind === s.kind);
            if (!inc?.clarity) await sleep(250);
          }
        } finally {
          await injected.restore();
        }
        if (!inc?.clarity) throw new Error(`${s.name} run ${i}: no incident ended`);
        let playbookMs: number | null = null;
        if (inc.remedy?.runId) {
          const report = (await client.workflow.getHandle(inc.remedy.runId).result().catch(() => null)) as PlaybookReport | null;
          if (report?.finishedAt) playbookMs = Date.parse(report.finishedAt) - Date.parse(report.startedAt);
        }
        log(`${s.name} run ${i}: ${inc.state}, ${inc.autoApplied ? 'known (auto-applied)' : 'new (coding agent)'}, heal ${inc.timeToHealMs} ms, playbook ${playbookMs} ms`);
        rows.push({
          scenario: s.name,
          run: i,
          path: inc.autoApplied ? 'known' : 'new',
          state: inc.state,
          'time to heal': inc.timeToHealMs === null ? '-' : ms(inc.timeToHealMs),
          'playbook run': playbookMs === null ? '-' : ms(playbookMs),
          'heal / playbook': inc.timeToHealMs !== null && playbookMs ? (inc.timeToHealMs / playbookMs).toFixed(2) : '-',
          'close (verified)': inc.closedAt ? ms(Date.parse(inc.closedAt) - inc.evidence.first.at) : '-',
        });
      }
    }
    printTable(rows);
    // As `layer1 kb` shows it: derived from the knowledge base's facts.
    const kb = (await new KnowledgeBase(store.db, config.incidents.knowledge).list({ limit: 1000 })).filter((k) => k.remedy !== null);
    console.log(`\nknowledge base: ${kb.length} known signatures, auto-apply enabled ${kb.filter((k) => k.autoApply).length}`);
    printTable(
      kb.map((k) => ({
        signature: k.signature,
        remedy: k.remedy?.name ?? '-',
        successes: k.successes,
        failures: k.failures,
        confidence: k.confidence.toFixed(3),
        autoApply: String(k.autoApply),
        'mtth new': k.mtthNewMs === null ? '-' : ms(k.mtthNewMs),
        'mtth known': k.mtthKnownMs === null ? '-' : ms(k.mtthKnownMs),
      })),
    );
  } finally {
    await client.connection.close();
    await store.close();
    await stopAll(config, () => undefined);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
