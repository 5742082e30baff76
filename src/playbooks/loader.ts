/**
 * Loads playbook files and validates them completely before anything runs: YAML syntax, the
 * shape (format.ts), each step's `with` against its action's zod parameters, every template
 * reference, conditions, duplicate ids and names. Every problem is reported at once, each with
 * file, line, column and path; a playbook with any problem is never returned.
 */
import { isMap, isScalar, LineCounter, parseDocument, Scalar, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { formatProblem, type ConfigProblem } from '../config/load';
import { ExitCode, UserError } from '../errors';
import { DEFAULT_PLAYBOOK_DIR } from './default-dir';
import { isMissing, isObject, readYamlSources, sortByPosition, yamlFiles } from '../config/yaml-files';
import { ACTIONS, isActionName, type ActionSpec } from './actions';
import {
  hasParameterType,
  normalizePlaybook,
  PARAMETER_TYPES,
  PlaybookSchema,
  suggest,
  type ParameterType,
  type ParameterValue,
  type Playbook,
} from './format';
import {
  formatReference,
  isTemplate,
  parseCondition,
  parseTemplate,
  referencesOf,
  RUN_FIELDS,
  TemplateError,
  type Expr,
  type Reference,
} from './template';

/** Where playbooks live unless told otherwise: `playbooks/` at the repository root. */
export { DEFAULT_PLAYBOOK_DIR };

/** One problem in a playbook file; printed as `FILE:LINE:COL: message → at path`. */
export interface PlaybookProblem extends ConfigProblem {
  /** The playbook it makes invalid (its name), or `null` for a problem with the file itself. */
  playbook: string | null;
}

/** What loading found: the valid playbooks and every problem. */
export interface LoadResult {
  /** Only playbooks without any problem, in file order. */
  playbooks: Playbook[];
  /** Every problem, sorted by file, line and column. */
  problems: PlaybookProblem[];
}

/** Playbooks that do not validate; carries every problem. Exit code 3, like an invalid config. */
export class PlaybookError extends UserError {
  override name = 'PlaybookError';
  constructor(readonly problems: PlaybookProblem[]) {
    super(`invalid playbooks:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`, ExitCode.CONFIG);
  }
}

/** `--param` values that do not fit the playbook's parameters. Exit code 2 (usage). */
export class RunParamsError extends UserError {
  override name = 'RunParamsError';
  constructor(
    readonly playbook: string,
    readonly problems: string[],
  ) {
    super(`invalid parameters for playbook ${playbook}:\n${problems.map((p) => `  ${p}`).join('\n')}`, ExitCode.USAGE);
  }
}

/** Every `*.yaml` and `*.yml` file under `dir` (recursively), sorted; none when `dir` does not exist. */
export function playbookFiles(dir: string = DEFAULT_PLAYBOOK_DIR): string[] {
  return yamlFiles(dir);
}

/** Loads and validates every playbook file under `dir` (default `playbooks/` at the repository root). */
export function loadPlaybooks(dir: string = DEFAULT_PLAYBOOK_DIR): LoadResult {
  return loadPlaybookFiles(playbookFiles(dir));
}

/**
 * Loads and validates the given files together: playbook names must be unique across all of them.
 * A directory stands for every playbook file under it.
 */
export function loadPlaybookFiles(files: string[]): LoadResult {
  const { sources, unreadable } = readYamlSources(files);
  const problems: PlaybookProblem[] = unreadable.map((u) => ({ file: u.file, path: '', playbook: null, message: u.message }));
  const result = loadPlaybookSources(sources);
  return { playbooks: result.playbooks, problems: sortByPosition([...problems, ...result.problems]) };
}

/** Like {@link loadPlaybookFiles}, from texts in memory (`file` names them in problems). */
export function loadPlaybookSources(sources: Array<{ file: string; text: string }>): LoadResult {
  const problems: PlaybookProblem[] = [];
  const loaded: Array<{ playbook: Playbook; name: string; at: Located }> = [];
  const named: Array<{ name: string; at: Located; file: string }> = [];
  for (const { file, text } of sources) {
    const result = loadFile(file, text);
    problems.push(...result.problems);
    loaded.push(...result.valid);
    named.push(...result.named);
  }
  const duplicated = new Set<string>();
  const byName = new Map<string, typeof named>();
  for (const n of named) byName.set(n.name, [...(byName.get(n.name) ?? []), n]);
  for (const [name, all] of byName) {
    if (all.length < 2) continue;
    duplicated.add(name);
    for (const n of all) {
      const others = all.filter((o) => o !== n).map((o) => `${o.file}:${o.at.line ?? '?'}`);
      problems.push({ ...n.at, file: n.file, playbook: name, message: `duplicate playbook name "${name}" (also at ${others.join(', ')})` });
    }
  }
  return {
    playbooks: loaded.filter((l) => !duplicated.has(l.name)).map((l) => l.playbook),
    problems: sortByPosition(problems),
  };
}

/**
 * The valid playbook named `name` from `dir`.
 * @throws PlaybookError when it has problems (all of them are in the error)
 * @throws UserError (usage) when no playbook has that name
 */
export function findPlaybook(name: string, dir: string = DEFAULT_PLAYBOOK_DIR): Playbook {
  const { playbooks, problems } = loadPlaybooks(dir);
  const found = playbooks.find((p) => p.name === name);
  if (found) return found;
  const own = problems.filter((p) => p.playbook === name);
  if (own.length > 0) throw new PlaybookError(own);
  const unnamed = problems.filter((p) => p.playbook === null);
  if (unnamed.length > 0) throw new PlaybookError(unnamed);
  const known = playbooks.map((p) => p.name);
  throw new UserError(
    `no playbook named "${name}"${suggest(name, known)} in ${dir}; known: ${known.join(', ') || 'none'}`,
    ExitCode.USAGE,
  );
}

/**
 * Turns `--param k=v` strings into the playbook's typed parameters, with defaults filled in.
 * `integer` and `number` parse as numbers, `boolean` accepts `true`/`false`, `string[]` is
 * comma-separated (or a JSON array). A value that already has the right type is kept.
 * @throws RunParamsError listing every unknown, missing or ill-typed parameter
 */
export function resolveRunParams(playbook: Playbook, given: Record<string, string | ParameterValue>): Record<string, ParameterValue> {
  const problems: string[] = [];
  const out: Record<string, ParameterValue> = {};
  const declared = Object.keys(playbook.parameters);
  for (const [name, raw] of Object.entries(given)) {
    const param = playbook.parameters[name];
    if (!param) {
      const known = declared.length ? `; it takes: ${declared.join(', ')}` : '; it takes none';
      problems.push(`unknown parameter "${name}"${suggest(name, declared)}${known}`);
      continue;
    }
    const value = typeof raw === 'string' ? parseParamString(raw, param.type) : raw;
    if (value === undefined || !hasParameterType(value, param.type)) {
      problems.push(`parameter "${name}" must be ${article(param.type)}, got ${JSON.stringify(raw)}`);
      continue;
    }
    out[name] = value;
  }
  for (const [name, param] of Object.entries(playbook.parameters)) {
    if (name in out || name in given) continue;
    if (param.default !== null) out[name] = param.default;
    else problems.push(`missing required parameter "${name}" (${param.type}${param.description ? `: ${param.description}` : ''})`);
  }
  if (problems.length > 0) throw new RunParamsError(playbook.name, problems);
  return out;
}

function parseParamString(raw: string, type: ParameterType): ParameterValue | undefined {
  const text = raw.trim();
  switch (type) {
    case 'string':
      return raw;
    case 'integer':
      return /^-?\d+$/.test(text) ? Number(text) : undefined;
    case 'number':
      return text !== '' && Number.isFinite(Number(text)) ? Number(text) : undefined;
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : undefined;
    case 'string[]':
      if (text.startsWith('[')) {
        try {
          return JSON.parse(text) as string[];
        } catch {
          return undefined;
        }
      }
      return text === '' ? [] : text.split(',').map((s) => s.trim());
  }
}

function article(type: ParameterType): string {
  return type === 'string[]' ? 'a list of strings' : type === 'integer' ? 'an integer' : `a ${type}`;
}

// ---------------------------------------------------------------------------------------------
// One file.

type Segment = string | number;
interface Located {
  line?: number;
  col?: number;
  path: string;
}

/** `['playbooks', 0, 'steps', 2, 'action']` → `playbooks[0].steps[2].action`. */
export function formatPath(segments: readonly Segment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

class FileContext {
  readonly problems: PlaybookProblem[] = [];
  constructor(
    readonly file: string,
    readonly text: string,
    readonly doc: Document,
    readonly lineCounter: LineCounter,
  ) {}

  /** The node at `segments`, or the nearest ancestor that exists. */
  node(segments: readonly Segment[]): Node | undefined {
    for (let n = segments.length; n >= 0; n--) {
      const node = (n === 0 ? this.doc.contents : this.doc.getIn(segments.slice(0, n), true)) as Node | undefined;
      if (node?.range) return node;
    }
    return undefined;
  }

  /** The key node of the last segment (for unknown keys), else the value's node. */
  keyNode(segments: readonly Segment[]): Node | undefined {
    const parent = segments.length === 1 ? this.doc.contents : this.doc.getIn(segments.slice(0, -1), true);
    const key = String(segments[segments.length - 1]);
    if (isMap(parent)) {
      for (const pair of parent.items) if (isScalar(pair.key) && String(pair.key.value) === key) return pair.key;
    }
    return this.node(segments);
  }

  /** Line and column of `node`, moved `offset` characters into it when it is a one-line string. */
  locate(segments: readonly Segment[], node: Node | undefined, offset?: number): Located {
    const where: Located = { path: formatPath(segments) };
    if (!node?.range) return where;
    let start = node.range[0];
    if (offset !== undefined && isScalar(node) && !this.text.slice(node.range[0], node.range[1]).includes('\n')) {
      const quoted = node.type === Scalar.QUOTE_SINGLE || node.type === Scalar.QUOTE_DOUBLE;
      start += offset + (quoted ? 1 : 0);
    }
    const pos = this.lineCounter.linePos(start);
    return { ...where, line: pos.line, col: pos.col };
  }

  /**
   * Records a problem at `segments`, located at its key (`key`), at another node (`nodeAt`, for
   * something missing), or at its value moved `offset` characters in.
   */
  add(
    playbook: string | null,
    segments: readonly Segment[],
    message: string,
    opts: { key?: boolean; offset?: number; nodeAt?: readonly Segment[] } = {},
  ): void {
    const node = opts.nodeAt ? this.node(opts.nodeAt) : opts.key ? this.keyNode(segments) : this.node(segments);
    this.problems.push({ file: this.file, playbook, message, ...this.locate(segments, node, opts.offset) });
  }
}

function loadFile(
  file: string,
  text: string,
): { problems: PlaybookProblem[]; valid: Array<{ playbook: Playbook; name: string; at: Located }>; named: Array<{ name: string; at: Located; file: string }> } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const ctx = new FileContext(file, text, doc, lineCounter);
  const valid: Array<{ playbook: Playbook; name: string; at: Located }> = [];
  const named: Array<{ name: string; at: Located; file: string }> = [];
  for (const err of [...doc.errors, ...doc.warnings]) {
    const pos = lineCounter.linePos(err.pos[0]);
    ctx.problems.push({ file, playbook: null, path: '', line: pos.line, col: pos.col, message: err.message.split('\n')[0] });
  }
  if (ctx.problems.length > 0) return { problems: ctx.problems, valid, named };

  const raw = doc.toJS() as unknown;
  if (!isObject(raw) || !Array.isArray(raw.playbooks)) {
    ctx.add(null, isObject(raw) && 'playbooks' in raw ? ['playbooks'] : [], 'expected "playbooks:", a list of playbooks');
    return { problems: ctx.problems, valid, named };
  }
  for (const key of Object.keys(raw)) {
    if (key !== 'playbooks') ctx.add(null, [key], `unknown key "${key}"${suggest(key, ['playbooks'])}`, { key: true });
  }
  raw.playbooks.forEach((source: unknown, index: number) => {
    const before = ctx.problems.length;
    const name = isObject(source) && typeof source.name === 'string' ? source.name : null;
    const base: Segment[] = ['playbooks', index];
    const parsed = PlaybookSchema.safeParse(source);
    if (!parsed.success) addZodProblems(ctx, name, base, source, parsed.error);
    if (isObject(source)) checkPlaybook(ctx, name, base, source);
    if (name !== null) named.push({ name, file, at: ctx.locate([...base, 'name'], ctx.node([...base, 'name'])) });
    if (parsed.success && ctx.problems.length === before) {
      valid.push({ playbook: normalizePlaybook(parsed.data, file), name: parsed.data.name, at: ctx.locate(base, ctx.node(base)) });
    }
  });
  return { problems: ctx.problems, valid, named };
}

function addZodProblems(ctx: FileContext, playbook: string | null, base: Segment[], source: unknown, error: z.ZodError): void {
  for (const issue of error.issues) {
    const inner = issue.path.map((s) => (typeof s === 'symbol' ? String(s) : s));
    const segments = [...base, ...inner];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(segments);
      for (const key of issue.keys) ctx.add(playbook, [...segments, key], `unknown key "${key}"${suggest(key, known)}`, { key: true });
    } else if (issue.code === 'invalid_key') {
      ctx.add(playbook, segments, issue.issues.map((i) => i.message).join('; '), { key: true });
    } else if (isMissing(source, inner)) {
      ctx.add(playbook, segments, `missing required key "${String(segments[segments.length - 1])}"`);
    } else {
      ctx.add(playbook, segments, issue.message.replace(/^Invalid (input|option): /, ''));
    }
  }
}

/** The keys allowed where an unknown key was found, for "did you mean". */
function knownKeys(segments: Segment[]): string[] {
  const tail = segments.filter((s) => typeof s === 'string').slice(-2);
  const last = tail[tail.length - 1];
  const step = ['id', 'action', 'with', 'output', 'when', 'timeout', 'retry', 'on_failure', 'compensate', 'approval'];
  const table: Record<string, string[]> = {
    playbooks: ['name', 'description', 'trigger', 'parameters', 'concurrency', 'steps'],
    trigger: ['kernel', 'events', 'signatures'],
    steps: step,
    retry: ['attempts', 'backoff', 'non_retryable'],
    compensate: ['action', 'with'],
    approval: ['timeout', 'default', 'prompt'],
  };
  if (tail[0] === 'parameters') return ['type', 'default', 'description'];
  return table[last] ?? [];
}

// ---------------------------------------------------------------------------------------------
// What needs the whole playbook. Works on the raw document, defensively: shape problems are
// zod's to report, so a value of the wrong shape is skipped here rather than reported twice.

/** What a value is, as far as a template's type can be known before the run. */
type Kind = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'null' | 'any';

interface PlaybookContext {
  file: FileContext;
  playbook: string | null;
  params: Map<string, ParameterType | null>;
  /** Output name → the step index and action producing it (first producer). */
  outputs: Map<string, { index: number; id: string; action: ActionSpec | null }>;
}

interface Scope {
  /** Steps (by index) whose outputs are visible. */
  visibleBefore: number;
  /** Also this step's own output (compensations run after their step). */
  ownIndex?: number;
  step: number;
}

function checkPlaybook(file: FileContext, playbook: string | null, base: Segment[], source: Record<string, unknown>): void {
  const params = new Map<string, ParameterType | null>();
  if (isObject(source.parameters)) {
    for (const [name, p] of Object.entries(source.parameters)) {
      const type = isObject(p) && (PARAMETER_TYPES as readonly unknown[]).includes(p.type) ? (p.type as ParameterType) : null;
      params.set(name, type);
    }
  }
  const ctx: PlaybookContext = { file, playbook, params, outputs: new Map() };
  const steps = Array.isArray(source.steps) ? source.steps : [];
  steps.forEach((s: unknown, i: number) => {
    if (!isObject(s) || typeof s.output !== 'string' || ctx.outputs.has(s.output)) return;
    ctx.outputs.set(s.output, { index: i, id: String(s.id), action: isActionName(s.action) ? ACTIONS[s.action] : null });
  });

  const ids = new Map<string, number>();
  steps.forEach((s: unknown, i: number) => {
    if (!isObject(s)) return;
    const at: Segment[] = [...base, 'steps', i];
    if (typeof s.id === 'string') {
      const first = ids.get(s.id);
      if (first !== undefined) {
        const line = file.locate([], file.node([...base, 'steps', first, 'id'])).line;
        file.add(playbook, [...at, 'id'], `duplicate step id "${s.id}" (first used at line ${line ?? '?'})`);
      } else ids.set(s.id, i);
    }
    if (typeof s.output === 'string') {
      const producer = ctx.outputs.get(s.output);
      if (producer && producer.index !== i) {
        file.add(playbook, [...at, 'output'], `output "${s.output}" is already produced by step "${producer.id}"`);
      }
    }
    const scope: Scope = { visibleBefore: i, step: i };
    if (isActionName(s.action)) checkWith(ctx, ACTIONS[s.action], s.with, [...at, 'with'], [...at, 'action'], scope);
    if (typeof s.when === 'string') checkCondition(ctx, s.when, [...at, 'when'], scope);
    if (isObject(s.approval) && typeof s.approval.prompt === 'string') {
      checkTemplateString(ctx, s.approval.prompt, [...at, 'approval', 'prompt'], scope);
    }
    if (isObject(s.compensate) && isActionName(s.compensate.action)) {
      const c = [...at, 'compensate'];
      checkWith(ctx, ACTIONS[s.compensate.action], s.compensate.with, [...c, 'with'], [...c, 'action'], { ...scope, ownIndex: i });
    }
  });
}

function checkWith(ctx: PlaybookContext, spec: ActionSpec, given: unknown, at: Segment[], actionAt: Segment[], scope: Scope): void {
  if (given !== undefined && !isObject(given)) return;
  const values = given ?? {};
  const shape = spec.params.shape as Record<string, z.ZodType>;
  const names = Object.keys(shape);
  for (const [name, value] of Object.entries(values)) {
    const schema = shape[name];
    if (!schema) {
      const takes = names.length ? `it takes: ${names.join(', ')}` : 'it takes none';
      ctx.file.add(ctx.playbook, [...at, name], `unknown parameter "${name}" for action ${spec.name}${suggest(name, names)}; ${takes}`, { key: true });
      continue;
    }
    checkValue(ctx, value, schema, [...at, name], `parameter "${name}" of ${spec.name}`, scope);
  }
  for (const name of names) {
    if (name in values || shape[name].safeParse(undefined).success) continue;
    ctx.file.add(ctx.playbook, [...at, name], `missing required parameter "${name}" for action ${spec.name}`, {
      nodeAt: given === undefined ? actionAt : at,
    });
  }
}

function containsTemplate(value: unknown): boolean {
  if (typeof value === 'string') return isTemplate(value);
  if (Array.isArray(value)) return value.some(containsTemplate);
  if (isObject(value)) return Object.values(value).some(containsTemplate);
  return false;
}

function checkValue(ctx: PlaybookContext, value: unknown, schema: z.ZodType, at: Segment[], label: string, scope: Scope): void {
  if (!containsTemplate(value)) {
    const result = schema.safeParse(value);
    if (result.success) return;
    for (const issue of result.error.issues) {
      const where = [...at, ...issue.path.map((s) => (typeof s === 'symbol' ? String(s) : s))];
      ctx.file.add(ctx.playbook, where, `${label}: ${issue.message.replace(/^Invalid (input|option): /, '')}`);
    }
    return;
  }
  const accepted = kindsOf(schema);
  if (typeof value === 'string') {
    const kind = checkTemplateString(ctx, value, at, scope);
    if (kind && !fits(kind, accepted)) {
      ctx.file.add(ctx.playbook, at, `${label} expects ${describeKinds(accepted)}, but ${JSON.stringify(value)} is ${describeKinds(new Set([kind]))}`);
    }
    return;
  }
  const inner = unwrap(schema);
  const def = inner._zod.def as any;
  if (Array.isArray(value)) {
    if (def.type === 'array') value.forEach((v, i) => checkValue(ctx, v, def.element, [...at, i], label, scope));
    else if (!fits('array', accepted)) ctx.file.add(ctx.playbook, at, `${label} expects ${describeKinds(accepted)}, not a list`);
    return;
  }
  if (isObject(value)) {
    if (def.type === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (def.shape[k]) checkValue(ctx, v, def.shape[k], [...at, k], label, scope);
        else if (def.catchall?._zod.def.type === 'never') ctx.file.add(ctx.playbook, [...at, k], `${label}: unknown key "${k}"`, { key: true });
      }
    } else if (def.type === 'record') {
      for (const [k, v] of Object.entries(value)) checkValue(ctx, v, def.valueType, [...at, k], label, scope);
    } else if (!fits('object', accepted)) ctx.file.add(ctx.playbook, at, `${label} expects ${describeKinds(accepted)}, not a mapping`);
  }
}

/** Checks a string's templates; returns the kind of value it resolves to (`undefined` when malformed). */
function checkTemplateString(ctx: PlaybookContext, text: string, at: Segment[], scope: Scope): Kind | undefined {
  let parts;
  try {
    parts = parseTemplate(text);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    ctx.file.add(ctx.playbook, at, `malformed template: ${err.message}`, { offset: err.offset });
    return undefined;
  }
  let ok = true;
  for (const part of parts) if (part.kind === 'expr') ok = checkExpression(ctx, part.expr, at, scope) && ok;
  if (!ok) return undefined;
  return parts.length === 1 && parts[0].kind === 'expr' ? kindOfExpr(ctx, parts[0].expr) : 'string';
}

function checkCondition(ctx: PlaybookContext, text: string, at: Segment[], scope: Scope): void {
  try {
    checkExpression(ctx, parseCondition(text), at, scope);
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    ctx.file.add(ctx.playbook, at, `malformed condition: ${err.message}`, { offset: err.offset });
  }
}

/** Reports each bad reference in `expr`; true when all are good. */
function checkExpression(ctx: PlaybookContext, expr: Expr, at: Segment[], scope: Scope): boolean {
  let ok = true;
  for (const ref of referencesOf(expr)) {
    const message = referenceProblem(ctx, ref, scope);
    if (message) {
      ctx.file.add(ctx.playbook, at, message, { offset: ref.offset });
      ok = false;
    }
  }
  return ok;
}

function referenceProblem(ctx: PlaybookContext, ref: Reference, scope: Scope): string | undefined {
  const [head, ...rest] = ref.path;
  const text = formatReference(ref);
  if (ref.root === 'run') {
    if (!(RUN_FIELDS as readonly string[]).includes(head) || rest.length > 0) {
      return `unknown reference ${text}: run has ${RUN_FIELDS.map((f) => `run.${f}`).join(', ')}`;
    }
    return undefined;
  }
  if (ref.root === 'params') {
    if (!ctx.params.has(head)) {
      const declared = [...ctx.params.keys()];
      const known = declared.length ? `; declared: ${declared.join(', ')}` : '; the playbook declares no parameters';
      return `unknown parameter params.${head}${suggest(head, declared)}${known}`;
    }
    const type = ctx.params.get(head);
    const indexed = type === 'string[]' && rest.length === 1 && /^\d+$/.test(rest[0]);
    if (rest.length > 0 && !indexed) return `params.${head} is ${type ? article(type) : 'a parameter'}: it has no field "${rest[0]}"`;
    return undefined;
  }
  const producer = ctx.outputs.get(head);
  const visible = producer && (producer.index < scope.visibleBefore || producer.index === scope.ownIndex);
  if (!producer) return `no step produces output "${head}" (${text})${suggest(head, [...ctx.outputs.keys()])}`;
  if (!visible) {
    return producer.index === scope.step
      ? `step "${producer.id}" reads its own output "${head}" before producing it (${text})`
      : `output "${head}" is used before a step produces it (${text}; step "${producer.id}" produces it later)`;
  }
  if (!producer.action) return undefined;
  let schema: z.ZodType = producer.action.output;
  const walked = [`steps.${head}`];
  for (const segment of rest) {
    const def = unwrap(schema)._zod.def as any;
    if (def.type === 'object') {
      if (!def.shape[segment]) {
        const fields = Object.keys(def.shape);
        return `${walked.join('.')} (output of ${producer.action.name}) has no field "${segment}"${suggest(segment, fields)}; fields: ${fields.join(', ')}`;
      }
      schema = def.shape[segment];
    } else if (def.type === 'record') schema = def.valueType;
    else if (def.type === 'array' && /^\d+$/.test(segment)) schema = def.element;
    else if (def.type === 'unknown' || def.type === 'any') return undefined;
    else return `${walked.join('.')} is ${describeKinds(kindsOf(schema))}: it has no field "${segment}"`;
    walked.push(segment);
  }
  return undefined;
}

/** The kind of value an expression yields, when it can be known before the run. */
function kindOfExpr(ctx: PlaybookContext, expr: Expr): Kind {
  switch (expr.kind) {
    case 'literal':
      return expr.value === null ? 'null' : (typeof expr.value as Kind);
    case 'not':
    case 'and':
    case 'or':
    case 'compare':
      return 'boolean';
    case 'ref': {
      if (expr.root === 'run') return 'string';
      if (expr.root === 'params') {
        const type = ctx.params.get(expr.path[0]);
        if (!type) return 'any';
        if (type === 'string[]') return expr.path.length > 1 ? 'string' : 'array';
        return type === 'integer' ? 'number' : type;
      }
      const producer = ctx.outputs.get(expr.path[0]);
      if (!producer?.action) return 'any';
      let schema: z.ZodType = producer.action.output;
      for (const segment of expr.path.slice(1)) {
        const def = unwrap(schema)._zod.def as any;
        const next = def.type === 'object' ? def.shape[segment] : def.type === 'record' ? def.valueType : def.type === 'array' ? def.element : undefined;
        if (!next) return 'any';
        schema = next;
      }
      const kinds = kindsOf(schema);
      return kinds.size === 1 ? [...kinds][0] : 'any';
    }
  }
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (WRAPPERS.has(s._zod.def.type)) s = (s._zod.def as any).innerType;
  return s;
}

/** The kinds of value a schema accepts (`any` when it cannot be told). */
function kindsOf(schema: z.ZodType): Set<Kind> {
  const def = schema._zod.def as any;
  switch (def.type as string) {
    case 'string':
    case 'template_literal':
      return new Set(['string']);
    case 'number':
    case 'int':
    case 'bigint':
      return new Set(['number']);
    case 'boolean':
      return new Set(['boolean']);
    case 'null':
      return new Set(['null']);
    case 'array':
    case 'tuple':
      return new Set(['array']);
    case 'object':
    case 'record':
      return new Set(['object']);
    case 'enum':
      return new Set(Object.values(def.entries as Record<string, unknown>).map((v) => typeof v as Kind));
    case 'literal':
      return new Set((def.values as unknown[]).map((v) => (v === null ? 'null' : (typeof v as Kind))));
    case 'nullable':
      return new Set([...kindsOf(def.innerType), 'null']);
    case 'union':
      return new Set((def.options as z.ZodType[]).flatMap((o) => [...kindsOf(o)]));
    case 'pipe':
      return kindsOf(def.in);
    default:
      return WRAPPERS.has(def.type) ? kindsOf(def.innerType) : new Set(['any']);
  }
}

function fits(kind: Kind, accepted: Set<Kind>): boolean {
  return kind === 'any' || accepted.has('any') || accepted.has(kind);
}

function describeKinds(kinds: Set<Kind>): string {
  const names: Record<Kind, string> = {
    string: 'a string',
    number: 'a number',
    boolean: 'a boolean',
    array: 'a list',
    object: 'a mapping',
    null: 'null',
    any: 'any value',
  };
  return [...kinds].map((k) => names[k]).join(' or ');
}
