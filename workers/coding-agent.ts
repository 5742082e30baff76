/**
 * The coding-agent worker: polls its own task queue, where unknown failures are turned into
 * proposed fixes. Its fixers arrive with the coding-agent issue; it already polls, so readiness
 * ("task queue has pollers") is real.
 */
import { runWorker } from './run-worker';

runWorker({
  taskQueue: (config) => config.temporal.taskQueues.codingAgent,
  activities: () => ({}),
  workflows: true,
}).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
