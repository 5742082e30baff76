/**
 * The rules the running bus ENFORCES, user by user, read by real publishes — not the rules the
 * file on disk says. nats.conf can match the policy while nats-server still enforces an older load
 * (a hand edit reloaded, then the file put back without a reload): only a publish shows that.
 *
 * For every user of the policy: one publish per pattern of its policy allow list (a literal
 * instance of it) must be delivered to a subscriber and not refused, and one publish to a subject
 * the policy forbids it must be refused by the server with a permissions violation. Probe
 * connections are named `layer1-acl-probe-<user>`, so the refusals they provoke on purpose are not
 * taken for violations (see `isEnforcementProbe` in violations.ts), and probe messages carry the
 * `Layer1-Probe` header; a probe that a stream stored is deleted again.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { headers, PermissionViolationError, type NatsConnection, type Subscription } from '@nats-io/nats-core';
import { jetstreamManager } from '@nats-io/jetstream';
import type { LoadedConfig } from '../../src/config/load';
import { connectBus } from '../../src/clients/bus';
import { loadPolicy, policyFileOf, subjectCovers, type BusPolicy } from './policy';
import { renderBusText, renderedFileOf } from './render';
import { PROBE_HEADER } from './triggers';
import { ENFORCEMENT_PROBE_PREFIX, policyAllows } from './violations';

export interface PublishProbe {
  subject: string;
  /** The pattern of the policy it instantiates (allowed probes), or why it is forbidden. */
  rule: string;
  outcome: 'delivered' | 'refused' | 'lost';
}

export interface UserEnforcement {
  user: string;
  ok: boolean;
  allowed: PublishProbe[];
  forbidden: PublishProbe | null;
  problems: string[];
}

export interface EnforcementReport {
  ok: boolean;
  users: UserEnforcement[];
  /** One line: what failed, or how many publishes behaved as the policy says. */
  detail: string;
}

/** How often an allowed probe not yet delivered is sent again (see checkUser). */
const RESEND_MS = 250;

/** A literal subject a pattern matches: `*` → `probe`, `>` → `probe.<unique>` (unique per call). */
export function literalInstance(pattern: string, unique: string): string {
  return pattern
    .split('.')
    .map((t) => (t === '*' ? 'probe' : t === '>' ? `probe.${unique}` : t))
    .join('.');
}

/** The subjects to probe for `user`: an allowed one per policy allow pattern, and a forbidden one. */
export function probePlan(policy: BusPolicy, user: string, unique: string): { allowed: Array<{ subject: string; rule: string }>; forbidden: { subject: string; rule: string } | null } {
  const allowed: Array<{ subject: string; rule: string }> = [];
  for (const pattern of policy.users[user].publish.allow) {
    const subject = literalInstance(pattern, unique);
    if (policyAllows(policy, { op: 'publish', user, subject })) allowed.push({ subject, rule: pattern });
  }
  // A forbidden subject: another user's exclusive subject first (what the policy most cares about),
  // then another user's allowed subject, then one nobody may publish.
  const candidates: Array<{ subject: string; rule: string }> = [];
  for (const rule of policy.exclusivePublish) {
    if (rule.users.includes(user)) continue;
    for (const s of rule.subjects) candidates.push({ subject: literalInstance(s, unique), rule: `exclusive to ${rule.users.join(', ')}` });
  }
  for (const [other, u] of Object.entries(policy.users)) {
    if (other === user) continue;
    for (const s of u.publish.allow) candidates.push({ subject: literalInstance(s, unique), rule: `${other}'s, not in ${user}'s allow list` });
  }
  candidates.push({ subject: `layer1.acl-probe.nobody.${unique}`, rule: 'in nobody’s allow list' });
  const forbidden = candidates.find((c) => !policyAllows(policy, { op: 'publish', user, subject: c.subject })) ?? null;
  return { allowed, forbidden };
}

/**
 * Publishes as every user of the policy (or `options.users`) and reports, per user, whether the bus
 * enforces what the policy says. Never throws for a misbehaving bus: that is what the report says.
 * @throws when the operator cannot connect (nothing could be checked)
 */
export async function checkEnforcedRules(
  config: LoadedConfig,
  options: { policy?: BusPolicy; users?: string[]; timeoutMs?: number } = {},
): Promise<EnforcementReport> {
  const policy = options.policy ?? loadPolicy(policyFileOf(config));
  const timeoutMs = options.timeoutMs ?? 3_000;
  const users = options.users ?? Object.keys(policy.users);
  const operator = await connectBus(config, { name: `${ENFORCEMENT_PROBE_PREFIX}operator-watch`, timeoutMs });
  try {
    const results = await Promise.all(users.map((u) => checkUser(config, operator, policy, u, timeoutMs)));
    const bad = results.filter((r) => !r.ok);
    const publishes = results.reduce((n, r) => n + r.allowed.length + (r.forbidden ? 1 : 0), 0);
    return {
      ok: bad.length === 0,
      users: results,
      detail:
        bad.length === 0
          ? `every user's rules enforced as the policy says (${results.length} users, ${publishes} publishes)`
          : bad.map((r) => `${r.user}: ${r.problems.join('; ')}`).join(' | '),
    };
  } finally {
    await operator.close().catch(() => undefined);
  }
}

async function checkUser(config: LoadedConfig, operator: NatsConnection, policy: BusPolicy, user: string, timeoutMs: number): Promise<UserEnforcement> {
  const unique = randomUUID();
  const plan = probePlan(policy, user, unique);
  const problems: string[] = [];
  let nc: NatsConnection;
  try {
    nc = await connectBus(config, { user, name: `${ENFORCEMENT_PROBE_PREFIX}${user}`, timeoutMs });
  } catch (err) {
    return { user, ok: false, allowed: [], forbidden: null, problems: [`could not connect as ${user}: ${(err as Error).message}`] };
  }
  const refused = new Set<string>();
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'error' && s.error instanceof PermissionViolationError && s.error.operation === 'publish') refused.add(s.error.subject);
    }
  })().catch(() => undefined);
  const delivered = new Set<string>();
  const subs: Subscription[] = [];
  const all = [...plan.allowed, ...(plan.forbidden ? [plan.forbidden] : [])];
  const mark = `enforcement:${user}`;
  try {
    // Watched as operator, so an accepted publish is seen delivered, not inferred.
    for (const p of all) {
      const sub = operator.subscribe(p.subject);
      subs.push(sub);
      void (async () => {
        // Users are checked at once and some share a subject (system.control): the header says whose.
        for await (const m of sub) if (m.headers?.get(PROBE_HEADER) === mark) delivered.add(p.subject);
      })().catch(() => undefined);
    }
    await operator.flush();
    const publish = (p: { subject: string }): void => {
      const h = headers();
      h.set(PROBE_HEADER, mark);
      // A stream that captures the subject stores a re-sent probe once (deduplicated by this id).
      h.set('Nats-Msg-Id', `${mark}:${p.subject}:${unique}`);
      nc.publish(p.subject, `acl probe as ${user}`, { headers: h });
    };
    for (const p of all) publish(p);
    // The server handles a connection's protocol in order: a publish's -ERR precedes the flush's PONG.
    await nc.flush();
    const deadline = Date.now() + timeoutMs;
    const settled = (): boolean => all.every((p) => delivered.has(p.subject) || refused.has(p.subject));
    let sentAt = Date.now();
    while (!settled() && Date.now() < deadline) {
      await sleep(10);
      // On a cluster the operator's subscription reaches the node this user is connected to through
      // the routes, a moment after the operator's flush (longer while the nodes are busy, e.g.
      // checking bcrypt logins): an allowed publish that got there first found no interest and was
      // dropped. Sent again until delivered; a refusal does not depend on interest, so the forbidden
      // one is sent once.
      if (Date.now() - sentAt >= RESEND_MS) {
        for (const p of plan.allowed) if (!delivered.has(p.subject) && !refused.has(p.subject)) publish(p);
        sentAt = Date.now();
      }
    }
    // A forbidden publish that was accepted shows up as delivered; give a refusal a moment to arrive.
    if (plan.forbidden && !refused.has(plan.forbidden.subject)) await sleep(Math.min(200, timeoutMs));
  } finally {
    for (const s of subs) s.unsubscribe();
    await nc.close().catch(() => undefined);
  }
  const outcome = (s: string): PublishProbe['outcome'] => (refused.has(s) ? 'refused' : delivered.has(s) ? 'delivered' : 'lost');
  const allowed = plan.allowed.map((p) => ({ ...p, outcome: outcome(p.subject) }));
  for (const p of allowed) if (p.outcome !== 'delivered') problems.push(`allowed publish to ${p.subject} (${p.rule}) was ${p.outcome === 'refused' ? 'refused' : 'not delivered'}`);
  const forbidden = plan.forbidden ? { ...plan.forbidden, outcome: outcome(plan.forbidden.subject) } : null;
  if (!forbidden) problems.push('the policy forbids this user nothing to probe');
  else if (forbidden.outcome !== 'refused') problems.push(`forbidden publish to ${forbidden.subject} (${forbidden.rule}) was not refused (${forbidden.outcome})`);
  await deleteStoredProbes(operator, policy, all.map((p) => p.subject));
  return { user, ok: problems.length === 0, allowed, forbidden, problems };
}

/** Probes a stream captured are deleted (by subject: each is unique), so no consumer's pending grows. */
async function deleteStoredProbes(operator: NatsConnection, policy: BusPolicy, subjects: string[]): Promise<void> {
  const jsm = await jetstreamManager(operator, { checkAPI: false }).catch(() => null);
  if (!jsm) return;
  for (const subject of subjects) {
    for (const [stream, s] of Object.entries(policy.streams)) {
      if (!s.subjects.some((x) => subjectCovers(x, subject))) continue;
      // Idempotent: a probe already deleted (or never stored) is simply not found.
      const m = await jsm.streams.getMessage(stream, { last_by_subj: subject }).catch(() => null);
      if (m) await jsm.streams.deleteMessage(stream, m.seq, false).catch(() => undefined);
    }
  }
}

/**
 * Whether the rendered file on disk (nats.conf; an external bus's authorization.conf) is what the
 * policy renders now; not ok when there is nothing to compare yet. On an external bus this says
 * only that the local render is current: what the cluster loaded is {@link checkEnforcedRules}'s.
 */
export function configMatchesPolicy(config: LoadedConfig): { ok: boolean; detail: string } {
  const file = renderedFileOf(config);
  const expected = renderBusText(config);
  if (expected === null) return { ok: false, detail: `the bus has not been rendered yet (no credentials; ${config.bus.embedded ? 'run `layer1 up`' : 'run `layer1 bus render-acl`'})` };
  let onDisk: string;
  try {
    onDisk = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, detail: `${file} is not readable: ${(err as Error).message}` };
  }
  return onDisk === expected ? { ok: true, detail: `${file} is the policy's render` } : { ok: false, detail: `${file} differs from what the ACL policy renders` };
}
