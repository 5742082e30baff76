/**
 * The message bus kernel's readiness self-test and its reload:
 *  - `queue_operational`: a probe published to a stream with a JetStream ack is consumed back;
 *  - `acl_loaded`: as user `probe`, an allowed publish is delivered and a forbidden one is refused
 *    by the server with a permissions violation;
 *  - `subscriptions_active`: every durable consumer of the policy exists, and those marked
 *    `mustBeLive` are live: some process holds an outstanding pull on it (`num_waiting > 0`) or a
 *    push subscription is bound to it.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { headers, PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamManager, type PubAck } from '@nats-io/jetstream';
import { hostText, parseSeedList } from '../../src/config/bus-url';
import type { LoadedConfig } from '../../src/config/load';
import { timedCheck, type CheckResult } from '../../src/domain/checks';
import { connectBus } from '../../src/clients/bus';
import type { ProcessManager } from '../../src/process/manager';
import { processManager, tail } from '../../src/stack/stack';
import { BusReloadError, ExternalBusError, MessageBusError } from './errors';
import { loadPolicy, policyFileOf, subjectCovers, type BusPolicy } from './policy';
import { busPaths, renderBus } from './render';
import { isNotFound } from './streams';
import { PROBE_EVENTS_PREFIX, PROBE_HEADER } from './triggers';

/** The checks, in the order they are reported. */
export const BUS_CHECK_NAMES = ['queue_operational', 'acl_loaded', 'subscriptions_active'] as const;
export type BusCheckName = (typeof BUS_CHECK_NAMES)[number];

/** Header marking probe messages (defined with the trigger loop, which skips them). */
export { PROBE_HEADER } from './triggers';

export interface BusReadinessOptions {
  /** The policy to check against. @default the one {@link policyFileOf} the config names */
  policy?: BusPolicy;
  /** Bound on each wait (publish ack, consume, delivery). @default 3000 */
  timeoutMs?: number;
  /**
   * How long a consumer may show no outstanding pull before it counts as not live: a pull
   * consumer re-issues its pull when the previous one expires, so one sample can fall in the gap.
   * @default 1000
   */
  liveWindowMs?: number;
}

/**
 * Runs the three named checks against the bus the config names, each with pass/fail, detail and
 * duration. Never throws: a failure to connect fails the checks that needed the connection.
 */
export async function busReadiness(config: LoadedConfig, options: BusReadinessOptions = {}): Promise<CheckResult[]> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  let policy: BusPolicy;
  try {
    policy = options.policy ?? loadPolicy(policyFileOf(config));
  } catch (err) {
    const detail = `ACL policy not loadable: ${err instanceof Error ? err.message : String(err)}`;
    return BUS_CHECK_NAMES.map((name) => ({ name, ok: false, detail, ms: 0 }));
  }
  const operator = connectBus(config, { name: 'layer1-bus-readiness', timeoutMs });
  // Each check awaits the connection itself, so a failed connect is reported per check, not thrown.
  operator.catch(() => undefined);
  try {
    return await Promise.all([
      timedCheck('queue_operational', async () => queueRoundTrip(await operator, policy, timeoutMs)),
      timedCheck('acl_loaded', async () => aclProbe(config, await operator, policy, timeoutMs)),
      timedCheck('subscriptions_active', async () => consumersLive(await operator, policy, options.liveWindowMs ?? 1_000)),
    ]);
  } finally {
    await (await operator.catch(() => null))?.close();
  }
}

/** Publish with a JetStream ack, consume it back through an ordered consumer, then delete it. */
async function queueRoundTrip(nc: NatsConnection, policy: BusPolicy, timeoutMs: number): Promise<string> {
  const subject = `${PROBE_EVENTS_PREFIX}${randomUUID()}`;
  const stream = Object.entries(policy.streams).find(([, s]) => s.subjects.some((x) => subjectCovers(x, subject)))?.[0];
  if (!stream) throw new MessageBusError(`no stream of the ACL policy captures ${PROBE_EVENTS_PREFIX}>`);
  const js = jetstream(nc, { timeout: timeoutMs });
  const jsm = await jetstreamManager(nc, { timeout: timeoutMs, checkAPI: false });
  const payload = randomUUID();
  const h = headers();
  h.set(PROBE_HEADER, 'queue_operational');
  let ack: PubAck | undefined;
  // Without this, a missing stream shows up as the publish's "no responders", which nats.js words
  // as "jetstream is not enabled": true of the subject, misleading about the bus.
  await jsm.streams.info(stream).catch((err: unknown) => {
    throw isNotFound(err) ? new MessageBusError(`stream ${stream} does not exist (ensureStreams creates it)`, { cause: err }) : err;
  });
  try {
    // Idempotent: the message id de-duplicates a retried publish within the stream's window.
    ack = await js.publish(subject, payload, { msgID: subject, headers: h, timeout: timeoutMs });
    if (ack.stream !== stream) throw new MessageBusError(`probe stored in stream ${ack.stream}, expected ${stream}`);
    const consumer = await js.consumers.get(stream, { filter_subjects: [subject] });
    try {
      const msg = await consumer.next({ expires: Math.max(1_000, timeoutMs) });
      if (!msg) throw new MessageBusError(`published seq ${ack.seq} to ${stream} but consumed nothing back within ${timeoutMs} ms`);
      if (msg.string() !== payload) throw new MessageBusError(`consumed a different payload from ${subject} than was published`);
    } finally {
      await consumer.delete().catch(() => undefined);
    }
    return `published ${subject} to ${stream} (seq ${ack.seq}, acked) and consumed it back`;
  } finally {
    // Idempotent: deleting an already-deleted sequence is a harmless error; the probe leaves no trace.
    if (ack) await jsm.streams.deleteMessage(ack.stream, ack.seq).catch(() => undefined);
  }
}

/** A literal subject the probe user must not publish to: the first exclusive subject it does not own. */
export function forbiddenProbeSubject(policy: BusPolicy): string | undefined {
  for (const rule of policy.exclusivePublish) {
    if (rule.users.includes('probe')) continue;
    const literal = rule.subjects.find((s) => !s.split('.').some((t) => t === '*' || t === '>'));
    if (literal) return literal;
  }
  return undefined;
}

async function aclProbe(config: LoadedConfig, operator: NatsConnection, policy: BusPolicy, timeoutMs: number): Promise<string> {
  const forbidden = forbiddenProbeSubject(policy);
  if (!forbidden) throw new MessageBusError('the ACL policy reserves no subject the probe user could be refused (exclusivePublish)');
  const probe = await connectBus(config, { user: 'probe', name: 'layer1-bus-readiness-probe', timeoutMs });
  try {
    // The server answers a refused publish with `-ERR 'Permissions Violation for Publish to "…"'`,
    // which nats.js surfaces as a PermissionViolationError on the connection's status stream.
    const refused: PermissionViolationError[] = [];
    void (async () => {
      for await (const s of probe.status()) {
        if (s.type === 'error' && s.error instanceof PermissionViolationError) refused.push(s.error);
      }
    })();
    const h = headers();
    h.set(PROBE_HEADER, 'acl_loaded');

    const allowed = `layer1.probe.${randomUUID()}`;
    const echo = probe.subscribe(allowed, { max: 1, timeout: timeoutMs });
    probe.publish(allowed, 'allowed', { headers: h });
    await probe.flush();
    try {
      await firstMessage(echo);
    } catch (err) {
      throw new MessageBusError(`allowed publish to ${allowed} as probe was not delivered: ${(err as Error).message}`, { cause: err });
    }
    if (refused.length > 0) throw new MessageBusError(`allowed publish to ${allowed} as probe was refused: ${refused[0].message}`);

    // Watch the forbidden subject as operator, so an accepted publish is seen, not just inferred.
    const watch = operator.subscribe(forbidden, { timeout: timeoutMs });
    let delivered = false;
    const watched = (async () => {
      for await (const m of watch) if (m.headers?.get(PROBE_HEADER) === 'acl_loaded') delivered = true;
    })().catch(() => undefined);
    await operator.flush();
    probe.publish(forbidden, 'forbidden', { headers: h });
    // The server handles a connection's protocol in order: its -ERR for the publish precedes the PONG.
    await probe.flush();
    await operator.flush();
    const deadline = Date.now() + Math.min(timeoutMs, 500);
    while (!refused.some((e) => e.subject === forbidden) && !delivered && Date.now() < deadline) await sleep(10);
    watch.unsubscribe();
    await watched;
    const violation = refused.find((e) => e.operation === 'publish' && e.subject === forbidden);
    if (!violation) {
      throw new MessageBusError(
        `forbidden publish to ${forbidden} as probe was accepted (${delivered ? 'delivered to a subscriber' : 'no permissions violation'}): the loaded ACL does not enforce exclusivePublish`,
      );
    }
    return `probe may publish to ${allowed}; publish to ${forbidden} refused (${violation.message})`;
  } finally {
    await probe.close();
  }
}

async function firstMessage<T>(sub: AsyncIterable<T>): Promise<T | undefined> {
  for await (const m of sub) return m;
  return undefined;
}

async function consumersLive(nc: NatsConnection, policy: BusPolicy, liveWindowMs: number): Promise<string> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const ok: string[] = [];
  const problems: string[] = [];
  for (const [stream, s] of Object.entries(policy.streams)) {
    for (const [name, c] of Object.entries(s.consumers)) {
      const id = `${stream}/${name}`;
      const state = await liveness(jsm, stream, name, c.mustBeLive ? liveWindowMs : 0);
      if (state === 'missing') problems.push(`durable consumer ${id} does not exist`);
      else if (!c.mustBeLive) ok.push(`${id} exists (liveness not required)`);
      else if (state.live) ok.push(`${id} live (${state.how})`);
      else problems.push(`durable consumer ${id} is not live: no outstanding pull (num_waiting 0) and no bound push subscriber for ${liveWindowMs} ms`);
    }
  }
  if (problems.length > 0) throw new MessageBusError(problems.join('; '));
  return ok.join('; ') || 'the ACL policy requires no consumers';
}

/** Samples consumer info over `windowMs`: live as soon as one sample shows a pull waiting or a push bound. */
async function liveness(jsm: JetStreamManager, stream: string, name: string, windowMs: number): Promise<'missing' | { live: boolean; how: string }> {
  const until = Date.now() + windowMs;
  for (;;) {
    let info;
    try {
      info = await jsm.consumers.info(stream, name);
    } catch (err) {
      if (isNotFound(err)) return 'missing';
      throw err;
    }
    if (info.num_waiting > 0) return { live: true, how: `${info.num_waiting} pull request(s) waiting` };
    if (info.push_bound) return { live: true, how: 'push subscriber bound' };
    if (Date.now() >= until) return { live: false, how: 'no puller' };
    await sleep(100);
  }
}

export interface ReloadOptions {
  /** Re-render nats.conf from the policy first; false reloads the file as it is. @default true */
  render?: boolean;
  /** @default the embedded process manager of the config's state directory */
  pm?: ProcessManager;
  /** @default 10000 */
  timeoutMs?: number;
}

/**
 * Re-renders the bus configuration and makes the running `bus` process load it (SIGHUP: users and
 * permissions change in place; connections, streams and consumers stay). Resolves once the server
 * reports the new load time and /healthz is ok with JetStream. The embedded bus only.
 * @throws BusReloadError when the bus is not running or does not take the new configuration.
 * @throws ExternalBusError on an external bus (`bus.embedded: false`), which Layer 1 does not run.
 */
export async function reloadBus(config: LoadedConfig, options: ReloadOptions = {}): Promise<{ configLoadTime: string }> {
  // Not ours to signal: a cluster's nodes load the authorization block their operator installs.
  if (!config.bus.embedded) throw new ExternalBusError('reloading the bus (SIGHUP to its nats-server) does not apply');
  const pm = options.pm ?? processManager(config);
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (options.render !== false) renderBus(config);
  const { host } = parseSeedList(config.bus.url)[0];
  const monitor = `http://${hostText(host)}:${config.bus.monitorPort}`;
  const before = await configLoadTime(monitor);
  if (!pm.signal('bus', 'SIGHUP')) throw new BusReloadError('the bus is not running (no live process named "bus")');
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    try {
      const now = await configLoadTime(monitor);
      if (now !== before) {
        const res = await fetch(`${monitor}/healthz?js-enabled-only=true`, { signal: AbortSignal.timeout(1_000) });
        if (res.ok) return { configLoadTime: now };
        last = `healthz answered ${res.status}`;
      } else {
        last = 'the server still reports the previous configuration';
      }
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(50);
  }
  throw new BusReloadError(
    `the bus did not load ${busPaths(config).confFile} within ${timeoutMs} ms: ${last}\n  its log: ${pm.logPath('bus')}\n${tail(pm.logPath('bus'), 10)}`,
  );
}

async function configLoadTime(monitor: string): Promise<string> {
  const res = await fetch(`${monitor}/varz`, { signal: AbortSignal.timeout(1_000) });
  const body = (await res.json()) as { config_load_time?: string };
  return body.config_load_time ?? '';
}
