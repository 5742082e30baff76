/**
 * The ACL policy of the message bus, defined once with zod: who may publish and subscribe where,
 * which subjects belong to one user only, and which JetStream streams and durable consumers must
 * exist. Loaded from YAML; every problem is reported at once as FILE:LINE:COL, like the config.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { ConfigError, findKeyNode, position, type ConfigProblem, type LoadedConfig } from '../../src/config/load';
import { REPO_ROOT } from '../../src/stack/tools';
import { KERNEL_MANIFESTS } from '../manifests';

/** The policy shipped with Layer 1, used unless `kernels.message_bus.aclPolicy` names another. */
export const DEFAULT_POLICY_FILE = path.join(REPO_ROOT, 'kernels', 'message-bus', 'acl-policy.yaml');

/**
 * True for a valid NATS subject or subject pattern: dot-separated non-empty tokens without
 * whitespace, where `*` and `>` stand alone as tokens and `>` comes last.
 */
export function isValidSubject(subject: string): boolean {
  const tokens = subject.split('.');
  return tokens.every(
    (t, i) =>
      t.length > 0 &&
      !/\s/.test(t) &&
      (t === '*' || t === '>' || !/[*>]/.test(t)) &&
      (t !== '>' || i === tokens.length - 1),
  );
}

/**
 * True when every subject `inner` can match is also matched by `outer` (both patterns), so a
 * rule about `outer` necessarily covers `inner`.
 */
export function subjectCovers(outer: string, inner: string): boolean {
  const o = outer.split('.');
  const n = inner.split('.');
  for (let i = 0; i < o.length; i++) {
    if (o[i] === '>') return i < n.length;
    if (i >= n.length) return false;
    if (n[i] === '>') return false;
    if (o[i] !== '*' && (n[i] === '*' || o[i] !== n[i])) return false;
  }
  return o.length === n.length;
}

const subject = z.string().refine(isValidSubject, {
  error: (issue) => `"${String(issue.input)}" is not a valid NATS subject (dot-separated tokens; * and > whole tokens, > last)`,
});
const identifier = z.string().regex(/^[a-z][a-z0-9_]*$/, 'expected a lower-case identifier such as self_healing');
const jetstreamName = z.string().regex(/^[A-Za-z0-9_-]+$/, 'expected letters, digits, - and _ only (a JetStream name)');
const duration = z.string().regex(/^\d+(ms|s|m|h|d)$/, 'expected a duration such as 30s, 5m, 7d');

export const PermissionSchema = z.strictObject({
  allow: z.array(subject).default([]).describe('Subjects (patterns) this user may use'),
  deny: z.array(subject).default([]).describe('Subjects refused even when an allow pattern matches them'),
});

export const BusUserSchema = z.strictObject({
  description: z.string().min(1).describe('Who connects as this user, in the domain’s words'),
  publish: PermissionSchema.prefault({}),
  subscribe: PermissionSchema.prefault({}),
  allowResponses: z
    .boolean()
    .default(false)
    .describe('May reply to requests it received (publish to their reply subjects only)'),
});

export const ConsumerSchema = z.strictObject({
  description: z.string().min(1),
  user: identifier.describe('The user that consumes it; it is granted exactly the API subjects a pull needs'),
  filterSubjects: z.array(subject).optional().describe('Only these subjects of the stream (default: all)'),
  ackWait: duration.default('30s'),
  maxDeliver: z.number().int().min(1).default(5),
  deliver: z
    .enum(['new', 'all'])
    .default('new')
    .describe('Where a newly created consumer starts: new messages only (a re-created trigger consumer must not replay old triggers), or all retained'),
  mustBeLive: z
    .boolean()
    .default(true)
    .describe('Readiness requires an outstanding pull on it (num_waiting > 0), i.e. a running consumer'),
});

export const StreamSchema = z.strictObject({
  description: z.string().min(1),
  subjects: z.array(subject).min(1),
  storage: z.enum(['file', 'memory']).default('file'),
  maxAge: duration.default('7d'),
  maxBytes: z.number().int().min(-1).default(-1).describe('-1 for unlimited'),
  consumers: z.record(jetstreamName, ConsumerSchema).default({}),
});

export const ExclusivePublishSchema = z.strictObject({
  subjects: z.array(subject).min(1),
  users: z.array(identifier).min(1).describe('The only users that may publish to these subjects'),
});

/** Users readiness itself connects as; a policy without them could never pass its self-test. */
export const REQUIRED_USERS = ['operator', 'probe'] as const;

export const BusPolicySchema = z
  .strictObject({
    version: z.literal(1),
    exclusivePublish: z
      .array(ExclusivePublishSchema)
      .default([])
      .describe('Subjects only the named users may publish to; every other user gets them denied'),
    users: z.record(identifier, BusUserSchema),
    streams: z.record(jetstreamName, StreamSchema).default({}),
  })
  .superRefine((policy, ctx) => {
    const users = new Set(Object.keys(policy.users));
    for (const name of REQUIRED_USERS) {
      if (!users.has(name)) ctx.addIssue({ code: 'custom', path: ['users'], message: `user "${name}" is required (readiness connects as it)` });
    }

    policy.exclusivePublish.forEach((rule, i) => {
      rule.users.forEach((u, j) => {
        if (!users.has(u)) ctx.addIssue({ code: 'custom', path: ['exclusivePublish', i, 'users', j], message: `unknown user "${u}"` });
      });
      for (const [name, user] of Object.entries(policy.users)) {
        if (rule.users.includes(name)) continue;
        user.publish.allow.forEach((s, k) => {
          const owned = rule.subjects.find((x) => subjectCovers(x, s));
          if (owned) {
            ctx.addIssue({
              code: 'custom',
              path: ['users', name, 'publish', 'allow', k],
              message: `"${s}" is reserved for ${rule.users.join(', ')} by exclusivePublish (${owned})`,
            });
          }
        });
      }
    });
    for (const [streamName, stream] of Object.entries(policy.streams)) {
      for (const [consumerName, consumer] of Object.entries(stream.consumers)) {
        if (!users.has(consumer.user)) {
          ctx.addIssue({ code: 'custom', path: ['streams', streamName, 'consumers', consumerName, 'user'], message: `unknown user "${consumer.user}"` });
        }
        consumer.filterSubjects?.forEach((f, k) => {
          if (!stream.subjects.some((s) => subjectCovers(s, f))) {
            ctx.addIssue({
              code: 'custom',
              path: ['streams', streamName, 'consumers', consumerName, 'filterSubjects', k],
              message: `"${f}" is outside the stream's subjects (${stream.subjects.join(', ')})`,
            });
          }
        });
      }
    }
  });

const DURATION_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of a policy duration such as `30s` or `7d` (already validated by the schema). */
export function durationMs(d: string): number {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(d);
  if (!m) throw new RangeError(`not a duration: ${d}`);
  return Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS];
}

export type BusPolicy = z.output<typeof BusPolicySchema>;
export type BusUser = z.output<typeof BusUserSchema>;
export type BusStream = z.output<typeof StreamSchema>;
export type BusConsumer = z.output<typeof ConsumerSchema>;

/** The policy file a configuration uses: `kernels.message_bus.aclPolicy` (relative to the config file), else the default. */
export function policyFileOf(config: Pick<LoadedConfig, 'kernels' | 'rootDir'>): string {
  const settings = config.kernels.message_bus;
  const override =
    typeof settings === 'object' && settings !== null ? (settings as Record<string, unknown>).aclPolicy : undefined;
  return typeof override === 'string' && override !== '' ? path.resolve(config.rootDir, override) : DEFAULT_POLICY_FILE;
}

/** Reads and validates a policy file. Throws {@link ConfigError} listing every problem. */
export function loadPolicy(file: string = DEFAULT_POLICY_FILE): BusPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', file, message: `cannot read the ACL policy: ${(err as Error).message}` }]);
  }
  return parsePolicy(text, file);
}

/** Validates policy YAML text; `file` is only used in the problems' positions. */
export function parsePolicy(text: string, file: string): BusPolicy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntax: ConfigProblem[] = [...doc.errors, ...doc.warnings].map((err) => {
    const pos = lineCounter.linePos(err.pos[0]);
    // A repeated key under `users` is a duplicate user; say so in the policy's words.
    const message =
      err.code === 'DUPLICATE_KEY' ? `duplicate key ${duplicateKeyName(text, err.pos[0])}(each user, stream and consumer is defined once)` : err.message.split('\n')[0];
    return { path: '', file, line: pos.line, col: pos.col, message };
  });
  if (syntax.length > 0) throw new ConfigError(file, syntax);

  const result = BusPolicySchema.safeParse(doc.toJS() ?? {});
  if (result.success) return withKernelUsers(result.data);
  throw new ConfigError(file, zodIssuesAt(result.error, doc, lineCounter, file));
}

/**
 * Each kernel's processes connect as the user its manifest names (kernels/manifests.ts). A kernel
 * the policy does not list gets the least privilege a kernel needs, derived from its name: its own
 * subjects (`layer1.<kernel>.>`, `layer1.events.<kernel>.>`), telemetry, and listening to control
 * messages. A policy that lists the user decides for itself.
 */
export function withKernelUsers(policy: BusPolicy): BusPolicy {
  const users = { ...policy.users };
  for (const m of KERNEL_MANIFESTS) {
    if (!m.busUser || users[m.busUser]) continue;
    users[m.busUser] = {
      description: `the ${m.name} kernel (derived from its manifest: the policy lists no such user)`,
      publish: { allow: [`layer1.${m.name}.>`, `layer1.events.${m.name}.>`, 'telemetry.layer1.>'], deny: [] },
      subscribe: { allow: [`layer1.${m.name}.>`, 'system.control', 'system.control.>'], deny: [] },
      allowResponses: true,
    };
  }
  return { ...policy, users };
}

function duplicateKeyName(text: string, offset: number): string {
  const m = /^[\w$.-]+/.exec(text.slice(offset));
  return m ? `"${m[0]}" ` : '';
}

/** Maps zod issues to positions in the YAML document: the key for unknown keys, else the value. */
function zodIssuesAt(error: z.ZodError, doc: Document, lineCounter: LineCounter, file: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    const segments = issue.path.map((s) => (typeof s === 'symbol' ? String(s) : s));
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ path: [...segments, key].join('.'), file, ...position(findKeyNode(doc, segments, key), lineCounter), message: `unknown key "${key}"` });
      }
      continue;
    }
    // A record key that fails its own schema (a bad user name) is reported at the key.
    const node =
      issue.code === 'invalid_key'
        ? findKeyNode(doc, segments.slice(0, -1), String(segments.at(-1)))
        : ((doc.getIn(segments, true) as Node | undefined) ?? findKeyNode(doc, segments.slice(0, -1), String(segments.at(-1))));
    problems.push({ path: segments.join('.'), file, ...position(node, lineCounter), message: issue.message });
  }
  return problems;
}

