/**
 * ACL violations as the bus itself records them. nats-server logs every publish or subscribe its
 * permissions refuse, e.g.
 *   [ERR] 127.0.0.1:58654 - cid:37 - "v3.4.0:nats.js:x" - "$G/user:immutable_log" - Publish Violation - Subject "system.control"
 * The violation detector reads new lines as they come; the message_bus_acl_violation_fix playbook
 * (validate_bus_acl with analyseLog) reads the recent ones and says, for each, whether the policy
 * allows what was refused — then the rendered ACL has drifted from the policy and re-rendering it
 * is the fix — or forbids it — then the ACL did its job and the kernel that tried is at fault.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { subjectCovers, type BusPolicy } from './policy';
import { effectivePermissions } from './render';

export interface Violation {
  op: 'publish' | 'subscribe';
  user: string;
  subject: string;
  line: string;
}

// nats-server 2.10+: `"$G/user:NAME" - Publish Violation - Subject "S"`; older servers wrote
// `Publish Violation - User "NAME", Subject "S"`. Both are read.
const VIOLATION_2_10 = /"[^"/]*\/user:([^"]+)" - (Publish|Subscription) Violation - Subject "([^"]*)"/;
const VIOLATION_OLD = /(Publish|Subscription) Violation - (?:User|Account) "([^"]*)".*?Subject "([^"]*)"/;

/**
 * The ACL user of the bus's own readiness self-test: its `acl_loaded` check publishes to
 * system.control on purpose to see it refused. Those refusals are the ACL working, not evidence.
 */
export const PROBE_USER = 'probe';

/**
 * The connection-name prefix of the per-user enforcement check (enforcement.ts): it publishes as
 * each kernel user where the policy forbids it, on purpose, to see the bus refuse it. nats-server
 * writes the client's name in the violation line (`"v3.4.0:nats.js:<name>"`), so those refusals
 * are told apart from a kernel's own and never become evidence.
 */
export const ENFORCEMENT_PROBE_PREFIX = 'layer1-acl-probe-';

/** Whether a violation line was provoked by the enforcement check (its connection's name says so). */
export function isEnforcementProbe(line: string): boolean {
  return line.includes(`:${ENFORCEMENT_PROBE_PREFIX}`);
}

/** Parses one line of nats-server's log; null for lines that are not a permission violation. */
export function parseViolation(line: string): Violation | null {
  const m = VIOLATION_2_10.exec(line);
  if (m) return { op: m[2] === 'Publish' ? 'publish' : 'subscribe', user: m[1], subject: m[3], line: line.trim() };
  const o = VIOLATION_OLD.exec(line);
  if (!o) return null;
  return { op: o[1] === 'Publish' ? 'publish' : 'subscribe', user: o[2], subject: o[3], line: line.trim() };
}

/** Whether the policy lets `user` do `op` on `subject` (its allow lists cover it and no deny does). */
export function policyAllows(policy: BusPolicy, v: Pick<Violation, 'op' | 'user' | 'subject'>): boolean {
  if (!policy.users[v.user]) return false;
  const p = effectivePermissions(policy, v.user);
  const rules = v.op === 'publish' ? p.publish : p.subscribe;
  return rules.allow.some((a) => subjectCovers(a, v.subject)) && !rules.deny.some((d) => subjectCovers(d, v.subject) || subjectCovers(v.subject, d));
}

export interface ViolationSummary {
  user: string;
  subject: string;
  op: 'publish' | 'subscribe';
  count: number;
  /** True: the policy allows it, so the bus refused it only because its rendered ACL drifted. */
  allowedByPolicy: boolean;
  lastLine: string;
}

/** The violations in the last `maxBytes` of the bus log, grouped by user, operation and subject. */
export function analyseViolations(logFile: string, policy: BusPolicy, maxBytes = 1024 * 1024): ViolationSummary[] {
  let text = '';
  try {
    const fd = openSync(logFile, 'r');
    try {
      const size = fstatSync(fd).size;
      const from = Math.max(0, size - maxBytes);
      const buf = Buffer.alloc(size - from);
      readSync(fd, buf, 0, buf.length, from);
      text = buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
  const groups = new Map<string, ViolationSummary>();
  for (const line of text.split('\n')) {
    const v = parseViolation(line);
    if (!v || v.user === PROBE_USER || isEnforcementProbe(line)) continue;
    const key = `${v.user}\u0000${v.op}\u0000${v.subject}`;
    const g = groups.get(key);
    if (g) {
      g.count++;
      g.lastLine = v.line;
    } else groups.set(key, { user: v.user, subject: v.subject, op: v.op, count: 1, allowedByPolicy: policyAllows(policy, v), lastLine: v.line });
  }
  return [...groups.values()];
}
