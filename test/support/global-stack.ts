/**
 * Mocha global fixtures: start the suite's stack (servers + workers) once before all files and
 * stop it after, also when tests fail. Set LAYER1_TEST_STACK=off to run without it (the
 * integration tests then skip themselves).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { connectClient } from '../../src/clients/temporal';
import { processManager, startServices, startWorkers, stopAll } from '../../src/stack/stack';
import { services } from '../../src/stack/services';
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
  const config = testConfig();
  reportDeadServers(config);
  await stopAll(config, log);
}

/**
 * A server found dead at the end of the suite is the likely cause of the failures before it: its
 * log's tail goes to the output (a CI run's state directory is gone once it is over).
 */
function reportDeadServers(config: ReturnType<typeof testConfig>): void {
  const pm = processManager(config);
  for (const svc of services(config).filter((s) => s.embedded)) {
    const info = pm.info(svc.name);
    if (info.alive || !info.stale) continue;
    const tail = existsSync(info.logPath) ? readFileSync(info.logPath, 'utf8').split('\n').slice(-25).join('\n    ') : '(no log)';
    log(`${svc.name} (pid ${info.recordedPid}) is dead at the end of the suite; the end of ${info.logPath}:\n    ${tail}`);
  }
}
