import assert from 'node:assert/strict';
import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { createScheduleActivities } from '../../activities/schedules';
import { SNAPSHOTS_SCHEDULE_ID, TELEMETRY_SCHEDULE_ID } from '../../contracts/schedules';
import { parseConfig, type LoadedConfig } from '../../src/config/load';

/** A Temporal schedule client that keeps schedules in a map, as the server does, refusing a second create of an id. */
function fakeTemporal() {
  const schedules = new Map<string, { spec: unknown; action: { type: string; memo?: Record<string, unknown> }; state: { paused: boolean } }>();
  const calls: string[] = [];
  const client = {
    schedule: {
      async create(o: { scheduleId: string; spec: unknown; action: { type: string; memo?: Record<string, unknown> }; state?: { paused?: boolean } }) {
        calls.push(`create ${o.scheduleId}`);
        if (schedules.has(o.scheduleId)) throw new ScheduleAlreadyRunning('exists', o.scheduleId);
        schedules.set(o.scheduleId, { spec: o.spec, action: o.action, state: { paused: o.state?.paused ?? false } });
      },
      getHandle(id: string) {
        return {
          describe: async () => schedules.get(id)!,
          update: async (fn: (prev: unknown) => { spec: unknown; action: { type: string; memo?: Record<string, unknown> }; state: { paused: boolean } }) => {
            calls.push(`update ${id}`);
            schedules.set(id, fn(schedules.get(id)));
          },
          delete: async () => {
            calls.push(`delete ${id}`);
            schedules.delete(id);
          },
        };
      },
      async *list() {
        for (const scheduleId of [...schedules.keys()]) yield { scheduleId };
      },
    },
  };
  return { client: client as unknown as Client, schedules, calls };
}

const configOf = (yaml: string): LoadedConfig => parseConfig(yaml, '/tmp/layer1-schedules-test.yaml', {});

describe('schedules: created once, updated only when they change', () => {
  it('creates both schedules, leaves them alone on the next boot, and updates one whose timing or pause changed', async () => {
    const t = fakeTemporal();
    const deps = (config: LoadedConfig) => createScheduleActivities({ config, temporal: t.client, db: undefined as never, bus: undefined as never });
    const first = await deps(configOf('')).ensureSchedules();
    assert.deepEqual(first.map((s) => [s.id, s.action, s.spec]), [[SNAPSHOTS_SCHEDULE_ID, 'created', 'every 1h'], [TELEMETRY_SCHEDULE_ID, 'created', 'every 60s']]);
    assert.deepEqual(t.schedules.get(TELEMETRY_SCHEDULE_ID)?.spec, { intervals: [{ every: '60s' }] });

    const again = await deps(configOf('')).ensureSchedules();
    assert.deepEqual(again.map((s) => s.action), ['unchanged', 'unchanged']);
    assert.equal(t.schedules.size, 2);

    const changed = await deps(configOf('schedules:\n  telemetry: { every: 30s }\n  snapshots: { every: 1h, paused: true }\n')).ensureSchedules();
    assert.deepEqual(changed.map((s) => [s.id, s.action, s.paused]), [[SNAPSHOTS_SCHEDULE_ID, 'updated', true], [TELEMETRY_SCHEDULE_ID, 'updated', false]]);
    assert.deepEqual(t.schedules.get(TELEMETRY_SCHEDULE_ID)?.spec, { intervals: [{ every: '30s' }] });
    assert.equal(t.schedules.get(SNAPSHOTS_SCHEDULE_ID)?.state.paused, true);
    assert.deepEqual(t.calls.filter((c) => c.startsWith('update')), [`update ${SNAPSHOTS_SCHEDULE_ID}`, `update ${TELEMETRY_SCHEDULE_ID}`]);
  });

  it('refuses a schedule given both cron and every', () => {
    assert.throws(() => configOf('schedules:\n  telemetry: { every: 30s, cron: "* * * * *" }\n'), /either cron or every/);
  });

  it('creates a chaos schedule per chaos.schedules entry (the batch workflow on the chaos queue, its cards validated), once, and deletes one taken out of the config', async () => {
    const { client, schedules, calls } = fakeTemporal();
    const yaml = 'chaos:\n  schedules:\n    - { name: nightly, cards: [kernel_crash, heartbeat_stop], every: 24h, jitter: 10m }\n';
    const first = await createScheduleActivities({ config: configOf(yaml), db: {} as never, bus: {} as never, temporal: client }).ensureSchedules();
    assert.deepEqual(first.map((r) => [r.id, r.action]), [['layer1-snapshots', 'created'], ['layer1-telemetry', 'created'], ['layer1-chaos-nightly', 'created']]);
    const chaos = schedules.get('layer1-chaos-nightly') as unknown as { spec: { jitter?: string }; action: { workflowType: string; taskQueue: string; args: Array<{ cards: Array<{ card: { id: string } }> }> } };
    assert.equal(chaos.action.workflowType, 'chaosBatchWorkflow');
    assert.equal(chaos.action.taskQueue, 'layer1-chaos');
    assert.deepEqual(chaos.action.args[0].cards.map((c) => c.card.id), ['kernel_crash', 'heartbeat_stop']);
    assert.equal(chaos.spec.jitter, '10m');
    const again = await createScheduleActivities({ config: configOf(yaml), db: {} as never, bus: {} as never, temporal: client }).ensureSchedules();
    assert.equal(again.find((r) => r.id === 'layer1-chaos-nightly')?.action, 'unchanged');
    const gone = await createScheduleActivities({ config: configOf(''), db: {} as never, bus: {} as never, temporal: client }).ensureSchedules();
    assert.equal(gone.find((r) => r.id === 'layer1-chaos-nightly')?.action, 'deleted');
    assert.ok(!schedules.has('layer1-chaos-nightly') && calls.includes('delete layer1-chaos-nightly'));
  });

  it('refuses a chaos schedule naming a card that does not exist', async () => {
    const { client } = fakeTemporal();
    const yaml = 'chaos:\n  schedules:\n    - { name: typo, cards: [kernel_crsh], every: 1h }\n';
    await assert.rejects(createScheduleActivities({ config: configOf(yaml), db: {} as never, bus: {} as never, temporal: client }).ensureSchedules(), /unknown card\(s\) kernel_crsh/);
  });
});
