/**
 * wait_consumers_delivered: after the bus came back (a restart, a stall), every durable consumer of
 * the ACL policy must exist, and those a kernel reads (`mustBeLive`) must have their reader attached
 * again and their backlog delivered to it — pending falling because the reader took and acknowledged
 * the messages, never because this action acknowledged them. It only reads consumer info.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstreamManager, type ConsumerInfo } from '@nats-io/jetstream';
import type { LoadedConfig } from '../../src/config/load';
import { connectBus } from '../../src/clients/bus';
import { loadPolicy, policyFileOf } from '../../kernels/message-bus/policy';
import { isNotFound } from '../../kernels/message-bus/streams';
import { heartbeat, throwIfCancelled } from './context';
import { ActionErrorType, failure, type ActionOutputs, type ActionParams } from './shared';

type ConsumerReport = ActionOutputs['wait_consumers_delivered']['consumers'][number];

interface Tracked {
  stream: string;
  consumer: string;
  /** A kernel reads it: its reader must be attached and its backlog delivered. */
  hasReader: boolean;
  /** A pull waiting or a push bound was seen at least once (a pull consumer re-issues its pull, so a sample can fall in the gap). */
  readerSeen: boolean;
  first: ConsumerInfo | null;
  last: ConsumerInfo | null;
}

const POLL_MS = 200;

function done(t: Tracked): boolean {
  if (!t.last) return false;
  if (!t.hasReader) return true;
  return t.readerSeen && t.last.num_pending === 0 && t.last.num_ack_pending === 0;
}

function report(t: Tracked): ConsumerReport {
  return {
    consumer: `${t.stream}/${t.consumer}`,
    present: t.last !== null,
    reader: t.readerSeen,
    pendingBefore: t.first?.num_pending ?? null,
    pending: t.last?.num_pending ?? null,
    ackPending: t.last?.num_ack_pending ?? null,
    deliveredWhileWaiting: t.first && t.last ? Math.max(0, t.last.delivered.stream_seq - t.first.delivered.stream_seq) : 0,
  };
}

function why(t: Tracked): string {
  const id = `${t.stream}/${t.consumer}`;
  if (!t.last) return `${id} does not exist`;
  if (!t.readerSeen) return `${id} has no reader attached (no pull waiting, no push bound)`;
  return `${id} still has ${t.last.num_pending} pending and ${t.last.num_ack_pending} awaiting its reader's ack`;
}

export async function waitConsumersDelivered(config: LoadedConfig, { timeoutMs, require }: ActionParams['wait_consumers_delivered']): Promise<ActionOutputs['wait_consumers_delivered']> {
  const policy = loadPolicy(policyFileOf(config));
  const tracked: Tracked[] = Object.entries(policy.streams).flatMap(([stream, s]) =>
    Object.entries(s.consumers).map(([consumer, c]) => ({ stream, consumer, hasReader: c.mustBeLive, readerSeen: false, first: null, last: null })),
  );
  const deadline = Date.now() + timeoutMs;
  let nc: NatsConnection | null = null;
  let lastError = '';
  try {
    while (Date.now() < deadline) {
      await throwIfCancelled();
      try {
        // The bus may still be coming back: (re)connect inside the wait.
        nc ??= await connectBus(config, { name: 'layer1-action-consumers', timeoutMs: 2_000 });
        const jsm = await jetstreamManager(nc, { timeout: 2_000, checkAPI: false });
        for (const t of tracked) {
          try {
            t.last = await jsm.consumers.info(t.stream, t.consumer);
            t.first ??= t.last;
            if (t.last.num_waiting > 0 || t.last.push_bound) t.readerSeen = true;
          } catch (err) {
            if (!isNotFound(err)) throw err;
            t.last = null;
          }
        }
        lastError = '';
      } catch (err) {
        lastError = (err as Error).message;
        await nc?.close().catch(() => undefined);
        nc = null;
      }
      heartbeat(tracked.map(report));
      if (!lastError && tracked.every(done)) return { ok: true, consumers: tracked.map(report) };
      await sleep(POLL_MS);
    }
  } finally {
    await nc?.close().catch(() => undefined);
  }
  const problems = [...(lastError ? [`the bus did not answer: ${lastError}`] : []), ...tracked.filter((t) => !done(t)).map(why)];
  if (require) {
    throw failure(ActionErrorType.CONSUMERS_NOT_DELIVERED, `within ${timeoutMs} ms: ${problems.join('; ')}`, { consumers: tracked.map(report) }, false);
  }
  return { ok: false, consumers: tracked.map(report) };
}
