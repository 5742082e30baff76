/**
 * Creates and updates the JetStream streams and durable consumers the ACL policy requires, with
 * the replicas of `bus.replicas` (1 on the embedded bus; e.g. 3 on a 3-node cluster).
 * Idempotent: on a bus that already has them as the policy says, it changes nothing.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { nanos } from '@nats-io/nats-core';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { LoadedConfig } from '../../src/config/load';
import { connectBus } from '../../src/clients/bus';
import { durationMs, loadPolicy, policyFileOf, type BusConsumer, type BusPolicy, type BusStream } from './policy';

export type EnsureAction = 'created' | 'updated' | 'unchanged';

export interface EnsureReport {
  streams: Array<{ stream: string; action: EnsureAction }>;
  consumers: Array<{ stream: string; consumer: string; action: EnsureAction }>;
}

/**
 * Makes every stream and durable consumer of the policy exist as the policy describes, connecting
 * as `operator` (or on `nc` when given).
 */
export async function ensureStreams(
  config: LoadedConfig,
  options: { nc?: NatsConnection; policy?: BusPolicy } = {},
): Promise<EnsureReport> {
  const policy = options.policy ?? loadPolicy(policyFileOf(config));
  const nc = options.nc ?? (await connectBus(config, { name: 'layer1-bus-streams' }));
  try {
    const jsm = await jetstreamManager(nc);
    const report: EnsureReport = { streams: [], consumers: [] };
    for (const [name, stream] of Object.entries(policy.streams)) {
      report.streams.push({ stream: name, action: await ensureStream(jsm, name, stream, config.bus.replicas) });
      for (const [consumer, c] of Object.entries(stream.consumers)) {
        report.consumers.push({ stream: name, consumer, action: await ensureConsumer(jsm, name, consumer, c, config.bus.replicas) });
      }
    }
    return report;
  } finally {
    if (!options.nc) await nc.close();
  }
}

/** True when `err` is the JetStream API saying the stream or consumer does not exist. */
export function isNotFound(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound)
  );
}

/** Replicas of the streams and durable consumers Layer 1 creates: `bus.replicas` (0 consumers: as the stream). */
export type Replicas = LoadedConfig['bus']['replicas'];

/** The stream the policy describes, with the configured replicas. Pure. */
export function streamConfig(name: string, s: BusStream, replicas: Replicas): Partial<StreamConfig> & { name: string } {
  return {
    name,
    description: s.description,
    subjects: s.subjects,
    storage: s.storage === 'memory' ? StorageType.Memory : StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(durationMs(s.maxAge)),
    max_bytes: s.maxBytes,
    num_replicas: replicas.streams,
  };
}

/**
 * What an existing stream must change to be as the policy and `bus.replicas` say: only the fields
 * that differ (description, subjects, max age, max bytes, replicas); empty when none does. Pure.
 */
export function streamChanges(have: Pick<StreamConfig, 'description' | 'subjects' | 'max_age' | 'max_bytes' | 'num_replicas'>, want: Partial<StreamConfig>): Partial<StreamConfig> {
  const changes: Partial<StreamConfig> = {};
  if (have.description !== want.description) changes.description = want.description;
  if (!sameList(have.subjects, want.subjects)) changes.subjects = want.subjects;
  if (have.max_age !== want.max_age) changes.max_age = want.max_age;
  if (have.max_bytes !== want.max_bytes) changes.max_bytes = want.max_bytes;
  // A server reports a stream created without replicas as 1.
  if ((have.num_replicas || 1) !== want.num_replicas) changes.num_replicas = want.num_replicas;
  return changes;
}

async function ensureStream(jsm: JetStreamManager, name: string, s: BusStream, replicas: Replicas): Promise<EnsureAction> {
  const want = streamConfig(name, s, replicas);
  let have: StreamConfig;
  try {
    have = (await jsm.streams.info(name)).config;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams.add(want);
    return 'created';
  }
  // Idempotent: an existing stream is only updated where it differs from the policy (replicas
  // included: a stream created R1 is scaled to bus.replicas.streams, and back).
  const changes = streamChanges(have, want);
  if (Object.keys(changes).length === 0) return 'unchanged';
  // Sent whole, as before: the fields the policy sets (nats.js merges them into the current config).
  await jsm.streams.update(name, {
    description: want.description,
    subjects: want.subjects,
    max_age: want.max_age,
    max_bytes: want.max_bytes,
    num_replicas: want.num_replicas,
  });
  return 'updated';
}

/** The durable consumer the policy describes, with the configured replicas (0: as its stream). Pure. */
export function consumerConfig(name: string, c: BusConsumer, replicas: Replicas): Partial<ConsumerConfig> {
  return {
    durable_name: name,
    description: c.description,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: c.deliver === 'all' ? DeliverPolicy.All : DeliverPolicy.New,
    ack_wait: nanos(durationMs(c.ackWait)),
    max_deliver: c.maxDeliver,
    ...(c.filterSubjects ? { filter_subjects: c.filterSubjects } : {}),
    num_replicas: replicas.consumers,
  };
}

/** Whether an existing consumer is as the policy says, in the fields the server lets change. Pure. */
export function consumerUnchanged(have: Partial<ConsumerConfig>, want: Partial<ConsumerConfig>): boolean {
  return (
    have.description === want.description &&
    have.ack_wait === want.ack_wait &&
    have.max_deliver === want.max_deliver &&
    sameList(have.filter_subjects ?? (have.filter_subject ? [have.filter_subject] : []), want.filter_subjects ?? []) &&
    (have.num_replicas ?? 0) === (want.num_replicas ?? 0)
  );
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, name: string, c: BusConsumer, replicas: Replicas): Promise<EnsureAction> {
  const want = consumerConfig(name, c, replicas);
  let have: ConsumerConfig;
  try {
    have = (await jsm.consumers.info(stream, name)).config;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(stream, want);
    return 'created';
  }
  // Idempotent: only the fields the policy sets and the server lets change are compared and updated.
  if (consumerUnchanged(have, want)) return 'unchanged';
  await jsm.consumers.update(stream, name, {
    description: want.description,
    ack_wait: want.ack_wait,
    max_deliver: want.max_deliver,
    filter_subjects: c.filterSubjects ?? [],
    num_replicas: want.num_replicas,
  });
  return 'updated';
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = [...(a ?? [])].sort();
  const y = [...(b ?? [])].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
