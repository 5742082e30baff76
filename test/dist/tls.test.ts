/**
 * `temporal.tls` against a real Temporal server with TLS on its frontend: deploy/dist/temporal.sh
 * tls-setup and tls-start run the recipe's Temporal server 1.32.1 as a cluster of its own on the
 * deployment's PostgreSQL (databases temporal_tls*), its frontend serving a certificate for
 * temporal.dist signed by a CA made with openssl. Layer 1's connections — the client (CLI, status,
 * probes) and the workers' native connection — do real work over it: a workflow of no-op activities
 * runs on an in-process worker. Without the CA, or without TLS, no connection is made.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createBenchActivities } from '../../activities/bench';
import { NOOP_ACTIVITIES_WORKFLOW, type NoopActivitiesWorkflow } from '../../contracts/bench';
import { connectClient, connectFirst, temporalAddresses, tlsOptions } from '../../src/clients/temporal';
import { parseConfig, type LoadedConfig } from '../../src/config/load';
import { WORKFLOW_BUNDLE } from '../../workers/run-worker';
import { DIST_STATE, distScript } from '../../deploy/dist/support';
import { uniqueId } from '../support/env';

const PORT = Number(process.env.TEMPORAL_TLS_PORT ?? 23233);

describe('distributed deployment: temporal.tls against a Temporal server with TLS', function () {
  this.timeout(10 * 60_000);
  const tlsDir = path.join(DIST_STATE, 'temporal', 'tls');
  const config = (tls: string): LoadedConfig =>
    parseConfig(`temporal:\n  embedded: false\n  address: 127.0.0.1:${PORT}\n${tls}`, path.join(tlsDir, 'temporal.config.yaml'), {});

  before(() => {
    distScript('pg.sh', ['start']);
    distScript('temporal.sh', ['tls-setup']);
    distScript('temporal.sh', ['tls-start']);
  });

  after(() => {
    distScript('temporal.sh', ['tls-stop']);
    if (!process.env.LAYER1_DIST_KEEP) distScript('down.sh');
  });

  it('runs a workflow over TLS: the CA file and server name for the client and the worker alike', async () => {
    const c = config('  tls: { caFile: ca.pem, serverName: temporal.dist }\n');
    const client = await connectClient(c, 10_000);
    const connection = await connectFirst(temporalAddresses(c), (address) => NativeConnection.connect({ address, tls: tlsOptions(c) }));
    try {
      const info = await client.connection.workflowService.getSystemInfo({});
      assert.equal(info.serverVersion, '1.32.1');
      const taskQueue = uniqueId('tls');
      const worker = await Worker.create({ connection, namespace: 'default', taskQueue, workflowBundle: { codePath: WORKFLOW_BUNDLE }, activities: createBenchActivities() });
      const result = await worker.runUntil(
        client.workflow.execute<NoopActivitiesWorkflow>(NOOP_ACTIVITIES_WORKFLOW, { taskQueue, workflowId: uniqueId('tls-noop'), args: [3] }),
      );
      assert.equal(result, 3);
    } finally {
      await client.connection.close();
      await connection.close();
    }
  });

  it('refuses the frontend without its CA (tls: true, the system roots) and without TLS', async () => {
    const noCa = await connectClient(config('  tls: true\n'), 3_000).catch((e: unknown) => e);
    assert.ok(noCa instanceof Error, 'a CA the system does not know is refused');
    const plain = await connectClient(config(''), 3_000).catch((e: unknown) => e);
    assert.ok(plain instanceof Error, 'a plaintext connection to a TLS frontend fails');
  });
});
