import assert from 'node:assert/strict';
import { WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import type { Playbook, PlaybookStep } from '../../src/playbooks/format';
import { approveStepUpdate, getPlaybookProgressQuery, rejectStepUpdate, type PlaybookReport, type PlaybookRunInput, PLAYBOOK_WORKFLOW, type PlaybookWorkflow } from '../../contracts/playbook';
import { MongoClient, type Db } from 'mongodb';
import { createPlaybookActivities, flushAudit, type AuditEntry, type AuditFlush } from '../../activities/playbooks';
import { kernelLocks } from '../../activities/kernel-locks';
import { AUDIT_META_FIELD } from '../../activities/actions';
import { immutableLogClient } from '../../kernels/registry';
import { processManager } from '../../src/stack/stack';
import { timeSkippingFixture } from '../support/time-skipping';
import { stackAvailable, testConfig, uniqueId } from '../support/env';
import { waitFor } from '../support/kernels';

function step(id: string, action: string, extra: Partial<PlaybookStep> = {}): PlaybookStep {
  return {
    id,
    action: action as PlaybookStep['action'],
    with: {},
    output: null,
    when: null,
    timeoutMs: 10_000,
    retry: { attempts: 1, backoffMs: 100, nonRetryable: [] },
    onFailure: 'abort',
    compensate: null,
    approval: null,
    ...extra,
  };
}

function playbook(steps: PlaybookStep[], extra: Partial<Playbook> = {}): Playbook {
  return {
    name: 'test_playbook',
    description: '',
    file: 'test.yaml',
    trigger: { kernel: 'message_bus', events: ['exited'], signatures: [] },
    parameters: {},
    concurrency: 'wait',
    steps,
    ...extra,
  };
}

/** Stub activities that record every call, in order, by action name and step id. */
function recorder(failing: Record<string, string> = {}) {
  const calls: Array<{ action: string; stepId: string; params: unknown }> = [];
  const make = (action: string) => async (params: unknown, meta: { stepId: string }) => {
    calls.push({ action, stepId: meta.stepId, params });
    if (failing[meta.stepId]) throw ApplicationFailure.create({ type: 'Boom', message: failing[meta.stepId], nonRetryable: true });
    return { action, echo: params, snapshot: `snap-${meta.stepId}` };
  };
  const names = ['take_snapshot', 'restore_from_snapshot', 'restart_kernel', 'publish_event', 'purge_queue', 'open_backlog_item', 'verify_log_chain'];
  const activities: Record<string, unknown> = Object.fromEntries(names.map((n) => [n, make(n)]));
  activities.append_audit = async (params: { kind: string }, meta: { stepId: string }) => {
    calls.push({ action: 'append_audit', stepId: meta.stepId, params });
    return { seq: calls.length, hash: 'h' };
  };
  // Today's runs: the audit entries arrive in batches through the local activities.
  const audited = (f: AuditFlush): void => {
    for (const e of f.entries) calls.push({ action: 'append_audit', stepId: `audit:${e.key}`, params: { kind: e.kind, data: e.data } });
  };
  activities.beginPlaybookRun = async () => ({ lock: null, logSeq: 0 });
  activities.flushPlaybookAudit = async (f: AuditFlush) => {
    audited(f);
    return { appended: f.entries.length, seq: calls.length };
  };
  activities.finishPlaybookRun = async ({ audit }: { audit: AuditFlush }) => {
    audited(audit);
    return { auditErrors: [], seq: calls.length };
  };
  return { calls, activities, actions: () => calls.filter((c) => c.action !== 'append_audit') };
}

/** The entries of one run in the log (the suite's stack), in log order: kind and audit key. */
async function runEntries(workflowId: string, fromSeq: number): Promise<Array<{ kind: string; stepId: string; seq: number }>> {
  const log = immutableLogClient(testConfig(), 10_000);
  const head = (await log.head()).seq;
  const out: Array<{ kind: string; stepId: string; seq: number }> = [];
  for (let from = fromSeq + 1; from <= head; from += 1000) {
    for (const e of (await log.entries(from, 1000)).entries) {
      const meta = (e.data as Record<string, Record<string, unknown>> | null)?.[AUDIT_META_FIELD];
      if (meta?.workflowId === workflowId) out.push({ kind: e.kind, stepId: String(meta.stepId), seq: e.seq });
    }
  }
  return out;
}

describe('playbook workflow (time-skipping server, stub activities)', function () {
  this.timeout(60_000);
  const ts = timeSkippingFixture();

  async function withWorker<T>(activities: object, fn: (taskQueue: string) => Promise<T>): Promise<T> {
    const taskQueue = uniqueId('playbook');
    const worker = await Worker.create({ connection: ts.env.nativeConnection, taskQueue, workflowBundle: ts.bundle, activities });
    return worker.runUntil(fn(taskQueue));
  }

  const input = (pb: Playbook, extra: Partial<PlaybookRunInput> = {}): PlaybookRunInput => ({ playbook: pb, params: {}, kernel: null, ...extra });

  async function failureReport(p: Promise<unknown>): Promise<PlaybookReport> {
    try {
      await p;
    } catch (err) {
      assert.ok(err instanceof WorkflowFailedError, String(err));
      return (err.cause as ApplicationFailure).details![0] as PlaybookReport;
    }
    assert.fail('the run was expected to fail');
  }

  it('passes parameters and earlier outputs into later steps, and skips a step whose condition is false', async () => {
    const rec = recorder();
    const pb = playbook(
      [
        step('snap', 'take_snapshot', { with: { paths: ['${{ params.file }}'], label: 'x' }, output: 'snap' }),
        step('skip', 'purge_queue', { when: '${{ params.purge }}', with: { stream: 'S' } }),
        step('tell', 'publish_event', { with: { subject: 'layer1.events.x', payload: { snapshot: '${{ steps.snap.snapshot }}', n: '${{ params.n }}' } } }),
      ],
      { parameters: {} },
    );
    const report = await withWorker(rec.activities, (taskQueue) =>
      ts.env.client.workflow.execute<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('pb'), args: [input(pb, { params: { file: 'bus/nats.conf', purge: false, n: 3 } })] }),
    );
    assert.equal(report.outcome, 'succeeded');
    assert.deepEqual(rec.actions().map((c) => c.stepId), ['snap', 'tell']);
    assert.deepEqual(rec.actions()[0].params, { paths: ['bus/nats.conf'], label: 'x' });
    assert.deepEqual(rec.actions()[1].params, { subject: 'layer1.events.x', payload: { snapshot: 'snap-snap', n: 3 } });
    assert.equal(report.steps[1].status, 'skipped');
    assert.ok(rec.calls.some((c) => c.action === 'append_audit' && c.stepId === 'audit:tell'), 'each step is audited');
  });

  it('a failing step compensates the completed steps in reverse, and a failing compensation does not stop the others', async () => {
    const rec = recorder({ c: 'step c broke', 'compensate:a': 'compensation of a broke' });
    const comp = (id: string) => ({ action: 'restore_from_snapshot' as const, with: { path: `file-${id}`, snapshot: `\${{ steps.${id}.snapshot }}` } });
    const pb = playbook([
      step('a', 'take_snapshot', { output: 'a', compensate: comp('a') }),
      step('b', 'take_snapshot', { output: 'b', compensate: comp('b') }),
      step('c', 'restart_kernel', { onFailure: 'compensate' }),
      step('d', 'publish_event'),
    ]);
    const report = await withWorker(rec.activities, (taskQueue) =>
      failureReport(ts.env.client.workflow.execute<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('pb'), args: [input(pb)] })),
    );
    assert.equal(report.outcome, 'compensated');
    assert.deepEqual(rec.actions().map((c) => c.stepId), ['a', 'b', 'c', 'compensate:b', 'compensate:a']);
    assert.deepEqual(rec.actions()[3].params, { path: 'file-b', snapshot: 'snap-b' });
    assert.deepEqual(report.compensations.map((c) => [c.stepId, c.ok]), [['b', true], ['a', false]]);
    assert.equal(report.steps[3].status, 'pending', 'nothing runs after the failure');
  });

  it('on_failure abort stops without compensating; continue goes on', async () => {
    const rec = recorder({ b: 'nope' });
    const pb = playbook([
      step('a', 'take_snapshot', { compensate: { action: 'restore_from_snapshot', with: { path: 'p' } } }),
      step('b', 'restart_kernel', { onFailure: 'continue' }),
      step('c', 'publish_event'),
    ]);
    const report = await withWorker(rec.activities, (taskQueue) =>
      ts.env.client.workflow.execute<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('pb'), args: [input(pb)] }),
    );
    assert.equal(report.outcome, 'succeeded');
    assert.deepEqual(report.steps.map((s) => s.status), ['succeeded', 'failed', 'succeeded']);

    const rec2 = recorder({ b: 'nope' });
    const pb2 = playbook([step('a', 'take_snapshot', { compensate: { action: 'restore_from_snapshot', with: { path: 'p' } } }), step('b', 'restart_kernel'), step('c', 'publish_event')]);
    const report2 = await withWorker(rec2.activities, (taskQueue) =>
      failureReport(ts.env.client.workflow.execute<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('pb'), args: [input(pb2)] })),
    );
    assert.equal(report2.outcome, 'failed');
    assert.deepEqual(rec2.actions().map((c) => c.stepId), ['a', 'b']);
  });

  describe('approval gates', () => {
    const gated = (def: 'approve' | 'reject') =>
      playbook([
        step('a', 'take_snapshot', { compensate: { action: 'restore_from_snapshot', with: { path: 'p' } } }),
        step('purge', 'purge_queue', { approval: { timeoutMs: 600_000, default: def, prompt: 'Purge?' }, onFailure: 'compensate' }),
      ]);

    async function waitUntilWaiting(handle: { query: (q: typeof getPlaybookProgressQuery) => Promise<PlaybookReport> }): Promise<void> {
      for (let i = 0; i < 100; i++) {
        const r = await handle.query(getPlaybookProgressQuery);
        if (r.steps[1].status === 'waiting_approval') return;
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.fail('never waited for approval');
    }

    it('waits, then proceeds on approve', async () => {
      const rec = recorder();
      const report = await withWorker(rec.activities, async (taskQueue) => {
        const handle = await ts.env.client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('pb'), args: [input(gated('reject'))] });
        await waitUntilWaiting(handle);
        assert.deepEqual(rec.actions().map((c) => c.stepId), ['a'], 'the gated step has not run');
        await handle.executeUpdate(approveStepUpdate, { args: [{ step: 'purge', by: 'alice' }] });
        return handle.result();
      });
      assert.equal(report.outcome, 'succeeded');
      assert.deepEqual(report.steps[1].approval, { decision: 'approve', by: 'alice', timedOut: false });
      assert.deepEqual(rec.actions().map((c) => c.stepId), ['a', 'purge']);
    });

    it('compensates on reject', async () => {
      const rec = recorder();
      const report = await withWorker(rec.activities, async (taskQueue) => {
        const handle = await ts.env.client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('pb'), args: [input(gated('approve'))] });
        await waitUntilWaiting(handle);
        await handle.executeUpdate(rejectStepUpdate, { args: [{ step: 'purge', by: 'bob' }] });
        return failureReport(handle.result());
      });
      assert.equal(report.outcome, 'compensated');
      assert.equal(report.steps[1].status, 'rejected');
      assert.deepEqual(rec.actions().map((c) => c.stepId), ['a', 'compensate:a']);
    });

    it('takes its default on timeout (time skipped), approve or reject', async () => {
      const rec = recorder();
      const approved = await withWorker(rec.activities, (taskQueue) =>
        ts.env.client.workflow.execute<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('pb'), args: [input(gated('approve'))] }),
      );
      assert.equal(approved.outcome, 'succeeded');
      assert.deepEqual(approved.steps[1].approval, { decision: 'approve', by: 'timeout', timedOut: true });

      const rec2 = recorder();
      const rejected = await withWorker(rec2.activities, (taskQueue) =>
        failureReport(ts.env.client.workflow.execute<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('pb'), args: [input(gated('reject'))] })),
      );
      assert.equal(rejected.outcome, 'compensated');
      assert.deepEqual(rejected.steps[1].approval, { decision: 'reject', by: 'timeout', timedOut: true });
    });

    it('refuses an approval for a step that is not waiting, before anything is recorded', async () => {
      const rec = recorder();
      await withWorker(rec.activities, async (taskQueue) => {
        const handle = await ts.env.client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('pb'), args: [input(gated('approve'))] });
        await waitUntilWaiting(handle);
        const because = (re: RegExp) => (err: Error & { cause?: Error }) => re.test(err.cause?.message ?? '');
        await assert.rejects(handle.executeUpdate(approveStepUpdate, { args: [{ step: 'a' }] }), because(/not waiting for approval/));
        await assert.rejects(handle.executeUpdate(approveStepUpdate, { args: [{ step: 'nope' }] }), because(/no step "nope"/));
        const during = await handle.query(getPlaybookProgressQuery);
        assert.equal(during.steps[0].approval, null, 'the refused updates recorded nothing');
        await handle.executeUpdate(approveStepUpdate, { args: [{ step: 'purge' }] });
        await handle.result();
      });
    });
  });

  it('dry run shows the plan with resolved parameters and runs nothing', async () => {
    const rec = recorder();
    const pb = playbook([
      step('snap', 'take_snapshot', { with: { paths: ['${{ params.file }}'] }, output: 'snap' }),
      step('tell', 'publish_event', { with: { subject: 'layer1.events.x', payload: { s: '${{ steps.snap.snapshot }}' } } }),
    ]);
    const report = await withWorker(rec.activities, (taskQueue) =>
      ts.env.client.workflow.execute<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('pb'), args: [input(pb, { params: { file: 'a.conf' }, dryRun: true })] }),
    );
    assert.equal(report.outcome, 'dry_run');
    assert.equal(rec.calls.length, 0, 'no activity ran');
    assert.deepEqual(report.steps[0].params, { paths: ['a.conf'] });
    assert.deepEqual(report.steps[1].params, { subject: 'layer1.events.x', payload: { s: '${{ steps.snap.snapshot }}' } });
  });

  describe('kernel lock and audit log (the suite store and immutable log)', () => {
    let mongo: MongoClient;
    let db: Db;

    before(async function () {
      if (!stackAvailable()) this.skip();
      const config = testConfig();
      mongo = await MongoClient.connect(config.store.uri, { serverSelectionTimeoutMS: 5_000 });
      db = mongo.db(config.store.database);
    });
    after(async () => {
      await mongo?.close();
    });

    /** The stub actions, with the real lock, flush and finish (against the time-skipping server's client). */
    const realEngine = (rec: ReturnType<typeof recorder>) => ({
      ...rec.activities,
      ...createPlaybookActivities({ config: testConfig(), db, temporal: ts.env.client }),
      append_audit: rec.activities.append_audit,
    });
    const gatedPb = (extra: Partial<Playbook> = {}) =>
      playbook([step('hold', 'take_snapshot', { approval: { timeoutMs: 600_000, default: 'approve', prompt: '' } })], extra);
    type Handle = Awaited<ReturnType<typeof ts.env.client.workflow.start<PlaybookWorkflow>>>;
    const until = async (what: string, fn: () => Promise<boolean>): Promise<void> => {
      await waitFor(what, fn, Boolean, 10_000);
    };
    const progress = (h: Handle) => h.query(getPlaybookProgressQuery);

    it('one run per kernel: a second run is refused (refuse) or waits (wait) and runs once the holder finishes', async () => {
      const rec = recorder();
      // A kernel name of this test's own, so its lock document is this test's alone.
      const kernel = uniqueId('kernel');
      await withWorker(realEngine(rec), async (taskQueue) => {
        const first = await ts.env.client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('pb1'), args: [input(gatedPb(), { kernel })] });
        await until('the first run waits for approval', async () => (await progress(first)).steps[0].status === 'waiting_approval');
        // No awaiting of results until the end: while the client awaits one, the time-skipping
        // server fast-forwards, and the first run's approval would time out.
        const second = await ts.env.client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, {
          taskQueue,
          workflowId: uniqueId('pb2'),
          args: [input(playbook([step('x', 'publish_event')], { concurrency: 'refuse' }), { kernel })],
        });
        await until('the refused run ends', async () => (await second.describe()).status.name !== 'RUNNING');
        assert.equal((await second.describe()).status.name, 'FAILED');
        assert.equal((await progress(second)).outcome, 'refused');
        const waiting = await ts.env.client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, {
          taskQueue,
          workflowId: uniqueId('pb3'),
          args: [input(playbook([step('y', 'publish_event')]), { kernel })],
        });
        await until('the third run queues', async () => (await progress(waiting)).outcome === 'waiting_lock');
        const doc = await kernelLocks({ db, temporal: ts.env.client }).state(kernel);
        assert.equal(doc?.holder?.workflowId, first.workflowId);
        assert.deepEqual(doc?.waiters.map((w) => w.workflowId), [waiting.workflowId], 'the refused run never queued');
        await first.executeUpdate(approveStepUpdate, { args: [{ step: 'hold' }] });
        assert.equal((await first.result()).outcome, 'succeeded');
        assert.equal((await waiting.result()).outcome, 'succeeded', 'the waiting run got the lock once released');
        const after = await kernelLocks({ db, temporal: ts.env.client }).state(kernel);
        assert.deepEqual([after?.holder, after?.waiters], [null, []], 'released by the last run');
      });
      assert.deepEqual(rec.actions().map((c) => c.stepId), ['hold', 'y']);
    });

    it('a lock whose holder was terminated is taken over: at once by a new run, and by a waiting run at its re-check', async () => {
      const rec = recorder();
      const kernel = uniqueId('kernel');
      await withWorker(realEngine(rec), async (taskQueue) => {
        // A holder and a waiter; then the holder is terminated (it never releases).
        const holder = await ts.env.client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('holder'), args: [input(gatedPb(), { kernel })] });
        await until('the holder holds', async () => (await progress(holder)).steps[0].status === 'waiting_approval');
        const waiter = await ts.env.client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('waiter'), args: [input(playbook([step('w', 'publish_event')]), { kernel })] });
        await until('the waiter queues', async () => (await progress(waiter)).outcome === 'waiting_lock');
        await holder.terminate('test: a holder that never releases');
        // Awaiting the result lets the server skip to the waiter's periodic re-check (15 s).
        assert.equal((await waiter.result()).outcome, 'succeeded', 'taken over from the terminated holder');

        // A holder terminated with nobody waiting: the next run takes the lock over at once.
        const holder2 = await ts.env.client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId: uniqueId('holder2'), args: [input(gatedPb(), { kernel })] });
        await until('the second holder holds', async () => (await progress(holder2)).steps[0].status === 'waiting_approval');
        await holder2.terminate('test: a holder that never releases');
        const refuser = await ts.env.client.workflow.execute<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, {
          taskQueue,
          workflowId: uniqueId('refuser'),
          args: [input(playbook([step('r', 'publish_event')], { concurrency: 'refuse' }), { kernel })],
        });
        assert.equal(refuser.outcome, 'succeeded', 'a refuse run is not refused by an ended holder');
      });
      assert.deepEqual(rec.actions().map((c) => c.stepId), ['w', 'r'], 'the terminated holders never got past their gates');
    });

    it("appends the run's audit entries to the log in order, exactly once, flushing before an approval gate", async () => {
      const rec = recorder();
      const log = immutableLogClient(testConfig(), 10_000);
      const fromSeq = (await log.head()).seq;
      const pb = playbook([
        step('a', 'take_snapshot'),
        step('skipped', 'purge_queue', { when: '${{ params.never }}' }),
        step('gate', 'publish_event', { approval: { timeoutMs: 600_000, default: 'reject', prompt: 'go?' } }),
        step('b', 'publish_event'),
      ]);
      const workflowId = uniqueId('audited');
      const report = await withWorker(realEngine(rec), async (taskQueue) => {
        const h = await ts.env.client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, { taskQueue, workflowId, args: [input(pb, { params: { never: false }, kernel: uniqueId('kernel') })] });
        await until('the run waits at its gate', async () => (await progress(h)).steps[2].status === 'waiting_approval');
        // What happened before the gate is in the log while the run waits.
        assert.deepEqual((await runEntries(workflowId, fromSeq)).map((e) => e.stepId), ['audit:start', 'audit:a', 'audit:skipped']);
        await h.executeUpdate(approveStepUpdate, { args: [{ step: 'gate' }] });
        return h.result();
      });
      assert.equal(report.outcome, 'succeeded');
      assert.deepEqual(report.auditErrors, []);
      const entries = await runEntries(workflowId, fromSeq);
      assert.deepEqual(
        entries.map((e) => `${e.kind} ${e.stepId}`),
        ['playbook.started audit:start', 'playbook.step audit:a', 'playbook.step audit:skipped', 'playbook.step audit:gate', 'playbook.step audit:b', 'playbook.finished audit:finish'],
      );
      const stored = await db.collection('playbook_runs').findOne({ _id: workflowId as unknown as never });
      assert.equal((stored as unknown as { outcome: string } | null)?.outcome, 'succeeded', 'the report is stored');
    });

    it("the run's end waits for an immutable log being restarted: its entries land once the log is back, none listed as errors", async () => {
      const config = testConfig();
      const log = immutableLogClient(config, 10_000);
      const afterSeq = (await log.head()).seq;
      const workflowId = uniqueId('finish-log-restart');
      const run = { workflowId, runId: 'run-1', playbook: 'test_playbook', kernel: null };
      const entries: AuditEntry[] = ['start', 'finish'].map((key, i) => ({ key, kind: 'test.finish', data: { i }, at: Date.now() }));
      const report: PlaybookReport = {
        workflowId, playbook: 'test_playbook', kernel: null, dryRun: false, params: {}, outcome: 'succeeded', steps: [], compensations: [],
        auditErrors: [], evidence: [], startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(),
      };
      const { finishPlaybookRun } = createPlaybookActivities({ config, db, temporal: ts.env.client });
      // Killed: each append is refused at once, until the control plane has started it again.
      assert.ok(processManager(config).signal('immutable-log', 'SIGKILL'), 'the immutable log server was running');
      const done = await finishPlaybookRun({ report, audit: { run, entries, afterSeq }, lock: null });
      assert.deepEqual(done.auditErrors, []);
      assert.deepEqual((await runEntries(workflowId, afterSeq)).map((e) => e.stepId), ['audit:start', 'audit:finish']);
      await db.collection('playbook_runs').deleteOne({ _id: workflowId as unknown as never });
    });

    it('a flush repeated after a lost answer, or after part of it landed, appends each entry once, in order', async () => {
      const log = immutableLogClient(testConfig(), 10_000);
      const afterSeq = (await log.head()).seq;
      const workflowId = uniqueId('flush');
      const run = { workflowId, runId: 'run-1', playbook: 'test_playbook', kernel: null };
      const entries: AuditEntry[] = ['start', 'a', 'b', 'c', 'finish'].map((key, i) => ({ key, kind: 'test.flush', data: { i }, at: Date.now() }));
      // An attempt that landed only its first two entries (a batch lands as a prefix), then lost.
      await flushAudit(log, { run, entries: entries.slice(0, 2), afterSeq });
      await log.append('other.writer', { between: true });
      // The retry, and a retry of the retry (its answer lost too); one also with no afterSeq (time-bounded search).
      assert.equal((await flushAudit(log, { run, entries, afterSeq })).appended, 3);
      assert.equal((await flushAudit(log, { run, entries, afterSeq })).appended, 0);
      assert.equal((await flushAudit(log, { run, entries, afterSeq: null })).appended, 0);
      const got = await runEntries(workflowId, afterSeq);
      assert.deepEqual(got.map((e) => e.stepId), ['audit:start', 'audit:a', 'audit:b', 'audit:c', 'audit:finish']);
      assert.deepEqual(got.slice(2).map((e) => e.seq - got[2].seq), [0, 1, 2], 'one batch: contiguous');
    });

    it('after a lost run end, the replacement worker\'s earlier flush does not hide the end\'s entries from its retry', async () => {
      // The crash bench found it: a worker runs the last workflow task — a step-boundary flush was not
      // due yet, the run's end appends every entry — and is killed before completing it. The next
      // worker's clock is the task's retry, seconds later, so the step-boundary flush is due now and
      // flushes a prefix ([start, a]); then the end flushes the rest ([finish]) from what it returned.
      const log = immutableLogClient(testConfig(), 10_000);
      const afterSeq = (await log.head()).seq;
      const workflowId = uniqueId('flush-lost-end');
      const run = { workflowId, runId: 'run-1', playbook: 'test_playbook', kernel: null };
      const entries: AuditEntry[] = ['start', 'a', 'finish'].map((key, i) => ({ key, kind: 'test.flush', data: { i }, at: Date.now() }));
      await flushAudit(log, { run, entries, afterSeq }); // the lost attempt's end: everything landed
      await log.append('other.writer', { after: true });
      const early = await flushAudit(log, { run, entries: entries.slice(0, 2), afterSeq });
      assert.equal(early.appended, 0);
      assert.equal((await flushAudit(log, { run, entries: entries.slice(2), afterSeq: early.seq })).appended, 0, 'finish is already in the log');
      const got = await runEntries(workflowId, afterSeq);
      assert.deepEqual(got.map((e) => e.stepId), ['audit:start', 'audit:a', 'audit:finish']);
    });
  });
});
