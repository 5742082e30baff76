/**
 * Queue actions: drain_queue (discard a durable consumer's backlog that nobody reads) and
 * purge_queue (empty a stream), both archiving every message, fsynced, before it is acked or
 * purged. drain_queue refuses a consumer that has a reader: its backlog is for the reader.
 */
import path from 'node:path';
import { jetstream, jetstreamManager, type ConsumerInfo, type JsMsg } from '@nats-io/jetstream';
import type { LoadedConfig } from '../../src/config/load';
import { connectBus } from '../../src/clients/bus';
import { confinePath, relativeToState } from '../../src/playbooks/paths';
import { isNotFound } from '../../kernels/message-bus/streams';
import { loadPolicy, policyFileOf } from '../../kernels/message-bus/policy';
import { heartbeat, throwIfCancelled } from './context';
import { appendArchive, fileSafe, openArchive } from './queue-archive';
import { action, ActionErrorType, failure, idempotencyKey, type ActionDeps, type ActionGroup, type ActionMeta, type ActionOutputs, type ActionParams } from './shared';

const FETCH_BATCH = 256;
const NATS_NAME = /^[A-Za-z0-9_-]+$/;

export function queueActions({ config }: ActionDeps): ActionGroup<'drain_queue' | 'purge_queue'> {
  return {
    drain_queue: action('drain_queue', (params) => drainQueue(config, params)),
    purge_queue: action('purge_queue', (params, meta) => purgeQueue(config, params, meta)),
  };
}

/**
 * Why a consumer must not be drained: a reader is attached to it (a pull waiting, a push bound), or
 * the ACL policy says a kernel must keep reading it (mustBeLive). Draining would take its messages
 * away from that reader. null when nobody reads it.
 */
function readerOf(config: LoadedConfig, stream: string, consumer: string, info: ConsumerInfo): string | null {
  if (info.push_bound) return 'a push subscriber is bound to it';
  if (info.num_waiting > 0) return `${info.num_waiting} pull request(s) of a reader are waiting on it`;
  const declared = loadPolicy(policyFileOf(config)).streams[stream]?.consumers[consumer];
  if (declared?.mustBeLive) return `the ACL policy says ${declared.user} reads it continuously (mustBeLive)`;
  return null;
}

async function drainQueue(config: LoadedConfig, { stream, consumer, maxMessages, archive, discard, allowReader }: ActionParams['drain_queue']): Promise<ActionOutputs['drain_queue']> {
  natsName('stream', stream);
  natsName('consumer', consumer);
  const file = confinePath(config.stateDir, path.join(archive, stream, `${consumer}.jsonl`));
  const nc = await connectBus(config, { name: 'layer1-action-drain', user: 'operator' });
  try {
    const js = jetstream(nc);
    const c = await js.consumers.get(stream, consumer).catch(notFound(`durable consumer ${stream}/${consumer}`));
    const before = await c.info();
    const reader = allowReader ? null : readerOf(config, stream, consumer, before);
    if (reader) {
      throw failure(
        ActionErrorType.CONSUMER_HAS_READER,
        `refusing to drain ${stream}/${consumer}: ${reader}; draining would take its messages away from it (allowReader: true to do it anyway)`,
        { stream, consumer },
      );
    }
    const archived = await openArchive(file);
    let firstSeq: number | null = null;
    let lastSeq: number | null = null;
    let drained = 0;
    while (drained < maxMessages) {
      await throwIfCancelled();
      const pending = (await c.info()).num_pending;
      if (pending === 0) break;
      const batch: JsMsg[] = [];
      for await (const m of await c.fetch({ max_messages: Math.min(FETCH_BATCH, maxMessages - drained, pending), expires: 2_000 })) {
        batch.push(m);
      }
      if (batch.length === 0) break;
      // Idempotent: a message whose stream sequence is already archived (a crash after the
      // fsync, before its ack) is acked without being written again.
      await appendArchive(file, archived, batch, consumer);
      // Acked only after the archive is fsynced: a crash before this redelivers, never loses.
      await Promise.all(batch.map((m) => m.ackAck()));
      drained += batch.length;
      firstSeq ??= batch[0].seq;
      lastSeq = batch[batch.length - 1].seq;
      heartbeat({ drained });
    }
    return {
      drained,
      remaining: (await c.info()).num_pending,
      archiveFile: relativeToState(config.stateDir, file),
      discarded: discard ?? false,
      firstSeq,
      lastSeq,
      pendingBefore: before.num_pending,
    };
  } finally {
    await nc.close();
  }
}

async function purgeQueue(config: LoadedConfig, { stream, subject, archive }: ActionParams['purge_queue'], meta: ActionMeta): Promise<ActionOutputs['purge_queue']> {
  natsName('stream', stream);
  const file = confinePath(config.stateDir, path.join(archive, stream, `${fileSafe(idempotencyKey(meta))}.jsonl`));
  const archived = await openArchive(file);
  const nc = await connectBus(config, { name: 'layer1-action-purge', user: 'operator' });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream, subject ? { subjects_filter: subject } : undefined).catch(notFound(`stream ${stream}`));
    const lastSeq = info.state.last_seq;
    const count = subject ? Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0) : info.state.messages;
    if (count > 0) {
      // An ordered consumer reads the stream without changing any durable consumer's state.
      const reader = await jetstream(nc).consumers.get(stream, subject ? { filter_subjects: [subject] } : {});
      for (let done = false; !done; ) {
        await throwIfCancelled();
        const batch: JsMsg[] = [];
        for await (const m of await reader.fetch({ max_messages: FETCH_BATCH, expires: 2_000 })) {
          // Messages published after the purge began are neither archived nor purged.
          if (m.seq > lastSeq) {
            done = true;
            break;
          }
          batch.push(m);
          // Stop at the last one rather than wait out the fetch's expiry.
          if (m.info.pending === 0 || m.seq === lastSeq) {
            done = true;
            break;
          }
        }
        if (batch.length === 0) break;
        await appendArchive(file, archived, batch, null);
        heartbeat({ archived: archived.size });
      }
    } else {
      await appendArchive(file, archived, [], null);
    }
    const upTo = Math.max(0, ...archived);
    // Idempotent: only what the fsynced archive holds is purged (sequences below upTo + 1), so a
    // retry purges nothing new, and nothing is ever purged that was not archived first.
    const res = upTo > 0 ? await jsm.streams.purge(stream, { ...(subject ? { filter: subject } : {}), seq: upTo + 1 }) : { purged: 0 };
    return { archived: archived.size, purged: res.purged, archiveFile: relativeToState(config.stateDir, file) };
  } finally {
    await nc.close();
  }
}

function natsName(what: string, name: string): void {
  if (!NATS_NAME.test(name)) {
    throw failure(ActionErrorType.INVALID_PARAMS, `${what} "${name}" is not a valid name (letters, digits, _ and -)`, { [what]: name });
  }
}

function notFound(what: string): (err: unknown) => never {
  return (err) => {
    if (isNotFound(err)) throw failure(ActionErrorType.STREAM_NOT_FOUND, `${what} does not exist`);
    throw err;
  };
}
