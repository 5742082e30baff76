/**
 * Shared worker bootstrap: load config, connect the clients activities need, run one Temporal
 * worker on one task queue until SIGTERM, then close every connection. Each worker process is
 * started detached (by `layer1 up` or the control plane) with pid and log files, so closing the
 * terminal or losing a sibling does not stop it.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { loadConfig, type LoadedConfig } from '../src/config/load';
import { connectBus } from '../src/clients/bus';
import { connectStore } from '../src/clients/store';
import { connectClient, connectFirst, temporalAddresses, tlsOptions } from '../src/clients/temporal';
import { processManager, workerIdentity } from '../src/stack/stack';
import { createActivities, type ActivityDeps } from '../activities';
import { kernelManifest, type KernelName } from '../src/domain/kernels';
import { logger } from '../src/log';
import { within } from '../src/deadline';
import { announceWarm, awaitPromotion, isStandby } from './standby';
import { CONTROL_PLANE_WORKFLOW } from '../contracts/control-plane';

/**
 * A control plane whose history no longer replays (a nondeterminism error) fails, instead of
 * retrying its workflow task for ever while every status query fails: closed, it is the
 * control_plane_failover playbook's to replace, from the kernels as they are. A CI run's control
 * plane was stuck so for minutes (docs/self-healing.md). The other workflows keep the SDK's
 * default (the task is retried), so a worker with a fix can still resume them.
 */
export const WORKFLOW_FAILURE_ERROR_TYPES = { '*': [], [CONTROL_PLANE_WORKFLOW]: ['NondeterminismError'] } satisfies WorkerOptions['workflowFailureErrorTypes'];

/** The longest one shutdown step may take before the next runs. */
const SHUTDOWN_STEP_MS = 2_000;

/** The workflow bundle `npm run build` writes; bundling at start would cost seconds per worker. */
export const WORKFLOW_BUNDLE = path.resolve(__dirname, '..', 'workflow-bundle.js');

export interface WorkerContext extends ActivityDeps {
  name: string;
  log: Logger;
}

export interface WorkerSetup {
  /**
   * The kernel this worker is; it connects to the bus as that kernel's ACL user (its manifest's
   * `busUser`). None for the chaos workers, which act as the operator does (they inject faults).
   */
  kernel: KernelName | null;
  taskQueue: (config: LoadedConfig) => string;
  /** Which activities this worker serves. Defaults to all of Layer 1's. */
  activities?: (ctx: WorkerContext) => object;
  /** Runs before the worker connects to anything (the store, the bus and Temporal may be down). */
  beforeConnect?: (config: LoadedConfig, log: Logger) => Promise<void>;
  /** Runs once the worker is created; the returned function runs at shutdown. */
  onStart?: (ctx: WorkerContext) => Promise<() => Promise<void>>;
}

export async function runWorker(setup: WorkerSetup): Promise<void> {
  const config = loadConfig();
  const name = process.env.LAYER1_WORKER_NAME ?? `worker-${process.pid}`;
  const log = logger.child({ worker: name, ...(isStandby ? { startedAsSpare: true } : {}) });
  // SIGUSR2 promotes a spare (workers/standby.ts): it must not be one of the SDK's shutdown
  // signals, which by default it is.
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM', 'SIGQUIT'] });
  await setup.beforeConnect?.(config, log);
  // Connect side by side: each waits on a network round trip, and start-up time is a target.
  const [store, bus, temporal, connection] = await Promise.all([
    connectStore(config),
    connectBus(config, { name: `layer1-${name}`, user: (setup.kernel && kernelManifest(setup.kernel).busUser) || undefined }),
    connectClient(config),
    connectFirst(temporalAddresses(config), (address) => NativeConnection.connect({ address, tls: tlsOptions(config) })),
  ]);
  let onStop: (() => Promise<void>) | undefined;
  let stoppedAsSpare = false;
  let failed = false;
  try {
    const ctx: WorkerContext = { config, db: store.db, bus, temporal, pm: processManager(config), name, log };
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: setup.taskQueue(config),
      identity: workerIdentity(name, process.pid),
      // A replica may be killed at any moment: its cached (sticky) workflows move to the other
      // replica after this, instead of the SDK's 10 s default.
      stickyQueueScheduleToStartTimeout: '500 ms',
      activities: (setup.activities ?? createActivities)(ctx),
      workflowFailureErrorTypes: WORKFLOW_FAILURE_ERROR_TYPES,
      ...(existsSync(WORKFLOW_BUNDLE)
        ? { workflowBundle: { codePath: WORKFLOW_BUNDLE } }
        : { workflowsPath: require.resolve('../workflows') }),
    } satisfies WorkerOptions);
    if (isStandby) {
      // Everything slow is done: wait to be promoted (or stopped) before doing anything visible.
      announceWarm();
      log.info({ pid: process.pid, startupMs: Math.round(process.uptime() * 1000) }, 'standby warm, waiting for promotion');
      if (!(await awaitPromotion())) {
        log.info('standby stopped before promotion');
        stoppedAsSpare = true;
        return;
      }
    }
    const promotedAt = Date.now();
    onStop = await setup.onStart?.(ctx);
    log.info(
      {
        taskQueue: setup.taskQueue(config),
        pid: process.pid,
        startupMs: Math.round(process.uptime() * 1000),
        ...(isStandby ? { promotedMs: Date.now() - promotedAt } : {}),
      },
      isStandby ? 'worker polling (promoted standby)' : 'worker polling',
    );
    // Worker.run resolves after SIGTERM/SIGINT once in-flight tasks have finished or timed out.
    await worker.run();
    log.info('worker stopped');
  } catch (err) {
    failed = true; // the entry reports it and exits 1
    throw err;
  } finally {
    // Each step is bounded: a stop must end the process well within the manager's grace period
    // (a pull consumer's open request, for one, can hold the trigger monitor's stop for its expiry).
    const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
      const started = Date.now();
      try {
        if ((await within(fn().then(() => true), SHUTDOWN_STEP_MS)) === undefined) log.warn({ ms: Date.now() - started }, `${what}: still not done, going on`);
      } catch (err) {
        log.error({ err }, `${what} failed`);
      }
    };
    await step('shutdown hook', async () => onStop?.());
    // A spare's worker was created but never run: it holds the connection until the process ends.
    if (!stoppedAsSpare) await step('close the Temporal worker connection', () => connection.close());
    await step('close the Temporal client', () => temporal.connection.close());
    await step('drain the bus connection', () => bus.drain());
    await step('close the store', () => store.close());
    // Whatever is left (a worker's workflow threads, a timer of a library) must not keep a stopped
    // worker alive until the manager's KILL.
    if (!failed) process.exit(0);
  }
}
