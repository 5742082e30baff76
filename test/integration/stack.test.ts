import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { connectClient } from '../../src/clients/temporal';
import { connectStore, type Store } from '../../src/clients/store';
import { PREFLIGHT_COLLECTION } from '../../src/clients/collections';
import { PREFLIGHT_WORKFLOW, type PreflightWorkflow } from '../../contracts/preflight';
import { OutcomeAttr, PhaseAttr } from '../../contracts/search-attributes';
import { stackAvailable, testConfig, uniqueId, TEST_CONFIG_FILE } from '../support/env';
import { runCli } from '../support/cli';

describe('the embedded stack (real Temporal, FerretDB, NATS)', () => {
  const config = testConfig();
  let client: Client;
  let store: Store;

  before(async function () {
    if (!stackAvailable()) this.skip();
    client = await connectClient(config);
    store = await connectStore(config);
  });

  after(async () => {
    await client?.connection.close();
    await store?.close();
  });

  it('status --json keeps its contract and says healthy', async () => {
    const res = await runCli(['--config', TEST_CONFIG_FILE, 'status', '--json']);
    assert.equal(res.code, 0, res.stderr + res.stdout);
    const status = JSON.parse(res.stdout);
    assert.equal(status.healthy, true, res.stdout);
    assert.equal(status.webUi, `http://127.0.0.1:${config.temporal.uiPort}`);
    for (const name of ['temporal', 'store', 'bus']) {
      const s = status.services[name];
      assert.equal(s.healthy, true, `${name}: ${s.detail}`);
      assert.equal(typeof s.pid, 'number');
      assert.equal(typeof s.address, 'string');
      assert.match(s.log, /\.log$/);
    }
    assert.equal(status.workers.length, 3);
    for (const w of status.workers) {
      assert.deepEqual(Object.keys(w).filter((k) => ['taskQueue', 'pid', 'healthy'].includes(k)).sort(), ['healthy', 'pid', 'taskQueue']);
      assert.equal(w.healthy, true, `${w.name}: ${w.detail}`);
    }
    assert.equal(status.workers.filter((w: { taskQueue: string }) => w.taskQueue === config.temporal.taskQueues.healing).length, 2);
  });

  it('serves the Temporal Web UI', async () => {
    const res = await fetch(`http://127.0.0.1:${config.temporal.uiPort}/`);
    assert.equal(res.status, 200);
  });

  it('runs preflight through the worker processes, stores the report, and tags it for the Web UI', async () => {
    const workflowId = uniqueId('preflight');
    const report = await client.workflow.execute<PreflightWorkflow>(PREFLIGHT_WORKFLOW, {
      taskQueue: config.temporal.taskQueues.healing,
      workflowId,
    });
    assert.equal(report.ok, true, JSON.stringify(report.checks, null, 2));
    assert.deepEqual(report.checks.map((c) => c.name).sort(), ['bus', 'config', 'disk', 'ports', 'store', 'temporal']);
    const stored = await store.db.collection(PREFLIGHT_COLLECTION).findOne({ _id: workflowId as never });
    assert.ok(stored, 'the report is in the store');
    assert.equal(stored.ok, true);
    const desc = await client.workflow.getHandle(workflowId).describe();
    assert.equal(desc.typedSearchAttributes.get(PhaseAttr), 'preflight');
    assert.equal(desc.typedSearchAttributes.get(OutcomeAttr), 'passed');
  });

  it('up on a running stack is a no-op: same pids', async () => {
    const before = JSON.parse((await runCli(['--config', TEST_CONFIG_FILE, 'status', '--json'])).stdout);
    const up = await runCli(['--config', TEST_CONFIG_FILE, 'up', '--no-boot']);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /already running/);
    const after = JSON.parse((await runCli(['--config', TEST_CONFIG_FILE, 'status', '--json'])).stdout);
    assert.deepEqual(
      Object.values(after.services).map((s: any) => s.pid),
      Object.values(before.services).map((s: any) => s.pid),
    );
    assert.deepEqual(after.workers.map((w: any) => w.pid), before.workers.map((w: any) => w.pid));
  });
});
