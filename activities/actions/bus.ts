/** Bus actions: apply_bus_acl, validate_bus_acl, publish_event and wait_consumers_delivered. */
import path from 'node:path';
import { headers as natsHeaders, PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { busReadiness, reloadBus } from '../../kernels/message-bus/readiness';
import { renderBus } from '../../kernels/message-bus/render';
import { ensureStreams } from '../../kernels/message-bus/streams';
import { loadPolicy, policyFileOf } from '../../kernels/message-bus/policy';
import { analyseViolations } from '../../kernels/message-bus/violations';
import { violationLogOf } from '../../kernels/message-bus/client-violations';
import { checkEnforcedRules, configMatchesPolicy } from '../../kernels/message-bus/enforcement';
import { auditActions } from './audit';
import { waitConsumersDelivered } from './consumers';
import { withDeadline } from '../../src/deadline';
import { action, ActionErrorType, failure, idempotencyKey, type ActionDeps, type ActionGroup, type ActionMeta, type ActionOutputs, type ActionParams } from './shared';

/** Header names on events published by publish_event. */
export const EVENT_HEADERS = { workflow: 'Layer1-Workflow', run: 'Layer1-Run', step: 'Layer1-Step', playbook: 'Layer1-Playbook' } as const;

export function busActions(deps: ActionDeps): ActionGroup<'apply_bus_acl' | 'validate_bus_acl' | 'publish_event' | 'wait_consumers_delivered'> {
  const { config, bus, pm } = deps;
  // The fallback of a best-effort publish: an audit entry, keyed on the run and step like append_audit.
  const { append_audit } = auditActions(deps);
  return {
    apply_bus_acl: action('apply_bus_acl', async () => {
      const rendered = renderBus(config);
      // Reload even when nothing changed: an attempt that rendered and then crashed before the
      // reload leaves `changed: false` for the retry, and reloading an unchanged config is harmless.
      // An external cluster is not ours to reload: its operator installs the rendered block.
      const configLoadTime = config.bus.embedded ? (await reloadBus(config, { render: false, pm })).configLoadTime : null;
      // The policy also names the streams and consumers (a deleted consumer comes back here).
      const report = await ensureStreams(config);
      const ensured = [
        ...report.streams.filter((x) => x.action !== 'unchanged').map((x) => x.stream),
        ...report.consumers.filter((x) => x.action !== 'unchanged').map((x) => `${x.stream}/${x.consumer}`),
      ];
      const detail = config.bus.embedded
        ? `rendered ${rendered.file}${rendered.changed ? ' (changed)' : ''} and the bus loaded it`
        : `rendered ${rendered.file}${rendered.changed ? ' (changed)' : ''}; not reloaded: the bus is an external cluster, whose operator installs that block in every node (\`layer1 bus render-acl\`)`;
      return { changed: rendered.changed, hash: rendered.hash, configLoadTime, ensured, detail, file: path.relative(config.stateDir, rendered.file) };
    }),

    validate_bus_acl: action('validate_bus_acl', async ({ analyseLog, logKb, require, user, subject }) => {
      // Read-only but for probes: on probe subjects (readiness), or marked with the probe header and
      // deleted from any stream that stored them (the per-user enforcement check).
      const policy = loadPolicy(policyFileOf(config));
      const checks = await busReadiness(config, { policy });
      const acl = checks.find((c) => c.name === 'acl_loaded');
      const probe = acl ? { ok: acl.ok, detail: acl.detail } : { ok: false, detail: 'the bus self-test has no acl_loaded check' };
      const enforced = await checkEnforcedRules(config, { policy }).catch((err: unknown) => ({
        ok: false,
        users: [],
        detail: `the enforced rules could not be checked: ${(err as Error).message}`,
      }));
      const conf = configMatchesPolicy(config);
      const ok = probe.ok && enforced.ok && conf.ok;
      const detail = ok ? `${enforced.detail}; ${conf.detail}` : [probe, enforced, conf].filter((c) => !c.ok).map((c) => c.detail).join(' | ');
      const users = enforced.users.map((u) => ({ user: u.user, ok: u.ok, problems: u.problems }));
      const out = { ok, detail, users, configMatchesPolicy: conf.ok };
      if (require && !ok) throw failure(ActionErrorType.ACL_INVALID, `the bus ACL does not behave as the policy says: ${detail}`, { detail, users }, false);
      if (!analyseLog) return { ...out, violations: [], verdict: 'not_analysed' as const };
      // The violation that started the run, when named: older ones in the log's window (another
      // user's, another fault's) do not decide this run's verdict. An external cluster's log is on
      // its nodes: there, the refusals Layer 1's own connections received.
      const violations = analyseViolations(violationLogOf(config, pm), policy, logKb * 1024).filter((v) => (!user || v.user === user) && (!subject || v.subject === subject));
      // Drift: the bus refused what the policy allows, or enforces other rules than the policy now.
      const drift = violations.some((v) => v.allowedByPolicy) || !enforced.ok;
      const verdict = drift ? 'acl_drift' : violations.length === 0 ? 'none' : 'policy_enforced';
      return { ...out, violations, verdict };
    }),

    wait_consumers_delivered: action('wait_consumers_delivered', (params) => waitConsumersDelivered(config, params)),

    publish_event: action('publish_event', async (params, meta) => {
      if (!params.bestEffort) return publishEvent(bus, params, meta);
      try {
        return await publishEvent(bus, params, meta);
      } catch (err) {
        // The bus may be the thing being repaired (down, reloading, enforcing a drifted ACL): the
        // event is not lost, it goes to the immutable log, which never depends on the bus.
        const reason = (err as Error).message ?? String(err);
        const entry = await append_audit({ kind: 'event.unpublished', data: { subject: params.subject, payload: params.payload, reason } }, meta);
        return { stream: null, seq: null, duplicate: false, fallback: { log: entry.seq, reason } };
      }
    }),
  };
}

async function publishEvent(bus: NatsConnection, { subject, payload, timeoutMs = 5_000 }: ActionParams['publish_event'], meta: ActionMeta): Promise<ActionOutputs['publish_event']> {
  const h = natsHeaders();
  h.set(EVENT_HEADERS.workflow, meta.workflowId);
  h.set(EVENT_HEADERS.run, meta.runId);
  h.set(EVENT_HEADERS.step, meta.stepId);
  h.set(EVENT_HEADERS.playbook, meta.playbook);
  const data = JSON.stringify(payload);
  try {
    // Idempotent: the message id is the run and step, so JetStream drops a retried publish as
    // a duplicate (within the stream's duplicate window) and answers with the first one's seq.
    const ack = await jetstream(bus).publish(subject, data, { msgID: idempotencyKey(meta), headers: h, timeout: timeoutMs });
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  } catch (err) {
    if (isPermissionViolation(err)) {
      throw failure(ActionErrorType.PUBLISH_REFUSED, `the bus refused a publish to ${subject}: ${(err as Error).message}`, { subject });
    }
    if (!isNoStream(err)) throw err;
  }
  // No stream captures the subject: a plain publish, which a retry may repeat (core NATS has no ids).
  bus.publish(subject, data, { headers: h });
  await withDeadline(bus.flush(), timeoutMs, 'the bus did not answer a flush');
  return { stream: null, seq: null, duplicate: false };
}

function isPermissionViolation(err: unknown): boolean {
  for (let e = err as { cause?: unknown } | undefined; e; e = e.cause as typeof e) if (e instanceof PermissionViolationError) return true;
  return false;
}

/** What nats.js says when no stream captures a subject: nobody answers the publish. */
function isNoStream(err: unknown): boolean {
  for (let e = err as { cause?: unknown; name?: string; message?: string } | undefined; e; e = e.cause as typeof e) {
    if (e.name === 'NoRespondersError' || /no responders|jetstream is not enabled/i.test(e.message ?? '')) return true;
  }
  return false;
}
