/**
 * Message-bus faults: a flooded stream, a deleted durable consumer, a publish the ACL forbids, and a
 * hand-edited nats.conf reloaded.
 */
import { readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { loadPolicy, policyFileOf, subjectCovers } from '../../../kernels/message-bus/policy';
import { reloadBus } from '../../../kernels/message-bus/readiness';
import { ExternalBusError } from '../../../kernels/message-bus/errors';
import { busPaths, renderBus } from '../../../kernels/message-bus/render';
import { ensureStreams } from '../../../kernels/message-bus/streams';
import { violationLogOf } from '../../../kernels/message-bus/client-violations';
import { connectBus } from '../../clients/bus';
import { sha256File } from '../../snapshots/store';
import { FaultError, type FaultContext, type Injected } from './types';

/**
 * Publishes `count` messages (JetStream publish, acknowledged, in parallel batches) as `operator`,
 * so every durable consumer of the stream holding the subject — `telemetry_archive` of
 * LAYER1_TELEMETRY by default, which nobody pulls between runs — gets a backlog.
 *
 * restore: nothing; the backlog is for its consumers to drain (or the stream's limits to age out).
 */
export async function floodStream(
  ctx: FaultContext,
  options: { subject?: string; count: number; batch?: number },
): Promise<Injected<{ published: number; stream: string; pending: Record<string, number>; subject: string; seqs: number[] }>> {
  const subject = options.subject ?? 'telemetry.layer1.flood';
  const batch = options.batch ?? 256;
  const policy = loadPolicy(policyFileOf(ctx.config));
  const stream = Object.entries(policy.streams).find(([, s]) => s.subjects.some((x) => subjectCovers(x, subject)))?.[0];
  if (!stream) throw new FaultError(`no stream of the ACL policy captures ${subject}: a flood there would be stored nowhere`);
  const nc = await connectBus(ctx.config, { name: 'layer1-chaos-flood' });
  try {
    const js = jetstream(nc, { timeout: 10_000 });
    let published = 0;
    const payload = 'x'.repeat(200);
    // Every stream sequence the flood got: what an archive of it must hold, one by one.
    const seqs: number[] = [];
    while (published < options.count) {
      const n = Math.min(batch, options.count - published);
      const acks = await Promise.all(Array.from({ length: n }, (_, i) => js.publish(subject, JSON.stringify({ flood: published + i, pad: payload }))));
      for (const a of acks) seqs.push(a.seq);
      published += n;
    }
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const pending: Record<string, number> = {};
    for (const consumer of Object.keys(policy.streams[stream].consumers)) {
      pending[consumer] = (await jsm.consumers.info(stream, consumer).catch(() => null))?.num_pending ?? -1;
    }
    return {
      detail: `published ${published} messages to ${subject} (${stream}); pending: ${Object.entries(pending).map(([c, p]) => `${c} ${p}`).join(', ')}`,
      published,
      stream,
      pending,
      subject,
      seqs,
      restore: async () => undefined,
    };
  } finally {
    await nc.close();
  }
}

/**
 * Deletes a durable consumer through the JetStream API, as `operator`.
 *
 * restore: `ensureStreams(config)`, which re-creates whatever the policy has and the bus lacks.
 */
export async function deleteConsumer(
  ctx: FaultContext,
  options: { stream?: string; consumer?: string } = {},
): Promise<Injected<{ stream: string; consumer: string }>> {
  const stream = options.stream ?? 'LAYER1_EVENTS';
  const consumer = options.consumer ?? 'self_healing_triggers';
  const nc = await connectBus(ctx.config, { name: 'layer1-chaos-delete-consumer' });
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    try {
      await jsm.consumers.delete(stream, consumer);
    } catch (err) {
      throw new FaultError(`could not delete consumer ${stream}/${consumer}: ${(err as Error).message}`, { cause: err });
    }
  } finally {
    await nc.close();
  }
  return {
    detail: `deleted durable consumer ${stream}/${consumer}`,
    stream,
    consumer,
    restore: async () => {
      await ensureStreams(ctx.config);
    },
  };
}

/** Lines appended to a file since it was `fromBytes` long. */
function linesSince(file: string, fromBytes: number): string[] {
  try {
    const buf = readFileSync(file);
    return buf.subarray(Math.min(fromBytes, buf.length)).toString('utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

const fileSize = (file: string): number => {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
};

/**
 * Connects to the bus as a kernel's own user (its rendered credentials and reply inbox, through
 * `connectBus`) and publishes a core NATS message where its ACL forbids. The server answers with
 * `-ERR 'Permissions Violation for Publish to "<subject>"'` (a PermissionViolationError on the
 * connection's status) and logs the violation to the bus log (an external cluster logs it on its
 * node; the connection records it in logs/bus-violations.log).
 *
 * restore: nothing; a refused publish changes nothing.
 */
export async function forbiddenPublish(
  ctx: FaultContext,
  options: { user?: string; subject?: string; timeoutMs?: number } = {},
): Promise<Injected<{ user: string; subject: string; refused: boolean; error: string | null; logLines: string[] }>> {
  const user = options.user ?? 'immutable_log';
  const subject = options.subject ?? 'system.control';
  const timeoutMs = options.timeoutMs ?? 2_000;
  // Where the refusal is written: the embedded bus's log, or this connection's record of it.
  const busLog = violationLogOf(ctx.config, ctx.pm);
  const logFrom = fileSize(busLog);
  const nc: NatsConnection = await connectBus(ctx.config, { user, name: `layer1-chaos-${user}` });
  let violation: PermissionViolationError | undefined;
  try {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error' && s.error instanceof PermissionViolationError && s.error.subject === subject) violation ??= s.error;
      }
    })();
    nc.publish(subject, JSON.stringify({ chaos: 'forbiddenPublish', user }));
    // The server handles a connection's protocol in order: its -ERR precedes the flush's PONG.
    await nc.flush();
    const deadline = Date.now() + timeoutMs;
    while (!violation && Date.now() < deadline) await sleep(10);
  } finally {
    await nc.close().catch(() => undefined);
  }
  // nats-server writes its log line asynchronously to the one it answers with.
  let logLines: string[] = [];
  const deadline = Date.now() + timeoutMs;
  do {
    logLines = linesSince(busLog, logFrom).filter((l) => /violation/i.test(l) && l.includes(subject));
    if (logLines.length > 0 || !violation) break;
    await sleep(50);
  } while (Date.now() < deadline);
  const refused = violation !== undefined;
  return {
    detail: refused
      ? `publish to ${subject} as ${user} refused: ${violation?.message}`
      : `publish to ${subject} as ${user} was NOT refused: the loaded ACL lets it through`,
    user,
    subject,
    refused,
    error: violation?.message ?? null,
    logLines,
    restore: async () => undefined,
  };
}

/**
 * `conf` (as renderNatsConf writes it) with `subject` taken out of `user`'s publish allow list.
 * @throws FaultError when the user's block or the subject in its allow list is not found
 */
export function withoutPublishAllow(conf: string, user: string, subject: string): string {
  const lines = conf.split('\n');
  const userLine = lines.findIndex((l) => l.trim() === `user: ${JSON.stringify(user)}`);
  if (userLine === -1) throw new FaultError(`nats.conf has no user ${user}`);
  const publish = /^(\s*publish: \{ allow: )\[(.*?)\](, deny: \[.*\] \})$/;
  for (let i = userLine + 1; i < lines.length && !/^\s*user: /.test(lines[i]); i++) {
    const m = publish.exec(lines[i]);
    if (!m) continue;
    const allow = JSON.parse(`[${m[2]}]`) as string[];
    if (!allow.includes(subject)) throw new FaultError(`${user} has no publish permission on ${subject} in nats.conf to take away`);
    const kept = allow.filter((s) => s !== subject);
    lines[i] = `${m[1]}[${kept.map((s) => JSON.stringify(s)).join(', ')}]${m[3]}`;
    return lines.join('\n');
  }
  throw new FaultError(`nats.conf has no publish permissions for user ${user}`);
}

/**
 * Makes the loaded bus configuration drift from the policy: takes `system.control` out of
 * `control_plane`'s publish allow list in `<stateDir>/bus/nats.conf`, then has nats-server reload
 * that file as it is (SIGHUP, waiting for the new load time).
 *
 * restore: re-renders from the policy and reloads, only when the file still differs from the render.
 */
export async function tamperBusConfig(
  ctx: FaultContext,
  options: { user?: string; subject?: string } = {},
): Promise<Injected<{ confFile: string; before: string; after: string; configLoadTime: string }>> {
  if (!ctx.config.bus.embedded) throw new ExternalBusError('the tamperBusConfig fault edits and reloads the embedded bus\'s nats.conf');
  const user = options.user ?? 'control_plane';
  const subject = options.subject ?? 'system.control';
  const { confFile } = busPaths(ctx.config);
  const before = await sha256File(confFile);
  const tampered = withoutPublishAllow(readFileSync(confFile, 'utf8'), user, subject);
  await ctx.journal?.({ kind: 'rerender_bus' });
  // Written in place, as a hand edit would be; nats.conf holds passwords, so its mode stays 0600.
  const fh = await open(confFile, 'w', 0o600);
  try {
    await fh.writeFile(tampered);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  const after = await sha256File(confFile);
  const { configLoadTime } = await reloadBus(ctx.config, { render: false, pm: ctx.pm });
  return {
    detail: `took ${subject} out of ${user}'s publish allow list in ${path.relative(ctx.config.stateDir, confFile)} and reloaded the bus`,
    confFile,
    before,
    after,
    configLoadTime,
    restore: async () => {
      if (renderBus(ctx.config).changed) await reloadBus(ctx.config, { render: false, pm: ctx.pm });
    },
  };
}

/** Writes nats.conf in place, as a hand edit would; it holds passwords, so its mode stays 0600. */
async function writeConf(confFile: string, text: string): Promise<void> {
  const fh = await open(confFile, 'w', 0o600);
  try {
    await fh.writeFile(text);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/**
 * Makes the bus ENFORCE rules that differ from the policy while the file on disk matches it: takes
 * `pattern` out of `user`'s publish allow list in nats.conf, reloads the bus (SIGHUP), then puts the
 * file back as it was WITHOUT a reload — the config-drift detector, which reads the file, sees
 * nothing. Then `user` publishes to `subject` (which the policy allows it): the bus refuses it and
 * logs the violation, evidence for message_bus_acl_violation_fix, whose analysis must say the
 * enforced ACL drifted (acl_drift) and reload.
 *
 * restore: reloads the bus from the file (which is the policy's render), idempotent.
 */
export async function enforcedAclDrift(
  ctx: FaultContext,
  options: { user?: string; pattern?: string; subject?: string } = {},
): Promise<Injected<{ user: string; pattern: string; subject: string; refused: boolean; confFile: string; sha256: string }>> {
  if (!ctx.config.bus.embedded) throw new ExternalBusError('the enforcedAclDrift fault edits and reloads the embedded bus\'s nats.conf');
  const user = options.user ?? 'immutable_log';
  const pattern = options.pattern ?? 'layer1.log.>';
  const subject = options.subject ?? 'layer1.log.chaos';
  const { confFile } = busPaths(ctx.config);
  const original = readFileSync(confFile, 'utf8');
  await ctx.journal?.({ kind: 'reload_bus' });
  await writeConf(confFile, withoutPublishAllow(original, user, pattern));
  await reloadBus(ctx.config, { render: false, pm: ctx.pm });
  // Back as it was, unloaded: the file matches the policy, the bus does not.
  await writeConf(confFile, original);
  const sha256 = await sha256File(confFile);
  const refusal = await forbiddenPublish(ctx, { user, subject });
  if (!refusal.refused) throw new FaultError(`the bus did not refuse ${user}'s publish to ${subject} after ${pattern} was taken out: ${refusal.detail}`);
  return {
    detail: `the bus enforces ${user} without ${pattern} (reloaded), nats.conf put back unreloaded; ${refusal.detail}`,
    user,
    pattern,
    subject,
    refused: refusal.refused,
    confFile,
    sha256,
    restore: async () => {
      await reloadBus(ctx.config, { render: false, pm: ctx.pm });
    },
  };
}
