/**
 * The healing worker — the self-healing kernel. It runs every Layer 1 workflow and its activities
 * on the healing task queue, and the trigger monitor that watches the other kernels. `layer1 up`
 * runs two replicas, so killing one stops neither a playbook nor the watch.
 */
// First: a spare must catch its promotion signal before the slow requires below.
import { isStandby } from './standby';
import { TriggerMonitor } from '../src/healing/trigger-monitor';
import { reviveDeadServers, type RevivedServer } from '../src/healing/server-supervisor';
import { processManager } from '../src/stack/stack';
import { createActivities } from '../activities';
import { createScheduleActivities } from '../activities/schedules';
import { runWorker } from './run-worker';

/** The servers this replica found dead and started before it connected, for its monitor to report. */
let revived: RevivedServer[] = [];

runWorker({
  kernel: 'self_healing',
  taskQueue: (config) => config.temporal.taskQueues.healing,
  // Every Layer 1 activity, and those of boot phase 6 and the scheduled workflows (snapshots, telemetry).
  activities: (ctx) => ({ ...createActivities(ctx), ...createScheduleActivities(ctx) }),
  // This replica is what restarts a dead store or Temporal, and it connects to both first: one
  // that died while no replica ran would otherwise keep every replica from starting.
  // A spare does nothing visible before its promotion: the replica it stands in for does this.
  beforeConnect: async (config, log) => {
    if (!isStandby) revived = await reviveDeadServers(config, processManager(config), log);
  },
  onStart: async (ctx) => {
    const monitor = new TriggerMonitor({ ...ctx, revived });
    monitor.start();
    return () => monitor.stop();
  },
}).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
