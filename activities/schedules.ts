/**
 * The activities of boot phase 6 and of the scheduled workflows: typed snapshots and their
 * retention, the Temporal Schedules themselves, and the telemetry document. Registered on the
 * healing worker (workers/healing.ts).
 */
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { CHAOS_BATCH_WORKFLOW, chaosScheduleId } from '../contracts/chaos';
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleSpec } from '@temporalio/client';
import type { Db } from 'mongodb';
import { createHash } from 'node:crypto';
import {
  SNAPSHOTS_RUN_ID_PREFIX,
  SNAPSHOTS_SCHEDULE_ID,
  SNAPSHOTS_WORKFLOW,
  TELEMETRY_RUN_ID_PREFIX,
  TELEMETRY_SCHEDULE_ID,
  TELEMETRY_WORKFLOW,
  type PrunedSnapshot,
  type ScheduleResult,
  type TelemetryRunReport,
  type TypedSnapshotResult,
} from '../contracts/schedules';
import { findable, type WorkflowKind } from '../contracts/search-attributes';
import { TELEMETRY_COLLECTION } from '../src/clients/collections';
import type { LoadedConfig } from '../src/config/load';
import { controlPlaneState } from '../src/stack/kernel-status';
import { pruneTypedSnapshots, takeTypedSnapshots } from '../src/snapshots/typed';
import { collectTelemetry, TELEMETRY_SUBJECT, type TelemetryDocument } from '../src/telemetry/collect';
import { heartbeatWhile } from './actions/context';

export interface ScheduleActivityDeps {
  config: LoadedConfig;
  db: Db;
  bus: NatsConnection;
  temporal: Client;
}

/** How long a published telemetry document waits for JetStream's acknowledgement. */
const PUBLISH_TIMEOUT_MS = 5_000;

type ScheduleConfig = LoadedConfig['schedules']['snapshots'];

/** Temporal's form of a schedule's timing, and how it reads in a report. */
function specOf(s: ScheduleConfig, fallbackEvery: string): { spec: ScheduleSpec; text: string } {
  if (s.cron) return { spec: { cronExpressions: [s.cron] }, text: `cron ${s.cron}` };
  const every = s.every ?? fallbackEvery;
  return { spec: { intervals: [{ every: every as `${number}${'ms' | 's' | 'm' | 'h' | 'd'}` }] }, text: `every ${every}` };
}

/**
 * The drill schedules of `chaos.schedules` (`layer1-chaos-<name>`), each starting the batch
 * workflow with its cards as validated now; a chaos schedule no longer in the config is deleted.
 * Idempotent as ensureSchedule; a card that does not validate fails the boot's phase 6 by name.
 */
async function ensureChaosSchedules(config: LoadedConfig, temporal: Client, ensureSchedule: EnsureSchedule): Promise<ScheduleResult[]> {
  const wanted = config.chaos.schedules;
  const results: ScheduleResult[] = [];
  if (wanted.length > 0) {
    const [{ loadCards }, { cardsDirOf, drillInput }] = await Promise.all([import('../src/chaos/cards/loader'), import('../src/chaos/harness/start')]);
    const dir = cardsDirOf(config);
    const { cards, problems } = dir ? loadCards(dir) : loadCards();
    if (problems.length > 0) throw new Error(`chaos cards do not validate: ${problems.slice(0, 3).map((p) => `${p.file}:${p.line ?? '?'}: ${p.message}`).join('; ')}`);
    for (const sch of wanted) {
      const ids = sch.cards === 'all' ? cards.map((c) => c.id) : sch.cards;
      const unknown = ids.filter((id) => !cards.some((c) => c.id === id));
      if (unknown.length > 0) throw new Error(`chaos.schedules ${sch.name}: unknown card(s) ${unknown.join(', ')}`);
      const picked = ids.map((id) => cards.find((c) => c.id === id)!).map((card) => ({ card, timeoutsMs: drillInput(card, '').timeoutsMs }));
      const args = [{ cards: picked, schedule: chaosScheduleId(sch.name) }];
      results.push(await ensureSchedule(chaosScheduleId(sch.name), CHAOS_BATCH_WORKFLOW, `${chaosScheduleId(sch.name)}-run`, sch, '24h', 'chaos-batch', { taskQueue: config.temporal.taskQueues.chaos, args, jitter: sch.jitter }));
    }
  }
  for await (const listed of temporal.schedule.list()) {
    if (listed.scheduleId.startsWith('layer1-chaos-') && !wanted.some((w) => chaosScheduleId(w.name) === listed.scheduleId)) {
      await temporal.schedule.getHandle(listed.scheduleId).delete();
      results.push({ id: listed.scheduleId, spec: '-', paused: false, action: 'deleted' });
    }
  }
  return results;
}


type EnsureSchedule = (id: string, workflowType: string, runIdPrefix: string, s: ScheduleConfig, fallbackEvery: string, kind: WorkflowKind, extra?: { taskQueue?: string; args?: unknown[]; jitter?: string }) => Promise<ScheduleResult>;

export function createScheduleActivities({ config, db, bus, temporal }: ScheduleActivityDeps) {
  /**
   * Creates the schedule, or updates it when its timing, pause or action changed. Idempotent: the
   * schedule id is fixed, so a second create is refused (ScheduleAlreadyRunning) and the existing
   * one is compared by the fingerprint kept in its action's memo.
   */
  async function ensureSchedule(
    id: string,
    workflowType: string,
    runIdPrefix: string,
    s: ScheduleConfig,
    fallbackEvery: string,
    kind: WorkflowKind,
    extra: { taskQueue?: string; args?: unknown[]; jitter?: string } = {},
  ): Promise<ScheduleResult> {
    const timing = specOf(s, fallbackEvery);
    const spec: ScheduleSpec = extra.jitter ? { ...timing.spec, jitter: extra.jitter as `${number}s` } : timing.spec;
    const text = timing.text;
    const taskQueue = extra.taskQueue ?? config.temporal.taskQueues.healing;
    const args = extra.args ?? [];
    // Its runs' search attributes and memo are part of what it is: a schedule created before they were given is updated once.
    const find = findable({ kind, summary: `${kind} run of the Temporal Schedule ${id} (${text})` });
    const fingerprint = createHash('sha256').update(JSON.stringify({ spec, workflowType, taskQueue, runIdPrefix, args, find })).digest('hex').slice(0, 16);
    const action = { type: 'startWorkflow' as const, workflowType, taskQueue, workflowId: runIdPrefix, args, typedSearchAttributes: find.typedSearchAttributes, memo: { ...find.memo, layer1Schedule: fingerprint } };
    // A run still going when the next is due is not doubled; a run missed while the server was down is not caught up.
    const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' as const };
    const result = { id, spec: text, paused: s.paused };
    try {
      await temporal.schedule.create({
        scheduleId: id,
        spec,
        action,
        policies,
        state: { paused: s.paused, note: 'created by layer1 boot phase 6' },
      });
      return { ...result, action: 'created' };
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    }
    const handle = temporal.schedule.getHandle(id);
    const desc = await handle.describe();
    const had = desc.action.type === 'startWorkflow' ? desc.action.memo?.layer1Schedule : undefined;
    if (had === fingerprint && desc.state.paused === s.paused) return { ...result, action: 'unchanged' };
    await handle.update((prev) => ({ ...prev, spec, action, policies, state: { ...prev.state, paused: s.paused } }));
    return { ...result, action: 'updated' };
  }

  return {
    /**
     * One snapshot of each configured type, marked latest. Idempotent: each snapshot's id is derived
     * from `key` and `at` (the boot or the scheduled run, and its time), so a retry finds the
     * snapshots taken and takes no others.
     */
    async takeTypedSnapshots(input: { key: string; at: string }): Promise<TypedSnapshotResult[]> {
      return heartbeatWhile(takeTypedSnapshots(config, { ...input, types: config.snapshots.types }));
    },

    /** Removes typed snapshots beyond the retention. Idempotent: what is gone already is skipped. */
    async pruneTypedSnapshots(input: { now: string }): Promise<PrunedSnapshot[]> {
      const { maxAgeMs, maxPerType } = config.snapshots;
      return heartbeatWhile(pruneTypedSnapshots(config, { maxAgeMs, maxPerType }, { types: config.snapshots.types, now: Date.parse(input.now) }));
    },

    /** The snapshot and telemetry schedules, one each (see `ensureSchedule` for why it is idempotent). */
    async ensureSchedules(): Promise<ScheduleResult[]> {
      return [
        // Neither runs at once: boot has just taken the snapshots, and its report (the telemetry's
        // readiness) is stored only when the boot ends, within the first interval.
        await ensureSchedule(SNAPSHOTS_SCHEDULE_ID, SNAPSHOTS_WORKFLOW, SNAPSHOTS_RUN_ID_PREFIX, config.schedules.snapshots, '1h', 'snapshots'),
        await ensureSchedule(TELEMETRY_SCHEDULE_ID, TELEMETRY_WORKFLOW, TELEMETRY_RUN_ID_PREFIX, config.schedules.telemetry, '60s', 'telemetry'),
        ...(await ensureChaosSchedules(config, temporal, ensureSchedule)),
      ];
    },

    /**
     * Computes the telemetry document, keeps it in the store and publishes it on
     * `telemetry.layer1.metrics`. Idempotent: the store write is an upsert keyed on `id` (the run's
     * workflow id), and the publish carries `id` as its JetStream message id, so a retry within the
     * stream's duplicate window is dropped as a duplicate. (A retry computes the figures again: the
     * stored document is the last attempt's.)
     */
    async publishTelemetry(input: { id: string }): Promise<Omit<TelemetryRunReport, 'pruned'>> {
      const { document } = await collectTelemetry({ db, config, controlPlane: () => controlPlaneState(temporal) }, input.id);
      await db
        .collection<TelemetryDocument & { _id: string; storedAt: Date }>(TELEMETRY_COLLECTION)
        .replaceOne({ _id: input.id }, { ...document, storedAt: new Date(document.at) }, { upsert: true });
      const ack = await jetstream(bus).publish(TELEMETRY_SUBJECT, JSON.stringify(document), { msgID: input.id, timeout: PUBLISH_TIMEOUT_MS });
      return { id: input.id, at: document.at, published: { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate } };
    },

    /** Removes telemetry documents older than `telemetry.keepMs`. Idempotent: a delete by age. */
    async pruneTelemetry(input: { now: string }): Promise<number> {
      const cutoff = new Date(Date.parse(input.now) - config.telemetry.keepMs);
      const res = await db.collection(TELEMETRY_COLLECTION).deleteMany({ storedAt: { $lt: cutoff } });
      return res.deletedCount;
    },
  };
}

export type ScheduleActivities = ReturnType<typeof createScheduleActivities>;
