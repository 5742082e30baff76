import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import type { CheckResult } from '../../src/domain/checks';
import type { PreflightActivities } from '../../activities/preflight';
import { getPreflightReportQuery, type PreflightReport, PREFLIGHT_WORKFLOW, type PreflightWorkflow } from '../../contracts/preflight';
import { timeSkippingFixture } from '../support/time-skipping';
import { uniqueId } from '../support/env';

const pass = (name: string): (() => Promise<CheckResult>) => async () => ({ name, ok: true, detail: 'ok', ms: 1 });

describe('preflight workflow (time-skipping server, stub activities)', function () {
  const ts = timeSkippingFixture();

  async function run(activities: PreflightActivities): Promise<PreflightReport> {
    const taskQueue = uniqueId('preflight');
    const worker = await Worker.create({ connection: ts.env.nativeConnection, taskQueue, workflowBundle: ts.bundle, activities });
    return worker.runUntil(
      ts.env.client.workflow.execute<PreflightWorkflow>(PREFLIGHT_WORKFLOW, { taskQueue, workflowId: uniqueId('preflight') }),
    );
  }

  function stubs(overrides: Partial<PreflightActivities> = {}): PreflightActivities & { recorded: PreflightReport[] } {
    const recorded: PreflightReport[] = [];
    return {
      recorded,
      checkConfig: pass('config'),
      checkTemporal: pass('temporal'),
      checkStore: pass('store'),
      checkBus: pass('bus'),
      checkDisk: pass('disk'),
      checkPorts: pass('ports'),
      recordPreflight: async (r: PreflightReport) => {
        recorded.push(r);
      },
      ...overrides,
    };
  }

  it('passes when every check passes, and records the report once', async () => {
    const acts = stubs();
    const report = await run(acts);
    assert.equal(report.ok, true);
    assert.deepEqual(report.checks.map((c) => c.name), ['config', 'temporal', 'store', 'bus', 'disk', 'ports']);
    assert.equal(acts.recorded.length, 1);
    assert.equal(acts.recorded[0].ok, true);
  });

  it('fails and reports every failed check, not only the first', async () => {
    const acts = stubs({
      checkStore: async () => ({ name: 'store', ok: false, detail: 'connection refused', ms: 3 }),
      checkDisk: async () => ({ name: 'disk', ok: false, detail: '10 MiB free', ms: 1 }),
    });
    const report = await run(acts);
    assert.equal(report.ok, false);
    assert.deepEqual(report.checks.filter((c) => !c.ok).map((c) => c.name), ['store', 'disk']);
    assert.equal(acts.recorded[0].ok, false);
  });

  it('retries a check whose activity throws, per the named policy', async () => {
    let calls = 0;
    const acts = stubs({
      checkBus: async () => {
        calls++;
        if (calls < 3) throw new Error('transient');
        return { name: 'bus', ok: true, detail: 'ok', ms: 1 };
      },
    });
    const report = await run(acts);
    assert.equal(report.ok, true);
    assert.equal(calls, 3);
  });

  it('answers the report query while running', async () => {
    const taskQueue = uniqueId('preflight');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const acts = stubs({
      checkTemporal: async () => {
        await gate;
        return { name: 'temporal', ok: true, detail: 'ok', ms: 1 };
      },
    });
    const worker = await Worker.create({ connection: ts.env.nativeConnection, taskQueue, workflowBundle: ts.bundle, activities: acts });
    await worker.runUntil(async () => {
      const handle = await ts.env.client.workflow.start<PreflightWorkflow>(PREFLIGHT_WORKFLOW, { taskQueue, workflowId: uniqueId('preflight') });
      const during = await handle.query(getPreflightReportQuery);
      assert.equal(during.finishedAt, null);
      release();
      const done = await handle.result();
      assert.equal(done.ok, true);
    });
  });
});
