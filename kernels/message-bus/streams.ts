/**
 * Creates and updates the JetStream streams and durable consumers the ACL policy requires.
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
      report.streams.push({ stream: name, action: await ensureStream(jsm, name, stream) });
      for (const [consumer, c] of Object.entries(stream.consumers)) {
        report.consumers.push({ stream: name, consumer, action: await ensureConsumer(jsm, name, consumer, c) });
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

function streamConfig(name: string, s: BusStream): Partial<StreamConfig> & { name: string } {
  return {
    name,
    description: s.description,
    subjects: s.subjects,
    storage: s.storage === 'memory' ? StorageType.Memory : StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    max_age: nanos(durationMs(s.maxAge)),
    max_bytes: s.maxBytes,
    num_replicas: 1,
  };
}

async function ensureStream(jsm: JetStreamManager, name: string, s: BusStream): Promise<EnsureAction> {
  const want = streamConfig(name, s);
  let have: StreamConfig;
  try {
    have = (await jsm.streams.info(name)).config;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.streams.add(want);
    return 'created';
  }
  // Idempotent: an existing stream is only updated where it differs from the policy.
  const same =
    have.description === want.description &&
    sameList(have.subjects, want.subjects) &&
    have.max_age === want.max_age &&
    have.max_bytes === want.max_bytes;
  if (same) return 'unchanged';
  await jsm.streams.update(name, {
    description: want.description,
    subjects: want.subjects,
    max_age: want.max_age,
    max_bytes: want.max_bytes,
  });
  return 'updated';
}

async function ensureConsumer(jsm: JetStreamManager, stream: string, name: string, c: BusConsumer): Promise<EnsureAction> {
  const want: Partial<ConsumerConfig> = {
    durable_name: name,
    description: c.description,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: c.deliver === 'all' ? DeliverPolicy.All : DeliverPolicy.New,
    ack_wait: nanos(durationMs(c.ackWait)),
    max_deliver: c.maxDeliver,
    ...(c.filterSubjects ? { filter_subjects: c.filterSubjects } : {}),
  };
  let have: ConsumerConfig;
  try {
    have = (await jsm.consumers.info(stream, name)).config;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await jsm.consumers.add(stream, want);
    return 'created';
  }
  // Idempotent: only the fields the policy sets and the server lets change are compared and updated.
  const same =
    have.description === want.description &&
    have.ack_wait === want.ack_wait &&
    have.max_deliver === want.max_deliver &&
    sameList(have.filter_subjects ?? (have.filter_subject ? [have.filter_subject] : []), c.filterSubjects ?? []);
  if (same) return 'unchanged';
  await jsm.consumers.update(stream, name, {
    description: want.description,
    ack_wait: want.ack_wait,
    max_deliver: want.max_deliver,
    filter_subjects: c.filterSubjects ?? [],
  });
  return 'updated';
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = [...(a ?? [])].sort();
  const y = [...(b ?? [])].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
