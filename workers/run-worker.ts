/**
 * Shared worker bootstrap: load config, connect the clients activities need, run one Temporal
 * worker on one task queue until SIGTERM, then close every connection. Each worker process is
 * started detached by `layer1 up` with pid and log files, so closing the terminal does not stop it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { loadConfig, type LoadedConfig } from '../src/config/load';
import { connectBus } from '../src/clients/bus';
import { connectStore } from '../src/clients/store';
import { connectClient, tlsOptions } from '../src/clients/temporal';
import { workerIdentity } from '../src/stack/stack';
import { createActivities, type ActivityDeps } from '../activities';
import { logger } from '../src/log';

/** The workflow bundle `npm run build` writes; bundling at start would cost seconds per worker. */
export const WORKFLOW_BUNDLE = path.resolve(__dirname, '..', 'workflow-bundle.js');

export interface WorkerSetup {
  taskQueue: (config: LoadedConfig) => string;
  /** Which activities this worker serves. Defaults to all of them. */
  activities?: (deps: ActivityDeps) => object;
  /** Whether this worker runs workflows (the coding agent's queue has activities only, for now). */
  workflows?: boolean;
}

export async function runWorker(setup: WorkerSetup): Promise<void> {
  const config = loadConfig();
  const name = process.env.LAYER1_WORKER_NAME ?? `worker-${process.pid}`;
  const log = logger.child({ worker: name });
  const store = await connectStore(config);
  const bus = await connectBus(config, { name: `layer1-${name}` });
  const temporal = await connectClient(config);
  const connection = await NativeConnection.connect({ address: config.temporal.address, tls: tlsOptions(config) });
  try {
    const deps: ActivityDeps = { config, db: store.db, bus, temporal };
    const workflowOptions: Partial<WorkerOptions> =
      setup.workflows === false
        ? {}
        : existsSync(WORKFLOW_BUNDLE)
          ? { workflowBundle: { codePath: WORKFLOW_BUNDLE } }
          : { workflowsPath: require.resolve('../workflows') };
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: setup.taskQueue(config),
      identity: workerIdentity(name, process.pid),
      activities: (setup.activities ?? createActivities)(deps),
      ...workflowOptions,
    });
    log.info({ taskQueue: setup.taskQueue(config), pid: process.pid }, 'worker polling');
    // Worker.run resolves after SIGTERM/SIGINT once in-flight tasks have finished or timed out.
    await worker.run();
    log.info('worker stopped');
  } finally {
    await connection.close();
    await temporal.connection.close();
    await bus.drain().catch(() => undefined);
    await store.close();
  }
}
