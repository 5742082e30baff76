/**
 * Every shipped playbook, started by the dispatcher for a failure produced for real on the suite's
 * stack (src/chaos/scenarios.ts says how each one is broken). Nobody runs a playbook here: each test
 * injects its fault, waits for the dispatched run, and then checks that
 *  - every kernel's self-test passes again;
 *  - the scenario's own independent check (`verify`) finds the fault gone, reading the system itself
 *    (first: a playbook whose acting step is removed fails here, whatever its run reports);
 *  - the run succeeded, every step it did not skip succeeded, and it carries the evidence;
 *  - the immutable log holds the run's start (with the evidence), each step and its outcome;
 * and restores whatever the fault left undone. The disruptive scenarios (kills, a terminated control
 * plane, a stopped store) come last, as SCENARIOS orders them.
 */
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { connectClient } from '../../src/clients/temporal';
import { connectStore, type Store } from '../../src/clients/store';
import { processManager } from '../../src/stack/stack';
import { immutableLogClient } from '../../kernels/registry';
import { loadPlaybooks } from '../../src/playbooks/loader';
import { awaitDispatchedRun, SCENARIOS, type ScenarioContext } from '../../src/chaos/scenarios';
import { allKernelsReady } from '../../src/stack/kernel-readiness';
import { readLogEntries } from '../../src/clients/audit-log';
import { BACKLOG_COLLECTION, EVIDENCE_COLLECTION } from '../../src/clients/collections';
import * as faults from '../../src/chaos/faults';
import { dispatchWorkflowId } from '../../contracts/playbook';
import type { LogEntry } from '../../kernels/immutable-log/format';
import { stackAvailable, testConfig } from '../support/env';
import { waitFor } from '../support/kernels';

describe('every shipped playbook, dispatched for a real failure', function () {
  this.timeout(240_000);
  const config = testConfig();
  const pm = processManager(config);
  let client: Client;
  let store: Store;
  let ctx: ScenarioContext;

  before(async function () {
    if (!stackAvailable()) this.skip();
    client = await connectClient(config);
    store = await connectStore(config);
    ctx = { config, pm, db: store.db, temporal: client };
    await allKernelsReady(ctx, 60_000);
  });

  after(async () => {
    await client?.connection.close();
    await store?.close();
  });

  it('there is a scenario for every shipped playbook', () => {
    const names = loadPlaybooks().playbooks.map((p) => p.name).sort();
    assert.ok(names.length > 0);
    assert.deepEqual(SCENARIOS.map((s) => s.playbook).sort(), names);
  });

  // The other case of message_bus_acl_violation_fix (its scenario is the drift it repairs): a kernel
  // user refused where its policy forbids. The bus did its job; the playbook changes nothing on the
  // bus and escalates with a backlog item for the kernel that tried.
  it('message_bus_acl_violation_fix: a publish the policy forbids is escalated (backlog item), the bus left as it is', async function () {
    this.timeout(180_000);
    await allKernelsReady(ctx, 60_000);
    const since = Date.now();
    const refused = await faults.forbiddenPublish(ctx, { user: 'immutable_log', subject: 'system.control' });
    assert.ok(refused.refused, refused.detail);
    const { report, runId } = await awaitDispatchedRun(client, dispatchWorkflowId('message_bus_acl_violation_fix', 'message_bus'), since, 90_000);
    assert.equal(report.outcome, 'succeeded', JSON.stringify(report.steps));
    const step = (id: string) => report.steps.find((s) => s.id === id);
    assert.equal((step('analyse_log')?.output as { verdict?: string } | undefined)?.verdict, 'policy_enforced');
    assert.equal(step('rerender_reload')?.status, 'skipped', 'no reload for a refusal the policy wants');
    assert.equal(step('follow_up')?.status, 'succeeded');
    // Read from the store, not the report: the item is there, naming the user and the subject.
    const item = await store.db.collection(BACKLOG_COLLECTION).findOne({ 'source.workflowId': report.workflowId, 'source.runId': runId, 'source.stepId': 'follow_up' });
    assert.ok(item, 'a backlog item was opened');
    assert.match(String(item.title), /immutable_log.*system\.control/);
  });

  /** The run's entries in the immutable log, read from `fromSeq` on. */
  async function runEntries(workflowId: string, fromSeq: number): Promise<LogEntry[]> {
    const entries = await readLogEntries(immutableLogClient(config, 30_000), fromSeq);
    return entries.filter((e) => (e.data as { run?: string } | null)?.run === workflowId);
  }

  for (const scenario of SCENARIOS) {
    it(`${scenario.playbook}: ${scenario.fault}`, async function () {
      const timeoutMs = scenario.timeoutMs ?? 90_000;
      this.timeout(timeoutMs + 180_000);
      // Each fault on a stack that is whole: an earlier one's remedy may still be restarting a kernel.
      await allKernelsReady(ctx, 60_000);
      await scenario.ready?.(ctx);
      const logHead = (await immutableLogClient(config).head()).seq;
      const since = Date.now();
      const injected = await scenario.inject(ctx);
      try {
        // The run's failure (or its absence) is asserted after the fault itself is checked: what
        // matters first is whether the fault is gone, which a failed or missing run may explain.
        const outcome = await awaitDispatchedRun(client, scenario.workflowId, since, timeoutMs).then(
          (run) => ({ run, error: null }),
          (error: unknown) => ({ run: null, error }),
        );
        // Healthy first: some faults go on after the run starts (a crash loop's last kills), and
        // the log must be up for the checks below.
        await allKernelsReady(ctx, 60_000);

        // The fault itself is gone: read from the system, not from the report.
        try {
          await scenario.verify(ctx, injected, { since, logHead });
        } catch (err) {
          // Say what the run did too: no run at all, a failed one, or a success that repaired nothing.
          const run = outcome.error ? `the run: ${(outcome.error as Error).message}` : `the run ${outcome.run!.report.outcome}: ${JSON.stringify(outcome.run!.report.steps.map((s) => [s.id, s.status]))}`;
          (err as Error).message += `\n      (${run})`;
          throw err;
        }

        if (outcome.error) throw outcome.error;
        const { report } = outcome.run!;
        assert.equal(report.playbook, scenario.playbook);
        assert.equal(report.outcome, 'succeeded', JSON.stringify(report.steps));
        for (const s of report.steps) assert.ok(['succeeded', 'skipped'].includes(s.status), `${s.id}: ${s.status} ${s.error ?? ''}`);
        assert.ok(report.steps.some((s) => s.status === 'succeeded'), 'at least one step ran');

        // The evidence that started it: in the report, and recorded in the store with the dispatch.
        assert.ok(report.evidence.length >= 1, 'the run carries its evidence');
        const ev = report.evidence[0];
        assert.ok(ev.at >= since - 1_000, `evidence seen after the fault (${ev.at} vs ${since})`);
        // A store that was the fault may take the record late (the seam tries again once it is back).
        const evidence = store.db.collection(EVIDENCE_COLLECTION);
        const stored = await waitFor(`evidence ${ev.id} recorded`, () => evidence.findOne({ _id: ev.id as never }), (d) => d !== null, 30_000, 500);
        assert.ok(stored, `evidence ${ev.id} is recorded (within 30 s)`);

        // The immutable log: the start with the evidence, every step, the outcome.
        const entries = await runEntries(report.workflowId, logHead + 1);
        const kinds = entries.map((e) => e.kind);
        // Runs of one workflow id share their entries' `run`: a crash loop whose window slid may have
        // had an earlier run since the fault, so the start looked for is the one with this evidence.
        const starts = entries.filter((e) => e.kind === 'playbook.started');
        assert.ok(starts.length > 0, `playbook.started in the log (saw ${kinds.join(', ')})`);
        const startEvidence = starts.map((e) => (e.data as { evidence?: { id?: string } }).evidence?.id);
        assert.ok(startEvidence.includes(ev.id), `a start entry holds the evidence ${ev.id} (starts hold ${startEvidence.join(', ')})`);
        const stepsLogged = new Set(entries.filter((e) => e.kind === 'playbook.step').map((e) => (e.data as { step: string }).step));
        for (const s of report.steps) assert.ok(stepsLogged.has(s.id), `step ${s.id} is in the log`);
        const finished = entries.find((e) => e.kind === 'playbook.finished');
        assert.equal((finished?.data as { outcome?: string } | undefined)?.outcome, 'succeeded');

      } finally {
        await injected.restore();
      }
    });
  }
});
