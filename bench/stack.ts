/**
 * Foundation benchmark: cold start of the stack (tools cached) and of a worker until it polls,
 * and the floor later issues compare against — a workflow of 10 no-op activities, p50 over 30
 * runs. Runs on its own stack (bench/layer1.bench.yaml), started from empty and stopped after.
 *
 *   npm run build && node dist/bench/stack.js [--runs 30] [--cold 3]
 */
import { rmSync } from 'node:fs';
import os from 'node:os';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createBenchActivities } from '../activities/bench';
import { connectClient } from '../src/clients/temporal';
import { startServices, startWorkers, stopAll } from '../src/stack/stack';
import { ensureTools } from '../src/stack/tools';
import { NOOP_ACTIVITIES_WORKFLOW, type NoopActivitiesWorkflow } from '../contracts/bench';
import { WORKFLOW_BUNDLE } from '../workers/run-worker';
import { benchConfig, percentile, printTable } from './support';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const runs = arg('runs', 30);
  const coldRuns = arg('cold', 3);
  const config = benchConfig();
  const quiet = (): void => undefined;
  await ensureTools((m) => console.error(`• ${m}`));

  const stackMs: number[] = [];
  const workerMs: number[] = [];
  for (let i = 0; i < coldRuns; i++) {
    await stopAll(config, quiet);
    rmSync(config.stateDir, { recursive: true, force: true });
    let t = performance.now();
    await startServices(config, quiet);
    stackMs.push(performance.now() - t);
    t = performance.now();
    await startWorkers(config, quiet, ['healing-1']);
    workerMs.push(performance.now() - t);
    console.error(`• cold start ${i + 1}/${coldRuns}: stack ${stackMs.at(-1)!.toFixed(0)} ms, worker ${workerMs.at(-1)!.toFixed(0)} ms`);
  }

  const client = await connectClient(config);
  const taskQueue = 'bench-floor';
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue,
    workflowBundle: { codePath: WORKFLOW_BUNDLE },
    activities: createBenchActivities(),
  });
  const floor: number[] = [];
  await worker.runUntil(async () => {
    for (let i = 0; i < runs + 3; i++) {
      const t = performance.now();
      await client.workflow.execute<NoopActivitiesWorkflow>(NOOP_ACTIVITIES_WORKFLOW, { taskQueue, workflowId: `floor-${Date.now()}-${i}`, args: [10] });
      if (i >= 3) floor.push(performance.now() - t); // the first three warm caches up
    }
  });
  await client.connection.close();
  await connection.close();
  await stopAll(config, quiet);

  console.log(`\nLayer 1 foundation benchmark (${new Date().toISOString()}, ${os.cpus().length} cores)\n`);
  printTable([
    { measure: 'stack cold start → all healthy (tools cached)', p50: `${percentile(stackMs, 50).toFixed(0)} ms`, max: `${Math.max(...stackMs).toFixed(0)} ms`, runs: stackMs.length, target: '< 10000 ms' },
    { measure: 'worker process start → polling', p50: `${percentile(workerMs, 50).toFixed(0)} ms`, max: `${Math.max(...workerMs).toFixed(0)} ms`, runs: workerMs.length, target: '< 5000 ms' },
    { measure: 'workflow of 10 no-op activities (floor)', p50: `${percentile(floor, 50).toFixed(0)} ms`, max: `${Math.max(...floor).toFixed(0)} ms`, runs: floor.length, target: '—' },
  ]);
  console.log(`\nfloor p90 ${percentile(floor, 90).toFixed(0)} ms; per activity at p50 ≈ ${(percentile(floor, 50) / 10).toFixed(1)} ms`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
