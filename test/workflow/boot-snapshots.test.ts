import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import { BOOT_WORKFLOW, type BootReport, type BootWorkflow } from '../../contracts/boot';
import type { ScheduleResult, TypedSnapshotResult } from '../../contracts/schedules';
import type { CheckResult } from '../../src/domain/checks';
import { timeSkippingFixture } from '../support/time-skipping';
import { uniqueId } from '../support/env';

const pass = (name: string) => async (): Promise<CheckResult> => ({ name, ok: true, detail: 'ok', ms: 1 });
const taken = (type: string, over: Partial<TypedSnapshotResult> = {}): TypedSnapshotResult => ({
  type,
  id: `${type}-20261206T100000Z-00000000`,
  created: true,
  files: 2,
  bytes: 10,
  refused: [],
  skipped: null,
  error: null,
  ...over,
});
const SCHEDULES: ScheduleResult[] = [
  { id: 'layer1-snapshots', action: 'created', spec: 'every 1h', paused: false },
  { id: 'layer1-telemetry', action: 'created', spec: 'every 60s', paused: false },
];

describe('boot phase 6 (time-skipping server, stub activities)', function () {
  const ts = timeSkippingFixture();

  /** Boots the phases that need no kernel: preflight, snapshots and schedules, watchdogs. */
  async function boot(phase6: { takeTypedSnapshots: () => Promise<TypedSnapshotResult[]>; ensureSchedules: () => Promise<ScheduleResult[]> }): Promise<{ report: BootReport; recorded: BootReport[] }> {
    const recorded: BootReport[] = [];
    const activities = {
      checkConfig: pass('config'),
      checkTemporal: pass('temporal'),
      checkStore: pass('store'),
      checkDisk: pass('disk'),
      checkPorts: pass('ports'),
      kernelPids: async () => ({}),
      ensureControlPlane: async () => 'run',
      watchdogsLive: async () => ['healing-1'],
      recordBoot: async (r: BootReport) => void recorded.push(r),
      pruneTypedSnapshots: async () => [{ type: 'configs', id: 'configs-old', takenAt: '2026-12-01T00:00:00.000Z', reason: 'age' as const }],
      ...phase6,
    };
    const taskQueue = uniqueId('boot6');
    const worker = await Worker.create({ connection: ts.env.nativeConnection, taskQueue, workflowBundle: ts.bundle, activities });
    const report = await worker.runUntil(
      ts.env.client.workflow.execute<BootWorkflow>(BOOT_WORKFLOW, {
        taskQueue,
        workflowId: uniqueId('boot'),
        args: [
          {
            phases: [
              { phase: 1, name: 'preflight', kernels: [] },
              { phase: 6, name: 'snapshots_and_schedules', kernels: [] },
              { phase: 7, name: 'warmup_and_watchdogs', kernels: [] },
            ],
            kernels: {},
            controlPlane: { restartBackoff: { initialMs: 1, maxMs: 1 }, crashLoop: { restarts: 3, windowMs: 1000 } },
          },
        ],
      }),
    );
    return { report, recorded };
  }

  it('reports the snapshots it took and the schedules it created', async () => {
    const { report } = await boot({
      takeTypedSnapshots: async () => [taken('models'), taken('configs'), taken('log_segments', { id: null, files: 0, bytes: 0, skipped: 'nothing to snapshot yet' })],
      ensureSchedules: async () => SCHEDULES,
    });
    const phase = report.phases.find((p) => p.phase === 6)!;
    assert.equal(phase.ok, true, phase.detail);
    assert.equal(report.degraded, false);
    assert.match(phase.detail, /models 2 files, configs 2 files, log_segments skipped \(nothing yet\)/);
    assert.match(phase.detail, /layer1-snapshots created \(every 1h\), layer1-telemetry created \(every 60s\)/);
    assert.match(phase.detail, /older snapshots removed: 1/);
    assert.deepEqual(report.prunedSnapshots?.map((p) => p.id), ['configs-old']);
    assert.deepEqual(report.schedules, SCHEDULES);
    assert.equal(report.snapshots?.length, 3);
  });

  it('degrades the boot, and says why, when a snapshot fails, a file is refused or the schedules cannot be created', async function () {
    this.timeout(60_000);
    let attempts = 0;
    const { report, recorded } = await boot({
      takeTypedSnapshots: async () => [
        taken('models', { refused: [{ path: 'models/fixers.json', reason: 'SHA-256 x is not the expected y' }] }),
        taken('configs', { id: null, files: 0, bytes: 0, error: 'EACCES: permission denied' }),
      ],
      ensureSchedules: async () => {
        attempts += 1;
        throw new Error('the Temporal frontend refused CreateSchedule');
      },
    });
    assert.equal(report.ok, true, 'the kernels are ready: the boot does not fail');
    assert.equal(report.degraded, true);
    const phase = report.phases.find((p) => p.phase === 6)!;
    assert.equal(phase.ok, false);
    assert.match(phase.detail, /PROBLEM snapshot models: models\/fixers\.json refused/);
    assert.match(phase.detail, /PROBLEM snapshot configs: EACCES/);
    assert.match(phase.detail, /PROBLEM schedules: the Temporal frontend refused CreateSchedule/);
    assert.equal(attempts, 5, 'retried per the named policy (scheduleActivity) before giving up');
    assert.equal(recorded.at(-1)?.degraded, true, 'the stored report says so too');
  });
});
