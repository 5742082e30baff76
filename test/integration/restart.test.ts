import assert from 'node:assert/strict';
import { connectClient } from '../../src/clients/temporal';
import { connectStore } from '../../src/clients/store';
import { processManager, startServices, startWorkers, stopAll } from '../../src/stack/stack';
import { PREFLIGHT_WORKFLOW, type PreflightWorkflow } from '../../contracts/preflight';
import { runBoot } from '../../scripts/kernel-verbs';
import { stackAvailable, testConfig, uniqueId } from '../support/env';

describe('stopping and starting the stack keeps what it holds', () => {
  const config = testConfig();
  const quiet = (): void => undefined;

  before(function () {
    if (!stackAvailable()) this.skip();
  });

  it('keeps workflow histories and stored documents across down and up', async function () {
    this.timeout(180_000);
    const workflowId = uniqueId('restart');
    const docId = uniqueId('doc');

    let client = await connectClient(config);
    let store = await connectStore(config);
    await client.workflow.execute<PreflightWorkflow>(PREFLIGHT_WORKFLOW, { taskQueue: config.temporal.taskQueues.healing, workflowId });
    const historyBefore = await client.workflow.getHandle(workflowId).fetchHistory();
    await store.db.collection('restart_probe').insertOne({ _id: docId as never, kept: true });
    await client.connection.close();
    await store.close();

    await stopAll(config, quiet);
    const pm = processManager(config);
    assert.deepEqual(pm.list().filter((n) => pm.isAlive(n)), [], 'down left nothing running');

    await startServices(config, quiet);
    await startWorkers(config, quiet);

    client = await connectClient(config);
    // Boot again, as `layer1 up` does, so the files after this one find every kernel ready.
    const boot = await runBoot(config, client);
    assert.equal(boot.ok, true, boot.failedChecks.join('; '));
    store = await connectStore(config);
    try {
      const handle = client.workflow.getHandle(workflowId);
      assert.equal((await handle.describe()).status.name, 'COMPLETED');
      const historyAfter = await handle.fetchHistory();
      assert.equal(historyAfter.events?.length, historyBefore.events?.length);
      assert.ok(await store.db.collection('restart_probe').findOne({ _id: docId as never }), 'document kept');
      // And the restarted stack still runs new work.
      const report = await client.workflow.execute<PreflightWorkflow>(PREFLIGHT_WORKFLOW, {
        taskQueue: config.temporal.taskQueues.healing,
        workflowId: uniqueId('after-restart'),
      });
      assert.equal(report.ok, true);
    } finally {
      await client.connection.close();
      await store.close();
    }
  });
});
