/** The self-healing kernel: the healing workers, which run every workflow and the trigger monitor. */
import { defineKernel } from '../manifest';

/** How fresh a trigger monitor's heartbeat must be to count as subscribed (pure data: `layer1 status` reads it without the kernel). */
export const MONITOR_FRESH_MS = 5_000;

export const selfHealingManifest = defineKernel({
  name: 'self_healing',
  title: 'the healing workers: every workflow, the trigger monitors and the playbooks',
  phase: 4,
  critical: true,
  config: {},
  busUser: 'self_healing',
  worker: { process: 'healing', entry: 'healing.js', taskQueue: 'healing', replicas: 'healing' },
  tests: [
    'test/unit/detectors.test.ts',
    'test/unit/dispatcher.test.ts',
    'test/unit/playbook-loader.test.ts',
    'test/unit/playbook-template.test.ts',
    'test/unit/actions.test.ts',
    'test/unit/actions-paths.test.ts',
    'test/unit/actions-snapshots.test.ts',
    'test/unit/process-manager.test.ts',
  ],
});
