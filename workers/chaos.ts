/**
 * A chaos worker (`chaos-1..n`, config `chaos.workers`): runs the drill workflows and their
 * activities on the chaos queue. Apart from the healing workers on purpose: a drill tests them,
 * and must still run (and record why it failed) when they are stopped or broken. Two by default,
 * so a drill whose worker is killed is finished by the other.
 */
import { createChaosActivities } from '../activities/chaos';
import { runWorker } from './run-worker';

runWorker({
  kernel: null,
  taskQueue: (config) => config.temporal.taskQueues.chaos,
  activities: (ctx) => createChaosActivities(ctx),
}).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
