/**
 * Independent checks of the bus for the scenarios' `verify` (scenarios.ts): each reads the system
 * itself — the bus's monitor, JetStream's consumer info, real publishes as each user, nats.conf on
 * disk, the archive file, the immutable log — never a playbook run's report, and throws an
 * AssertionError naming what is still wrong.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { headers } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { LoadedConfig } from '../config/load';
import { connectBus } from '../clients/bus';
import { busService } from '../stack/services';
import { findLogEntryBackward } from '../clients/audit-log';
import { immutableLogClient } from '../../kernels/registry';
import { checkEnforcedRules, configMatchesPolicy, type EnforcementReport } from '../../kernels/message-bus/enforcement';
import { durationMs, loadPolicy, policyFileOf } from '../../kernels/message-bus/policy';
import { isNotFound } from '../../kernels/message-bus/streams';
import { PROBE_EVENTS_PREFIX, PROBE_HEADER } from '../../kernels/message-bus/triggers';

/** The bus answers its health check with JetStream enabled (the same probe `layer1 up` and `status` use). */
export async function assertBusAnswers(config: LoadedConfig): Promise<void> {
  const health = await busService(config).health(3_000);
  assert.ok(health.healthy, `the bus does not answer its health check: ${health.detail}`);
}

/** nats.conf on disk is what the ACL policy renders now. */
export function assertConfMatchesPolicy(config: LoadedConfig): void {
  const conf = configMatchesPolicy(config);
  assert.ok(conf.ok, conf.detail);
}

/** Every user's rules, as the bus enforces them: an allowed publish per allow pattern delivered, a forbidden one refused. */
export async function assertEveryUserEnforced(config: LoadedConfig): Promise<EnforcementReport> {
  const report = await checkEnforcedRules(config);
  assert.ok(report.ok, `the bus does not enforce the policy: ${report.detail}`);
  return report;
}

/** `user` publishing to `subject` (or an instance of the allow pattern `subject`) is delivered, as the bus enforces it. */
export function assertMayPublish(report: EnforcementReport, user: string, subject: string): void {
  const probe = report.users.find((u) => u.user === user)?.allowed.find((p) => p.subject === subject || p.rule === subject);
  assert.ok(probe, `no probe of ${user} publishing to ${subject} (is it in its policy allow list?)`);
  assert.equal(probe.outcome, 'delivered', `${user} publishing to ${probe.subject}: ${probe.outcome}`);
}

/** Every stream and consumer of the policy exists on the server. */
export async function assertPolicyStreamsPresent(config: LoadedConfig): Promise<void> {
  const policy = loadPolicy(policyFileOf(config));
  const nc = await connectBus(config, { name: 'layer1-verify-streams' });
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    for (const [stream, s] of Object.entries(policy.streams)) {
      await jsm.streams.info(stream).catch((err: unknown) => assert.fail(`stream ${stream} of the policy: ${isNotFound(err) ? 'missing' : (err as Error).message}`));
      for (const consumer of Object.keys(s.consumers)) {
        await jsm.consumers.info(stream, consumer).catch((err: unknown) => assert.fail(`consumer ${stream}/${consumer} of the policy: ${isNotFound(err) ? 'missing' : (err as Error).message}`));
      }
    }
  } finally {
    await nc.close();
  }
}

/** The consumer exists on the server (JetStream consumer info) with the policy's configuration. */
export async function assertConsumerAsPolicy(config: LoadedConfig, stream: string, consumer: string): Promise<void> {
  const c = loadPolicy(policyFileOf(config)).streams[stream]?.consumers[consumer];
  assert.ok(c, `the policy has no consumer ${stream}/${consumer}`);
  const nc = await connectBus(config, { name: 'layer1-verify-consumer' });
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const info = await jsm.consumers.info(stream, consumer).catch((err: unknown) => assert.fail(`consumer ${stream}/${consumer}: ${isNotFound(err) ? 'missing on the server' : (err as Error).message}`));
    const have = info.config;
    assert.equal(have.durable_name, consumer, 'durable name');
    assert.equal(have.description, c.description, `${consumer}: description`);
    assert.equal(have.ack_policy, AckPolicy.Explicit, `${consumer}: ack policy`);
    assert.equal(have.deliver_policy, c.deliver === 'all' ? DeliverPolicy.All : DeliverPolicy.New, `${consumer}: deliver policy`);
    assert.equal(have.ack_wait, nanos(durationMs(c.ackWait)), `${consumer}: ack wait`);
    assert.equal(have.max_deliver, c.maxDeliver, `${consumer}: max deliver`);
  } finally {
    await nc.close();
  }
}

/**
 * A probe event published now on LAYER1_EVENTS reaches `consumer`'s reader: the server delivers it
 * and the reader acknowledges it (the consumer's ack floor passes its sequence). Only the reader
 * can ack it: nothing here pulls from the consumer.
 */
export async function assertReaderTakesNewMessage(config: LoadedConfig, stream: string, consumer: string, timeoutMs = 20_000): Promise<void> {
  const nc = await connectBus(config, { name: 'layer1-verify-reader' });
  try {
    const h = headers();
    h.set(PROBE_HEADER, 'verify-reader');
    const subject = `${PROBE_EVENTS_PREFIX}verify.${randomUUID()}`;
    const ack = await jetstream(nc).publish(subject, 'verify', { headers: h, timeout: 5_000 });
    assert.equal(ack.stream, stream, `the probe event went to ${ack.stream}`);
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const info = await jsm.consumers.info(stream, consumer);
      if (info.ack_floor.stream_seq >= ack.seq) return;
      last = `delivered up to ${info.delivered.stream_seq}, acked up to ${info.ack_floor.stream_seq}, pending ${info.num_pending}, waiting pulls ${info.num_waiting}`;
      await sleep(100);
    }
    assert.fail(`${stream}/${consumer}: message seq ${ack.seq} published after the run was not taken by its reader within ${timeoutMs} ms (${last})`);
  } finally {
    await nc.close();
  }
}

/** A consumer's pending count, from the server. */
export async function consumerPending(config: LoadedConfig, stream: string, consumer: string): Promise<number> {
  const nc = await connectBus(config, { name: 'layer1-verify-pending' });
  try {
    return (await (await jetstreamManager(nc, { checkAPI: false })).consumers.info(stream, consumer)).num_pending;
  } finally {
    await nc.close();
  }
}

/** The drain archive of `stream/consumer` holds every one of `seqs` (count and sequence numbers). */
export function assertArchiveHolds(config: LoadedConfig, stream: string, consumer: string, seqs: readonly number[], archiveDir = 'archive/drained'): void {
  const file = path.join(config.stateDir, archiveDir, stream, `${consumer}.jsonl`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    assert.fail(`the archive ${file} is not readable: ${(err as Error).message}`);
  }
  const archived = new Set(text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { seq: number }).seq));
  const missing = seqs.filter((s) => !archived.has(s));
  assert.equal(missing.length, 0, `${missing.length} of the ${seqs.length} flooded messages are not in ${file} (first missing seq ${missing[0]})`);
}

/** An entry of `kind` whose data matches `match` is in the immutable log (searched from its head back). */
export async function assertLogEntry(config: LoadedConfig, kind: string, match: (data: Record<string, unknown>) => boolean, what: string): Promise<void> {
  const entry = await findLogEntryBackward(immutableLogClient(config, 30_000), (e) => e.kind === kind && match((e.data ?? {}) as Record<string, unknown>), {
    sinceMs: Date.now() - 30 * 60_000,
  });
  assert.ok(entry, `no ${kind} entry for ${what} in the immutable log`);
}

/** No run of `workflowId` started at or after `sinceMs` (one fault, one remedy). */
export async function assertNoRunSince(temporal: Client, workflowId: string, sinceMs: number, why: string): Promise<void> {
  try {
    const d = await temporal.workflow.getHandle(workflowId).describe();
    assert.ok(d.startTime.getTime() < sinceMs, `${workflowId} ran (started ${d.startTime.toISOString()}, status ${d.status.name}): ${why}`);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}
