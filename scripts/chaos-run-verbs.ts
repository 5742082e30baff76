/**
 * `layer1 chaos run|ledger|coverage|schedule`: the drills, their ledger and coverage, and their
 * Temporal Schedules. Attached to the `chaos` command scripts/chaos-verbs.ts creates. The `--json`
 * outputs of `run` and `coverage` are contracts (issue 17): fields are added, never renamed.
 */
import type { Command } from 'commander';
import type { DrillProgress, DrillResult, GateResult } from '../contracts/chaos';
import { ExitCode, UserError } from '../src/errors';
import { configOf, progress, withStore, withTemporal } from './cli-support';

const ms = (v: number | null): string => (v === null ? '-' : `${v} ms`);
const gateLine = (g: GateResult): string => `  ${g.ok ? '✓' : '✗'} ${g.name.padEnd(13)} ${ms(g.ms).padStart(9)}  ${g.detail}`;

function printResult(r: DrillResult): void {
  console.log(`drill ${r.drillId}: ${r.result}${r.injection ? ` — ${r.injection.detail}` : ''}`);
  for (const g of r.gates) console.log(gateLine(g));
  console.log(`  rollback ${r.rollback.ok ? 'ok' : 'FAILED'}: ${r.rollback.detail}`);
  console.log(`  time to detect ${ms(r.timeToDetectMs)}, time to recover ${ms(r.timeToRecoverMs)}${r.backlog ? `; backlog item ${r.backlog.id} ${r.backlog.action}` : ''}`);
}

async function run(id: string, opts: { json?: boolean }, cmd: Command): Promise<void> {
  const config = await configOf(cmd);
  const [{ findCard }, { awaitDrill, cardsDirOf, startDrill }] = await Promise.all([import('../src/chaos/cards/loader'), import('../src/chaos/harness/start')]);
  const dir = cardsDirOf(config);
  const card = dir ? findCard(id, dir) : findCard(id);
  const result = await withTemporal(config, async (client) => {
    const handle = await startDrill(config, client, card, 'cli');
    progress(`drill ${handle.workflowId} of ${card.id} (${card.title}) started`);
    let shown = 0;
    let injected = false;
    return awaitDrill(handle, (p: DrillProgress) => {
      if (p.injection && !injected) {
        injected = true;
        progress(`${p.injection.ok ? 'injected' : 'not injected'}: ${p.injection.detail}`);
      }
      for (; shown < p.gates.length; shown++) progress(gateLine(p.gates[shown]).trim());
      if (p.phase !== 'done') progress(`… ${p.phase.replace('_', ' ')}`);
    });
  });
  if (opts.json) {
    const { card: c, drillId, ok, gates, rollback, timeToDetectMs, timeToRecoverMs } = result;
    console.log(JSON.stringify({ card: c, drillId, ok, gates, rollback, timeToDetectMs, timeToRecoverMs, result: result.result, injection: result.injection, backlog: result.backlog, startedAt: result.startedAt, endedAt: result.endedAt }));
  } else printResult(result);
  if (!result.ok) process.exitCode = ExitCode.FAILURE;
}

async function ledgerVerb(opts: { json?: boolean; n: string; card?: string }, cmd: Command): Promise<void> {
  const config = await configOf(cmd);
  const n = Number(opts.n);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`-n must be a positive integer, got ${JSON.stringify(opts.n)}`, ExitCode.USAGE);
  const { readLedger } = await import('../src/chaos/harness/ledger');
  const entries = await withStore(config, (store) => readLedger(store.db, n, opts.card));
  if (opts.json) {
    console.log(JSON.stringify(entries.map(({ journal: _j, ...e }) => ({ ...e, drillId: e._id }))));
    return;
  }
  if (entries.length === 0) console.log('no drill on record: `layer1 chaos run CARD` runs one');
  for (const e of entries) {
    const failed = e.gates.find((g) => !g.ok);
    console.log(`${e.ok ? '✓' : e.state === 'running' ? '…' : '✗'} ${e.startedAt.toISOString()} ${e.card.padEnd(22)} ${String(e.result ?? e.state).padEnd(16)} detect ${ms(e.timeToDetectMs)}, recover ${ms(e.timeToRecoverMs)}${failed ? `  (${failed.name}: ${failed.detail.slice(0, 100)})` : ''}  ${e._id}`);
  }
}

async function coverageVerb(opts: { json?: boolean }, cmd: Command): Promise<void> {
  const config = await configOf(cmd);
  const [{ loadCards }, { coverageOf, ledger }, { cardsDirOf }] = await Promise.all([import('../src/chaos/cards/loader'), import('../src/chaos/harness/ledger'), import('../src/chaos/harness/start')]);
  const dir = cardsDirOf(config);
  const { cards } = dir ? loadCards(dir) : loadCards();
  const entries = await withStore(config, (store) => ledger(store.db).find({ state: 'ended' }).toArray());
  const cov = coverageOf(cards, entries, new Date());
  if (opts.json) {
    console.log(JSON.stringify(cov));
    return;
  }
  const pct = (v: number | null): string => (v === null ? '-' : `${Math.round(v * 100)}%`);
  for (const c of cov.cards) {
    console.log(`${c.covered ? '✓' : c.drills ? '✗' : '·'} ${c.card.padEnd(22)} ${String(c.risk).padEnd(6)} drills ${String(c.drills).padStart(3)}  success ${pct(c.successRate).padStart(4)}  detect p50/p95 ${ms(c.detectMs.p50)}/${ms(c.detectMs.p95)}  recover p50/p95 ${ms(c.recoverMs.p50)}/${ms(c.recoverMs.p95)}  last ${c.lastDrilled ?? 'never'}`);
  }
  console.log(`cards drilled ${cov.drilled} (${cov.drills} drills), success ${pct(cov.successRate)}, coverage ${pct(cov.coverage7d)} (${cov.cards.filter((c) => c.covered).length}/${cov.cards.length} within ${cov.windowDays} days), high-risk pending ${cov.highRiskPending}${cov.highRiskPendingCards.length ? ` (${cov.highRiskPendingCards.join(', ')})` : ''}`);
}

async function scheduleVerb(verb: 'list' | 'pause' | 'unpause' | 'trigger', name: string | undefined, opts: { json?: boolean }, cmd: Command): Promise<void> {
  const config = await configOf(cmd);
  const { chaosScheduleId } = await import('../contracts/chaos');
  await withTemporal(config, async (client) => {
    if (verb === 'list') {
      const rows: Array<{ id: string; paused: boolean; spec: string; next: string | null }> = [];
      for await (const s of client.schedule.list()) {
        if (!s.scheduleId.startsWith('layer1-chaos-')) continue;
        const d = await client.schedule.getHandle(s.scheduleId).describe();
        const spec = JSON.stringify(d.spec.intervals?.length ? d.spec.intervals : d.spec.calendars ?? d.spec);
        rows.push({ id: s.scheduleId, paused: d.state.paused, spec, next: d.info.nextActionTimes[0]?.toISOString() ?? null });
      }
      if (opts.json) console.log(JSON.stringify(rows));
      else if (rows.length === 0) console.log('no chaos schedule: declare chaos.schedules in the config, then `layer1 boot`');
      else for (const r of rows) console.log(`${r.paused ? 'paused ' : 'active '} ${r.id.padEnd(30)} next ${r.next ?? '-'}  ${r.spec}`);
      return;
    }
    if (!name) throw new UserError(`chaos schedule ${verb} needs a schedule name`, ExitCode.USAGE);
    const id = name.startsWith('layer1-chaos-') ? name : chaosScheduleId(name);
    const handle = client.schedule.getHandle(id);
    try {
      if (verb === 'pause') await handle.pause('paused from the CLI (layer1 chaos schedule pause)');
      else if (verb === 'unpause') await handle.unpause('resumed from the CLI (layer1 chaos schedule unpause)');
      else await handle.trigger();
    } catch (err) {
      if ((err as Error).name === 'ScheduleNotFoundError') throw new UserError(`no schedule ${id}: \`layer1 chaos schedule list\` shows them`, ExitCode.USAGE);
      throw err;
    }
    if (opts.json) console.log(JSON.stringify({ id, action: verb }));
    else console.log(`${id}: ${verb === 'trigger' ? 'triggered' : `${verb}d`}`);
  });
}

export function registerChaosRunVerbs(chaos: Command): void {
  chaos
    .command('run <card>')
    .description('Run one drill of CARD with live gate progress; exit 0 only when all four gates pass')
    .option('--json', 'print {card, drillId, ok, gates: [{name, ok, ms, detail}], rollback: {ok, detail}, timeToDetectMs, timeToRecoverMs}')
    .action(run);
  chaos
    .command('ledger')
    .description('The chaos ledger, newest first')
    .option('-n <count>', 'how many drills', '20')
    .option('--card <id>', 'only this card')
    .option('--json', 'print a JSON array of ledger entries')
    .action(ledgerVerb);
  chaos
    .command('coverage')
    .description('Per card: last drilled, drills, success rate, time to detect and recover p50/p95; overall coverage within 7 days')
    .option('--json', 'print {cards: [...], drilled, successRate, coverage7d, highRiskPending}')
    .action(coverageVerb);
  const schedule = chaos.command('schedule').description('The chaos Temporal Schedules (chaos.schedules in the config, created by boot)');
  schedule.command('list').description('Every chaos schedule').option('--json', 'print JSON').action((opts, cmd) => scheduleVerb('list', undefined, opts, cmd));
  for (const verb of ['pause', 'unpause', 'trigger'] as const) {
    schedule
      .command(`${verb} <name>`)
      .description(`${verb} the schedule layer1-chaos-<name>`)
      .option('--json', 'print JSON')
      .action((name: string, opts, cmd) => scheduleVerb(verb, name, opts, cmd));
  }
}
