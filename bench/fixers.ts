/**
 * Fixer benchmark (issue 16): per coding-agent fixer, its real fault injected --runs times (default
 * 3) on the benchmarks' own stack with nobody acting, each timed from the fault to the verified
 * close of its incident — while the signature is new (the coding agent analyses and proposes) and
 * once it is known (the knowledge base's fixer proposes again, auto-applied). The default knowledge
 * settings apply (two verified successes before auto-apply), so runs 1–2 are new and 3+ known.
 * Beside each: the change set's phases (staging in the scratch copy, the project checks there,
 * promotion to the kernel ready).
 *
 *   npm run build && node dist/bench/fixers.js [--runs 3] [--only syntax_error,import_error,config_restore,model_restore]
 *
 * The faults act on the project's tree (dist/, node_modules/, the bench's tracked config file) and
 * are always restored (src/chaos/faults/code.ts).
 */
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Incident } from '../contracts/incident';
import * as faults from '../src/chaos/faults';
import type { Injected } from '../src/chaos/faults';
import type { ScenarioContext } from '../src/chaos/scenarios';
import { CHANGE_SETS_COLLECTION } from '../src/clients/collections';
import { connectStore } from '../src/clients/store';
import { connectClient } from '../src/clients/temporal';
import type { ChangeSetFact } from '../src/coding-agent/records';
import { loadConfig } from '../src/config/load';
import { awaitEndedIncident, remedyChangeSet } from '../src/incidents/await';
import { allKernelsReady } from '../src/stack/kernel-readiness';
import { processManager, stopAll } from '../src/stack/stack';
import { REPO_ROOT } from '../src/stack/tools';
import { runBoot } from '../scripts/kernel-verbs';
import { argOf, freshStack, ms, printTable, progress } from './support';

interface FixerFault {
  fixer: string;
  inject(ctx: ScenarioContext): Promise<Injected>;
  match(i: Incident): boolean;
}

const FIXER_FAULTS: FixerFault[] = [
  { fixer: 'syntax_error', inject: (ctx) => faults.syntaxErrorInCode(ctx), match: (i) => i.kernel === 'immutable_log' && i.evidence.first.text.includes('SyntaxError') },
  { fixer: 'import_error', inject: (ctx) => faults.missingPackage(ctx, { pkg: 'diff' }), match: (i) => i.kernel === 'coding_agent' && /Cannot find module 'diff'/.test(i.evidence.first.text) },
  { fixer: 'config_restore', inject: (ctx) => faults.invalidConfigValue(ctx), match: (i) => i.kernel === 'coding_agent' && i.evidence.first.text.includes('invalid configuration in') },
  { fixer: 'model_restore', inject: (ctx) => faults.corruptModelFile(ctx), match: (i) => i.kernel === 'coding_agent' && i.evidence.first.kind === 'model_corruption' },
];

async function main(): Promise<void> {
  const runs = Number(argOf('runs') ?? 3);
  const only = argOf('only')?.split(',');
  // The file leaves `incidents:` at its defaults (the workers read it): the figures are for them.
  const config = loadConfig(path.join(REPO_ROOT, 'bench', 'layer1.playbooks.yaml'), {});
  const pm = processManager(config);
  progress(`fresh stack from ${config.configFile}`);
  await freshStack(config);
  const client = await connectClient(config);
  const store = await connectStore(config);
  const ctx: ScenarioContext = { config, pm, db: store.db, temporal: client };
  const rows: Array<Record<string, string | number>> = [];
  const closes: Array<{ fixer: string; path: 'new' | 'known'; ms: number; promotedMs: number | null }> = [];
  try {
    const boot = await runBoot(config, client, () => undefined);
    if (!boot.ok) throw new Error(`boot failed: ${boot.failedChecks.join('; ')}`);
    for (const f of FIXER_FAULTS.filter((x) => !only || only.includes(x.fixer))) {
      for (let i = 1; i <= runs; i++) {
        await allKernelsReady(ctx, 180_000);
        // The worker's warm spare is part of a ready worker: let it warm, so each run starts alike.
        await sleep(5_000);
        const since = Date.now();
        const injected = await f.inject(ctx);
        let inc: Incident;
        try {
          inc = await awaitEndedIncident(store.db, f.match, since, 900_000);
        } finally {
          await injected.restore();
        }
        const cs = await remedyChangeSet(client, inc);
        const facts = cs ? await store.db.collection<ChangeSetFact>(CHANGE_SETS_COLLECTION).find({ changeSetId: cs }).toArray() : [];
        const at = (state: string): number | null => {
          const fact = facts.find((x) => x.state === state);
          return fact ? new Date(fact.at).getTime() : null;
        };
        const verified = facts.find((x) => x.state === 'verified');
        const closeMs = inc.closedAt ? Date.parse(inc.closedAt) - since : null;
        const path_ = inc.autoApplied ? ('known' as const) : ('new' as const);
        if (closeMs !== null && inc.state === 'closed') closes.push({ fixer: f.fixer, path: path_, ms: closeMs, promotedMs: at('promoted') === null ? null : at('promoted')! - since });
        progress(`${f.fixer} run ${i}: ${inc.state}, ${path_}, fault → verified close ${closeMs === null ? '-' : ms(closeMs)}`);
        rows.push({
          fixer: f.fixer,
          run: i,
          path: path_,
          state: inc.state,
          'fault → healed': inc.timeToHealMs === null ? '-' : ms(inc.evidence.first.at - since + inc.timeToHealMs),
          'fault → verified close': closeMs === null ? '-' : ms(closeMs),
          'fault → staged': at('staged') === null ? '-' : ms(at('staged')! - since),
          checks: verified ? verified.checks.map((c) => `${c.name} ${ms(c.ms)}`).join(', ') : '-',
          'verified → promoted': at('verified') !== null && at('promoted') !== null ? ms(at('promoted')! - at('verified')!) : '-',
          'fault → promoted': at('promoted') === null ? '-' : ms(at('promoted')! - since),
          'checks kept': verified?.reusedFrom ? 'yes' : 'no',
        });
      }
    }
    printTable(rows);
    // Per fixer: the mean time from fault to verified close, new and known.
    const summary = new Map<string, Record<'new' | 'known' | 'newFix' | 'knownFix', number[]>>();
    for (const t of closes) {
      const e = summary.get(t.fixer) ?? { new: [], known: [], newFix: [], knownFix: [] };
      e[t.path].push(t.ms);
      if (t.promotedMs !== null) e[t.path === 'new' ? 'newFix' : 'knownFix'].push(t.promotedMs);
      summary.set(t.fixer, e);
    }
    const mean = (xs: number[]): string => (xs.length ? ms(xs.reduce((a, b) => a + b, 0) / xs.length) : '-');
    console.log('\nper fixer (mean): fault → verified close, and fault → fix promoted (before the kernel restarts):');
    printTable(
      [...summary].map(([fixer, e]) => ({
        fixer,
        'close new': mean(e.new),
        'close known': mean(e.known),
        'promoted new': mean(e.newFix),
        'promoted known': mean(e.knownFix),
        runs: `${e.new.length} new, ${e.known.length} known`,
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
