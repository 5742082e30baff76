/**
 * The playbook format, defined once: the zod schema of a playbook file as written (YAML keys in
 * snake_case), the JSON Schema generated from it for editors, and the normalized {@link Playbook}
 * the loader produces and the `playbook` workflow receives as input (camelCase, durations in ms,
 * every default filled in, JSON-serialisable).
 *
 * The zod schema checks shape only. What needs the whole playbook — actions' parameters, template
 * references, duplicate ids — is checked by the loader (loader.ts).
 */
import { z } from 'zod';
import { KERNEL_NAMES, type KernelName } from '../domain/kernels';
import { ACTION_NAMES, ACTIONS, type ActionName, type ActionSpec } from './actions';
import { EVIDENCE_KIND_NAMES } from '../healing/evidence';

// ---------------------------------------------------------------------------------------------
// The normalized form: what the loader returns and the workflow runs.

/** The types a playbook parameter may declare. */
export const PARAMETER_TYPES = ['string', 'integer', 'number', 'boolean', 'string[]'] as const;
export type ParameterType = (typeof PARAMETER_TYPES)[number];
/** A typed parameter value. */
export type ParameterValue = string | number | boolean | string[];

export interface PlaybookParameter {
  type: ParameterType;
  /** Used when the run does not give a value; `null` when there is none (then `required` is true). */
  default: ParameterValue | null;
  /** True when there is no default: the run must give a value. */
  required: boolean;
  /** @default '' */
  description: string;
}

/** What starts a playbook automatically (a later issue dispatches on it). */
export interface PlaybookTrigger {
  /** The kernel whose evidence starts it; `any`: evidence about any kernel or managed process. */
  kernel: KernelName | 'any';
  /**
   * Evidence kinds (src/healing/evidence.ts `EVIDENCE_KINDS`, e.g. `exited`, `acl_violation`), or
   * `manual` for a playbook that is only run by hand.
   */
  events: string[];
  /** Glob patterns (`*`, `?`) over error-signature ids; empty means any. @default [] */
  signatures: string[];
}

export interface StepRetry {
  /** Total attempts including the first. @default 3 */
  attempts: number;
  /** Initial delay between attempts, doubling each time. @default 1000 */
  backoffMs: number;
  /** Failure types never retried (`ApplicationFailure` types). @default [] */
  nonRetryable: string[];
}

/** An action that undoes a completed step; its `with` may read the step's own output. */
export interface StepCompensation {
  action: ActionName;
  /** Raw parameters: templates unresolved. */
  with: Record<string, unknown>;
}

/** A gate before the step: the run waits for an approve or reject update. */
export interface StepApproval {
  /** How long to wait for a decision. @default 3_600_000 (1h) */
  timeoutMs: number;
  /** The decision taken when nobody decides in time. @default 'reject' */
  default: 'approve' | 'reject';
  /** Shown to the approver; may hold templates (resolved like `with`). */
  prompt: string;
}

export type OnFailure = 'continue' | 'abort' | 'compensate';

export interface PlaybookStep {
  /** Unique in the playbook. */
  id: string;
  action: ActionName;
  /**
   * The action's parameters as written, templates unresolved: the workflow resolves them with
   * `resolveValue(step.with, { params, steps, run })` from template.ts just before the call.
   */
  with: Record<string, unknown>;
  /** The name later steps read this step's output under (`steps.NAME`); `null` when none. */
  output: string | null;
  /** A condition (template.ts `evalCondition`); the step is skipped when false. `null`: always runs. */
  when: string | null;
  /** Activity start-to-close timeout. @default per action ({@link DEFAULT_STEP_TIMEOUT_MS}), else 60_000 */
  timeoutMs: number;
  retry: StepRetry;
  /**
   * What a failure of this step (after its retries) does: `continue` goes on with the next step;
   * `abort` stops the run, failed; `compensate` stops it and runs the compensations of the
   * completed steps in reverse. @default 'abort'
   */
  onFailure: OnFailure;
  compensate: StepCompensation | null;
  /** Checked after `when` and before the action runs; `null`: no gate. */
  approval: StepApproval | null;
}

/** A validated playbook: JSON-serialisable, passed to the `playbook` workflow as its input. */
export interface Playbook {
  name: string;
  /** @default '' */
  description: string;
  /** The file it came from, as given to the loader. */
  file: string;
  trigger: PlaybookTrigger;
  /** By name, in the order written. */
  parameters: Record<string, PlaybookParameter>;
  /**
   * With a run of this kernel already going: `wait` for it, or `refuse` to start; `bypass` takes no
   * lock at all, for an emergency playbook whose job is to unblock a kernel that the lock holder may
   * itself be waiting on (control_plane_deadlock). @default 'wait'
   */
  concurrency: 'wait' | 'refuse' | 'bypass';
  steps: PlaybookStep[];
}

// ---------------------------------------------------------------------------------------------
// Defaults.

export const DEFAULT_TIMEOUT_MS = 60_000;
/** Step timeouts for actions that take longer than {@link DEFAULT_TIMEOUT_MS} by nature. */
export const DEFAULT_STEP_TIMEOUT_MS: Partial<Record<ActionName, number>> = {
  restart_kernel: 120_000,
  set_kernel_state: 120_000,
  // Longer than the largest readiness wait the action accepts (timeoutMs ≤ 600_000).
  wait_kernel_ready: 660_000,
  drain_queue: 600_000,
  purge_queue: 600_000,
  verify_log_chain: 600_000,
  rebuild_log_index: 600_000,
  archive_log_segments: 600_000,
  run_verification: 1_800_000,
};
export const DEFAULT_RETRY: StepRetry = { attempts: 3, backoffMs: 1_000, nonRetryable: [] };
export const DEFAULT_APPROVAL_TIMEOUT_MS = 3_600_000;

// ---------------------------------------------------------------------------------------------
// The schema of a playbook file as written.

export const IDENTIFIER = /^[a-z][a-z0-9_]*$/;
const identifier = (what: string) =>
  z.string().regex(IDENTIFIER, `${what} must be lower case letters, digits and "_", starting with a letter`);

const DURATION = /^(\d+(ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `1m30s` → 90_000. Units: ms, s, m, h. @throws Error when malformed */
export function parseDuration(text: string): number {
  if (!DURATION.test(text)) throw new Error(`malformed duration "${text}"`);
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h)/g)) ms += Number(n) * UNIT_MS[unit];
  return ms;
}

const duration = z
  .string()
  .regex(DURATION, 'expected a duration such as 500ms, 30s, 10m, 1h or 1m30s')
  .refine((d) => !DURATION.test(d) || parseDuration(d) > 0, 'a duration must be more than 0');

const actionName = z.enum(ACTION_NAMES as [ActionName, ...ActionName[]], {
  error: (issue) => (issue.input === undefined ? undefined : `unknown action ${JSON.stringify(issue.input)}${suggest(issue.input, ACTION_NAMES)}`),
});
const actionParams = z.record(z.string(), z.unknown());

/** True when `value` has the parameter type `type`. */
export function hasParameterType(value: unknown, type: ParameterType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isSafeInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'string[]':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
  }
}

const ParameterSchema = z
  .strictObject({
    type: z.enum(PARAMETER_TYPES),
    default: z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]).optional(),
    description: z.string().optional(),
  })
  .superRefine((p, ctx) => {
    if (p.default !== undefined && !hasParameterType(p.default, p.type)) {
      ctx.addIssue({ code: 'custom', path: ['default'], message: `default ${JSON.stringify(p.default)} is not of type ${p.type}` });
    }
  });

/** Trigger event kinds: the evidence kinds detectors report, and `manual`. */
export const TRIGGER_EVENTS = [...EVIDENCE_KIND_NAMES, 'manual'] as const;

export const TriggerSchema = z.strictObject({
  kernel: z.enum([...KERNEL_NAMES, 'any']),
  events: z
    .array(
      z.enum(TRIGGER_EVENTS as unknown as [string, ...string[]], {
        error: (issue) =>
          issue.input === undefined ? undefined : `unknown event kind ${JSON.stringify(issue.input)}${suggest(issue.input, TRIGGER_EVENTS)}; expected one of ${TRIGGER_EVENTS.join(', ')}`,
      }),
    )
    .min(1, 'a trigger needs at least one event kind'),
  signatures: z.array(z.string().min(1)).optional(),
});

export const StepSchema = z.strictObject({
  id: identifier('a step id'),
  action: actionName,
  with: actionParams.optional(),
  output: identifier('an output name').optional(),
  when: z.string().min(1).optional(),
  timeout: duration.optional(),
  retry: z
    .strictObject({
      attempts: z.number().int().min(1).max(100).optional(),
      backoff: duration.optional(),
      non_retryable: z.array(z.string().min(1)).optional(),
    })
    .optional(),
  on_failure: z.enum(['continue', 'abort', 'compensate']).optional(),
  compensate: z.strictObject({ action: actionName, with: actionParams.optional() }).optional(),
  approval: z
    .strictObject({
      timeout: duration.optional(),
      default: z.enum(['approve', 'reject']).optional(),
      prompt: z.string().min(1).optional(),
    })
    .optional(),
});
export type StepSource = z.infer<typeof StepSchema>;

export const PlaybookSchema = z.strictObject({
  name: identifier('a playbook name'),
  description: z.string().optional(),
  trigger: TriggerSchema,
  parameters: z.record(identifier('a parameter name'), ParameterSchema).optional(),
  concurrency: z.enum(['wait', 'refuse', 'bypass']).optional(),
  steps: z.array(StepSchema).min(1, 'a playbook needs at least one step'),
});
export type PlaybookSource = z.infer<typeof PlaybookSchema>;

/** A playbook file: `playbooks:`, a list. */
export const PlaybookFileSchema = z.strictObject({ playbooks: z.array(PlaybookSchema) });

/** The normalized playbook from a validated source (the loader has checked everything else). */
export function normalizePlaybook(source: PlaybookSource, file: string): Playbook {
  const parameters: Record<string, PlaybookParameter> = {};
  for (const [name, p] of Object.entries(source.parameters ?? {})) {
    parameters[name] = { type: p.type, default: p.default ?? null, required: p.default === undefined, description: p.description ?? '' };
  }
  return {
    name: source.name,
    description: source.description ?? '',
    file,
    trigger: { kernel: source.trigger.kernel, events: source.trigger.events, signatures: source.trigger.signatures ?? [] },
    parameters,
    concurrency: source.concurrency ?? 'wait',
    steps: source.steps.map((s) => ({
      id: s.id,
      action: s.action,
      with: s.with ?? {},
      output: s.output ?? null,
      when: s.when ?? null,
      timeoutMs: s.timeout ? parseDuration(s.timeout) : (DEFAULT_STEP_TIMEOUT_MS[s.action] ?? DEFAULT_TIMEOUT_MS),
      retry: {
        attempts: s.retry?.attempts ?? DEFAULT_RETRY.attempts,
        backoffMs: s.retry?.backoff ? parseDuration(s.retry.backoff) : DEFAULT_RETRY.backoffMs,
        nonRetryable: s.retry?.non_retryable ?? [],
      },
      onFailure: s.on_failure ?? 'abort',
      compensate: s.compensate ? { action: s.compensate.action, with: s.compensate.with ?? {} } : null,
      approval: s.approval
        ? {
            timeoutMs: s.approval.timeout ? parseDuration(s.approval.timeout) : DEFAULT_APPROVAL_TIMEOUT_MS,
            default: s.approval.default ?? 'reject',
            prompt: s.approval.prompt ?? `Run step "${s.id}" (${s.action})?`,
          }
        : null,
    })),
  };
}

// ---------------------------------------------------------------------------------------------
// JSON Schema for editors.

/** Matches a string holding a template; any action parameter may be given one. */
const TEMPLATE_JSON = { type: 'string', pattern: '\\$\\{\\{' };

/** The `with` of one action: its parameter names, each its own type or a template. */
function actionWithJsonSchema(spec: ActionSpec): Record<string, unknown> {
  const params = z.toJSONSchema(spec.params, { io: 'input', target: 'draft-2020-12' }) as Record<string, any>;
  delete params.$schema;
  const properties: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries<Record<string, unknown>>(params.properties ?? {})) {
    const { description, default: def, ...type } = schema;
    properties[name] = { anyOf: [type, TEMPLATE_JSON], ...(description ? { description } : {}), ...(def !== undefined ? { default: def } : {}) };
  }
  return { ...params, properties };
}

/** Each action's `with`, applied to an object with `action` and `with` keys (a step or a compensation). */
function perAction(): Array<Record<string, unknown>> {
  return Object.values(ACTIONS).map((spec: ActionSpec) => ({
    if: { properties: { action: { const: spec.name } }, required: ['action'] },
    then: { properties: { with: { ...actionWithJsonSchema(spec), description: spec.description } } },
  }));
}

/**
 * The JSON Schema of a playbook file (draft 2020-12), generated from {@link PlaybookFileSchema}
 * and each action's parameter schema, so editors complete `with` per action. Written to
 * schema/playbook.schema.json by `npm run schema`.
 */
export function playbookJsonSchema(): Record<string, any> {
  const schema = z.toJSONSchema(PlaybookFileSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, any>;
  const step = schema.properties.playbooks.items.properties.steps.items;
  step.allOf = perAction();
  step.properties.compensate.allOf = perAction();
  schema.title = 'Layer 1 playbooks';
  schema.description = 'A file of Layer 1 playbooks (see docs/playbooks.md)';
  return schema;
}

// ---------------------------------------------------------------------------------------------
// Action descriptions, for `layer1 actions` and the docs.

export interface ActionParameterDescription {
  name: string;
  /** A compact type: `string`, `integer ≥ 100 ≤ 600000`, `"running" | "stopped"`, `string[]`, `object`. */
  type: string;
  /** `undefined` when there is none. */
  default?: unknown;
  required: boolean;
  description: string;
}

export interface ActionDescription {
  name: ActionName;
  description: string;
  risky: boolean;
  idempotency: string;
  params: ActionParameterDescription[];
  output: Array<{ name: string; type: string }>;
  /** The step timeout used when a step does not set one. */
  defaultTimeoutMs: number;
}

function describeJsonType(s: Record<string, any>): string {
  if (s.anyOf) return (s.anyOf as Array<Record<string, any>>).map(describeJsonType).join(' | ');
  if (s.enum) return (s.enum as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.type === 'array') return `${s.items ? describeJsonType(s.items) : 'unknown'}[]`;
  if (s.type === 'object') return 'object';
  if (s.type === 'integer' || s.type === 'number') {
    const bounds = [
      s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER ? `≥ ${s.minimum}` : '',
      s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER ? `≤ ${s.maximum}` : '',
    ].filter(Boolean);
    return [s.type, ...bounds].join(' ');
  }
  if (s.type === 'null') return 'null';
  if (Array.isArray(s.type)) return (s.type as string[]).join(' | ');
  return s.type ?? 'unknown';
}

/** One action's parameters (with type, default, required) and output fields. */
export function describeAction(spec: ActionSpec): ActionDescription {
  const params = z.toJSONSchema(spec.params, { io: 'input' }) as Record<string, any>;
  const output = z.toJSONSchema(spec.output, { io: 'output', unrepresentable: 'any' }) as Record<string, any>;
  return {
    name: spec.name as ActionName,
    description: spec.description,
    risky: spec.risky,
    idempotency: spec.idempotency,
    params: Object.entries<Record<string, any>>(params.properties ?? {}).map(([name, s]) => ({
      name,
      type: describeJsonType(s),
      ...(s.default !== undefined ? { default: s.default } : {}),
      required: !spec.params.shape[name].safeParse(undefined).success,
      description: s.description ?? '',
    })),
    output: Object.entries<Record<string, any>>(output.properties ?? {}).map(([name, s]) => ({ name, type: describeJsonType(s) })),
    defaultTimeoutMs: DEFAULT_STEP_TIMEOUT_MS[spec.name as ActionName] ?? DEFAULT_TIMEOUT_MS,
  };
}

/** All actions, in declaration order. */
export function describeActions(): ActionDescription[] {
  return Object.values(ACTIONS).map((spec: ActionSpec) => describeAction(spec));
}

// ---------------------------------------------------------------------------------------------

/** ` (did you mean "x"?)` when a known name is within two edits of `input`, else ''. */
export function suggest(input: unknown, known: readonly string[]): string {
  if (typeof input !== 'string') return '';
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(input, name);
    if (distance <= 2 && (!best || distance < best.distance)) best = { name, distance };
  }
  return best ? ` (did you mean "${best.name}"?)` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
