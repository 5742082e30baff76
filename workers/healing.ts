/**
 * The healing worker — the self-healing kernel. It runs every Layer 1 workflow and its activities
 * on the healing task queue, and the trigger monitor that watches the other kernels. `layer1 up`
 * runs two replicas, so killing one stops neither a playbook nor the watch.
 */
// First: a spare must catch its promotion signal before the slow requires below.
import './standby';
import { TriggerMonitor } from '../src/healing/trigger-monitor';
import { createActivities } from '../activities';
import { createScheduleActivities } from '../activities/schedules';
import { runWorker } from './run-worker';

runWorker({
  kernel: 'self_healing',
  taskQueue: (config) => config.temporal.taskQueues.healing,
  // Every Layer 1 activity, and those of boot phase 6 and the scheduled workflows (snapshots, telemetry).
  activities: (ctx) => ({ ...createActivities(ctx), ...createScheduleActivities(ctx) }),
  onStart: async (ctx) => {
    const monitor = new TriggerMonitor(ctx);
    monitor.start();
    return () => monitor.stop();
  },
}).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
