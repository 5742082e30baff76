/**
 * `layer1 evidence` — what the trigger monitor saw and what the dispatcher did with it.
 * `layer1 playbook rehearse NAME` — break, for real, what playbook NAME heals (its scenario in
 * src/chaos/scenarios.ts), then follow the run the dispatcher starts by itself until every kernel is
 * ready again, and restore whatever the fault left undone. For operators who want to see a
 * recovery happen before they trust it; the integration suite does the same for every playbook.
 */
import type { Command } from 'commander';
import { ExitCode, UserError } from '../src/errors';
import type { StoredEvidence } from '../src/healing/seam';
import { configOf, progress, serverDownError, withStore } from './cli-support';
import { playbookCommand } from './playbook-verbs';

export function registerHealingVerbs(program: Command): void {
  program
    .command('evidence')
    .description('List recent evidence (newest first): what was seen, and the playbook run it started, if any')
    .option('-n, --limit <n>', 'how many', (v) => Number(v), 20)
    .option('--kind <kind>', 'only evidence of this kind (e.g. acl_violation)')
    .option('--json', 'print a JSON array of evidence records')
    .action(async (opts: { limit: number; kind?: string; json?: boolean }, cmd: Command) => {
      if (!Number.isInteger(opts.limit) || opts.limit < 1) throw new UserError('--limit expects a positive integer', ExitCode.USAGE);
      const config = await configOf(cmd);
      const { EVIDENCE_COLLECTION } = await import('../src/clients/collections');
      const docs = await withStore(config, (store) =>
        store.db
          .collection<StoredEvidence>(EVIDENCE_COLLECTION)
          .find(opts.kind ? { kind: opts.kind as StoredEvidence['kind'] } : {})
          .sort({ firstSeen: -1 })
          .limit(opts.limit)
          .toArray(),
      );
      if (opts.json) {
        console.log(JSON.stringify(docs.map(({ _id, ...d }) => ({ id: _id, ...d }))));
        return;
      }
      if (docs.length === 0) console.log('no evidence recorded');
      for (const d of docs) {
        const dispatch = d.dispatch as { outcome?: string; playbook?: string | null; workflowId?: string } | undefined;
        const what =
          dispatch?.outcome === 'started'
            ? `→ ${dispatch.playbook} (${dispatch.workflowId})`
            : dispatch?.outcome === 'incident'
              ? `→ incident (${dispatch.workflowId})`
              : dispatch
                ? `→ ${dispatch.outcome}`
                : '';
        console.log(`${d.firstSeen.toISOString()}  ${String(d.kind ?? '?').padEnd(22)} ${String(d.kernel ?? '-').padEnd(13)} ${d.detail ?? ''} ${what}`);
      }
    });

  playbookCommand(program)
    .command('rehearse <name>')
    .description("Break for real what playbook NAME heals, watch the dispatcher start it, wait until every kernel is ready, check the fault is gone (exit 1 if not), then restore what is left")
    .option('--timeout <ms>', 'how long detection and repair may take', (v) => Number(v))
    .option('--json', 'print {playbook, fault, evidence, report, detectionMs, repairMs, healthyMs, faultGone} as JSON')
    .action(async (name: string, opts: { timeout?: number; json?: boolean }, cmd: Command) => {
      const [{ awaitDispatchedRun, SCENARIOS }, { suggest }] = await Promise.all([import('../src/chaos/scenarios'), import('../src/playbooks/format')]);
      const scenario = SCENARIOS.find((s) => s.playbook === name);
      if (!scenario) {
        const known = SCENARIOS.map((s) => s.playbook);
        throw new UserError(`no rehearsal for "${name}"${suggest(name, known)}; known: ${known.join(', ')}`, ExitCode.USAGE);
      }
      const config = await configOf(cmd);
      const [{ connectClient }, { connectStore }, { allKernelsReady }, { processManager }] = await Promise.all([
        import('../src/clients/temporal'),
        import('../src/clients/store'),
        import('../src/stack/kernel-readiness'),
        import('../src/stack/stack'),
      ]);
      const client = await connectClient(config).catch((err: unknown) => {
        throw serverDownError(config, 'temporal', err);
      });
      const store = await connectStore(config, 3_000).catch(async (err: unknown) => {
        await client.connection.close();
        throw serverDownError(config, 'store', err);
      });
      const ctx = { config, pm: processManager(config), db: store.db, temporal: client };
      try {
        progress('checking every kernel is ready first');
        await allKernelsReady(ctx, 30_000);
        await scenario.ready?.(ctx);
        const { immutableLogClient } = await import('../kernels/registry');
        const logHead = (await immutableLogClient(config).head()).seq;
        const t0 = Date.now();
        const injected = await scenario.inject(ctx);
        progress(`injected: ${injected.detail}`);
        try {
          progress(`waiting for the dispatcher to start ${name} (workflow ${scenario.workflowId})`);
          const run = await awaitDispatchedRun(client, scenario.workflowId, t0, opts.timeout ?? scenario.timeoutMs ?? 90_000);
          const ev = run.report.evidence[0];
          if (ev) progress(`evidence after ${ev.at - t0} ms: ${ev.kind} (${ev.signature}) — ${ev.detail}`);
          for (const s of run.report.steps) progress(`  ${s.status === 'succeeded' ? '✓' : s.status === 'skipped' ? '-' : '✗'} ${s.id.padEnd(20)} ${s.action.padEnd(22)} ${s.status}${s.error ? ` ${s.error}` : ''}`);
          const ready = await allKernelsReady(ctx, 60_000);
          const done = Date.parse(run.report.finishedAt ?? '') || ready;
          progress(`${run.report.outcome}; every kernel ready ${ready - t0} ms after the fault`);
          // The run's word is not the proof: the scenario's own check reads the system itself.
          let faultGone: string | true = true;
          try {
            await scenario.verify(ctx, injected, { since: t0, logHead });
            progress('fault gone: the independent check (src/chaos/scenarios.ts verify) passes');
          } catch (err) {
            faultGone = (err as Error).message;
            progress(`fault NOT gone: ${faultGone}`);
          }
          if (opts.json) {
            console.log(
              JSON.stringify({
                playbook: name,
                fault: scenario.fault,
                evidence: ev ?? null,
                report: run.report,
                detectionMs: ev ? ev.at - t0 : null,
                repairMs: ev ? done - ev.at : null,
                healthyMs: ready - t0,
                faultGone: faultGone === true,
                ...(faultGone === true ? {} : { stillWrong: faultGone }),
              }),
            );
          }
          if (faultGone !== true) process.exitCode = ExitCode.FAILURE;
        } finally {
          await injected.restore();
        }
      } finally {
        await client.connection.close();
        await store.close();
      }
    });
}
