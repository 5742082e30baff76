/**
 * The healing worker (the self-healing kernel): runs every Layer 1 workflow and its activities
 * on the healing task queue. `layer1 up` runs two replicas, so killing one stops nothing.
 */
import { runWorker } from './run-worker';

runWorker({ taskQueue: (config) => config.temporal.taskQueues.healing }).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
