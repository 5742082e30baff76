/**
 * The healing workers' trigger loop: a durable pull `consume()` on `self_healing_triggers`. While
 * it runs, the consumer has an outstanding pull (num_waiting > 0): that is what the bus readiness
 * check `subscriptions_active` calls live. It survives the consumer being deleted and re-created.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';

export const TRIGGERS_STREAM = 'LAYER1_EVENTS';
export const TRIGGERS_CONSUMER = 'self_healing_triggers';

/**
 * Readiness round-trips probes through the events stream under this prefix; the trigger loop
 * acknowledges them without calling the handler, since they are not events about kernels.
 */
export const PROBE_EVENTS_PREFIX = 'layer1.events.probe.';

/**
 * Header marking probe messages, so anything that does receive one can tell it is not real: the
 * readiness self-test's and the per-user enforcement check's (kernels/message-bus/enforcement.ts),
 * which publishes as each user to a subject of each of its allow patterns, layer1.events.> included.
 */
export const PROBE_HEADER = 'Layer1-Probe';

export type TriggerHandler = (msg: JsMsg) => Promise<void>;

/** What the loop went through, for logs and tests. */
export type TriggerLoopEvent =
  | { type: 'bound'; stream: string; consumer: string }
  | { type: 'lost'; reason: string }
  | { type: 'handler_failed'; subject: string; error: unknown };

export interface ConsumeTriggersOptions {
  /** Stops the loop; `consumeTriggers` resolves once the pull is stopped. */
  signal: AbortSignal;
  /** @default 'LAYER1_EVENTS' */
  stream?: string;
  /** @default 'self_healing_triggers' */
  consumer?: string;
  /**
   * How long each pull request waits on the server. Shorter notices a lost consumer sooner at
   * the cost of more pull requests. @default 10000
   */
  expiresMs?: number;
  /** First retry delay after the consumer could not be bound; doubles per failure. @default 250 */
  minBackoffMs?: number;
  /** @default 5000 */
  maxBackoffMs?: number;
  /** Delay before a message whose handler threw is redelivered. @default 1000 */
  nakDelayMs?: number;
  onEvent?: (event: TriggerLoopEvent) => void;
}

/**
 * Runs `handler` for each trigger and acknowledges the message after it returns (a throwing
 * handler makes the message come back after `nakDelayMs`, up to the consumer's max deliveries).
 * When the consumer or its stream disappears, it re-binds with exponential backoff until they are
 * back (`ensureStreams` re-creates them). Resolves when `signal` aborts or the connection closes.
 */
export async function consumeTriggers(nc: NatsConnection, handler: TriggerHandler, options: ConsumeTriggersOptions): Promise<void> {
  const { signal } = options;
  const stream = options.stream ?? TRIGGERS_STREAM;
  const consumerName = options.consumer ?? TRIGGERS_CONSUMER;
  const minBackoff = options.minBackoffMs ?? 250;
  const maxBackoff = options.maxBackoffMs ?? 5_000;
  const emit = options.onEvent ?? (() => undefined);
  const js = jetstream(nc);
  let failures = 0;

  while (!signal.aborted && !nc.isClosed()) {
    let messages: ConsumerMessages | undefined;
    const stop = (): void => messages?.stop();
    try {
      const consumer = await js.consumers.get(stream, consumerName);
      // abort_on_missing_resource: we own the retry loop, with a shorter backoff than the library's.
      messages = await consumer.consume({ expires: options.expiresMs ?? 10_000, abort_on_missing_resource: true });
      signal.addEventListener('abort', stop, { once: true });
      failures = 0;
      emit({ type: 'bound', stream, consumer: consumerName });
      void stopWhenLost(messages, emit);
      for await (const msg of messages) {
        if (msg.subject.startsWith(PROBE_EVENTS_PREFIX) || msg.headers?.has(PROBE_HEADER)) {
          msg.ack();
          continue;
        }
        try {
          await handler(msg);
          msg.ack();
        } catch (error) {
          emit({ type: 'handler_failed', subject: msg.subject, error });
          msg.nak(options.nakDelayMs ?? 1_000);
        }
      }
      const closedWith = await messages.closed();
      if (closedWith instanceof Error) emit({ type: 'lost', reason: closedWith.message });
    } catch (err) {
      emit({ type: 'lost', reason: err instanceof Error ? err.message : String(err) });
    } finally {
      signal.removeEventListener('abort', stop);
    }
    if (signal.aborted || nc.isClosed()) break;
    const delay = Math.min(maxBackoff, minBackoff * 2 ** failures++);
    await sleep(delay, undefined, { signal }).catch(() => undefined);
  }
}

/**
 * The server answers a deleted consumer's outstanding pull with 409 "Consumer Deleted"; the
 * library would only notice after two missed heartbeats, so stop now and let the loop re-bind.
 */
async function stopWhenLost(messages: ConsumerMessages, emit: (e: TriggerLoopEvent) => void): Promise<void> {
  for await (const s of messages.status()) {
    if (s.type === 'consumer_deleted' || s.type === 'consumer_not_found' || s.type === 'stream_not_found') {
      emit({ type: 'lost', reason: s.type });
      messages.stop();
      return;
    }
  }
}
