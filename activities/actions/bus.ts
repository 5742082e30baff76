/** Bus actions: apply_bus_acl, validate_bus_acl and publish_event. */
import { headers as natsHeaders, PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import { jetstream } from '@nats-io/jetstream';
import { busReadiness, reloadBus } from '../../kernels/message-bus/readiness';
import { renderBus } from '../../kernels/message-bus/render';
import { ensureStreams } from '../../kernels/message-bus/streams';
import { loadPolicy, policyFileOf } from '../../kernels/message-bus/policy';
import { analyseViolations } from '../../kernels/message-bus/violations';
import { action, ActionErrorType, failure, idempotencyKey, type ActionDeps, type ActionGroup, type ActionMeta, type ActionOutputs, type ActionParams } from './shared';

/** Header names on events published by publish_event. */
export const EVENT_HEADERS = { workflow: 'Layer1-Workflow', run: 'Layer1-Run', step: 'Layer1-Step', playbook: 'Layer1-Playbook' } as const;

export function busActions({ config, bus, pm }: ActionDeps): ActionGroup<'apply_bus_acl' | 'validate_bus_acl' | 'publish_event'> {
  return {
    apply_bus_acl: action('apply_bus_acl', async () => {
      const rendered = renderBus(config);
      // Reload even when nothing changed: an attempt that rendered and then crashed before the
      // reload leaves `changed: false` for the retry, and reloading an unchanged config is harmless.
      const { configLoadTime } = await reloadBus(config, { render: false, pm });
      // The policy also names the streams and consumers (a deleted consumer comes back here).
      const report = await ensureStreams(config);
      const ensured = [
        ...report.streams.filter((x) => x.action !== 'unchanged').map((x) => x.stream),
        ...report.consumers.filter((x) => x.action !== 'unchanged').map((x) => `${x.stream}/${x.consumer}`),
      ];
      return { changed: rendered.changed, hash: rendered.hash, configLoadTime, ensured };
    }),

    validate_bus_acl: action('validate_bus_acl', async ({ analyseLog, logKb, require }) => {
      // Read-only but for probes on probe subjects, which the self-test cleans up after itself.
      const checks = await busReadiness(config);
      const acl = checks.find((c) => c.name === 'acl_loaded');
      const { ok, detail } = acl ? { ok: acl.ok, detail: acl.detail } : { ok: false, detail: 'the bus self-test has no acl_loaded check' };
      if (require && !ok) throw failure(ActionErrorType.ACL_INVALID, `the bus ACL does not behave as the policy says: ${detail}`, { detail }, false);
      if (!analyseLog) return { ok, detail, violations: [], verdict: 'not_analysed' as const };
      const violations = analyseViolations(pm.logPath('bus'), loadPolicy(policyFileOf(config)), logKb * 1024);
      const verdict = violations.length === 0 ? 'none' : violations.some((v) => v.allowedByPolicy) ? 'acl_drift' : 'policy_enforced';
      return { ok, detail, violations, verdict };
    }),

    publish_event: action('publish_event', (params, meta) => publishEvent(bus, params, meta)),
  };
}

async function publishEvent(bus: NatsConnection, { subject, payload }: ActionParams['publish_event'], meta: ActionMeta): Promise<ActionOutputs['publish_event']> {
  const h = natsHeaders();
  h.set(EVENT_HEADERS.workflow, meta.workflowId);
  h.set(EVENT_HEADERS.run, meta.runId);
  h.set(EVENT_HEADERS.step, meta.stepId);
  h.set(EVENT_HEADERS.playbook, meta.playbook);
  const data = JSON.stringify(payload);
  try {
    // Idempotent: the message id is the run and step, so JetStream drops a retried publish as
    // a duplicate (within the stream's duplicate window) and answers with the first one's seq.
    const ack = await jetstream(bus).publish(subject, data, { msgID: idempotencyKey(meta), headers: h, timeout: 5_000 });
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  } catch (err) {
    if (isPermissionViolation(err)) {
      throw failure(ActionErrorType.PUBLISH_REFUSED, `the bus refused a publish to ${subject}: ${(err as Error).message}`, { subject });
    }
    if (!isNoStream(err)) throw err;
  }
  // No stream captures the subject: a plain publish, which a retry may repeat (core NATS has no ids).
  bus.publish(subject, data, { headers: h });
  await bus.flush();
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
