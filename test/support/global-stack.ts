/**
 * Mocha global fixtures: start the suite's stack (servers + workers) once before all files and
 * stop it after, also when tests fail. Set LAYER1_TEST_STACK=off to run without it (the
 * integration tests then skip themselves).
 */
import { rmSync } from 'node:fs';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { connectClient } from '../../src/clients/temporal';
import { startServices, startWorkers, stopAll } from '../../src/stack/stack';
import { runBoot } from '../../scripts/kernel-verbs';
import { testConfig } from './env';

// In-process test workers log only warnings and errors; expected activity failures stay quiet.
Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { forward: {}, filter: 'ERROR' } } });

const log = (m: string): void => {
  process.stderr.write(`  [stack] ${m}\n`);
};

export async function mochaGlobalSetup(): Promise<void> {
  if (process.env.LAYER1_TEST_STACK === 'off') return;
  const config = testConfig();
  // Leftovers of an interrupted run: stop them, then start from empty state for repeatable tests.
  await stopAll(config, log);
  rmSync(config.stateDir, { recursive: true, force: true });
  await startServices(config, log);
  await startWorkers(config, log);
  const client = await connectClient(config);
  try {
    const report = await runBoot(config, client, (phase) => log(`boot phase: ${phase}`));
    if (!report.ok) throw new Error(`the suite's stack did not boot: ${report.failedChecks.join('; ')}`);
  } finally {
    await client.connection.close();
  }
  process.env.LAYER1_TEST_STACK_UP = '1';
  process.env.LAYER1_TEST_MONGODB_URI = config.store.uri;
  process.env.LAYER1_TEST_CONFIG = config.configFile;
}

export async function mochaGlobalTeardown(): Promise<void> {
  if (process.env.LAYER1_TEST_STACK_UP !== '1') return;
  await stopAll(testConfig(), log);
}
