/**
 * Playbook templating and conditions: data, not code. `${{ … }}` holds an expression in a tiny
 * language parsed here — references (`params.NAME`, `steps.OUTPUT.field.sub`, `run.id`),
 * string/number/boolean/null literals, `== != < <= > >=`, `&& || !` and parentheses — and
 * evaluated by walking its tree. Nothing is ever handed to `eval` or `Function`.
 *
 * PURE on purpose: no imports, no Node built-ins, no clock, no randomness. The workflow bundle
 * imports this file to resolve a step's `with` from earlier steps' outputs at run time, and the
 * loader imports it to find the references a playbook makes before anything runs.
 */

/** What templates and conditions read: the run's parameters, earlier steps' outputs, the run itself. */
export interface TemplateScope {
  /** Typed run parameters (after defaults), by name. */
  params: Record<string, unknown>;
  /** Outputs of completed steps, by their `output` name (not their step id). */
  steps: Record<string, unknown>;
  /** Facts about the run: see {@link RUN_FIELDS}. */
  run: Record<string, unknown>;
}

/** The fields of `run` a playbook may reference; the workflow must provide each in its scope. */
export const RUN_FIELDS = ['id', 'playbook', 'kernel'] as const;
export type RunField = (typeof RUN_FIELDS)[number];

/** The roots a reference may start from. */
export const REFERENCE_ROOTS = ['params', 'steps', 'run'] as const;
export type ReferenceRoot = (typeof REFERENCE_ROOTS)[number];

/**
 * A malformed template or expression, or one that cannot be evaluated (a missing reference, a
 * comparison of a string with a number). `offset` is where in the source text it went wrong, when
 * known. Workflow code must turn it into a non-retryable `ApplicationFailure`: a plain `Error`
 * thrown from a workflow retries the task forever.
 */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}

export type ComparisonOperator = '==' | '!=' | '<' | '<=' | '>' | '>=';

/** A parsed expression. `offset` is the start of the node in the text handed to the parser. */
export type Expr =
  | { kind: 'literal'; value: string | number | boolean | null; offset: number }
  | { kind: 'ref'; root: ReferenceRoot; path: string[]; offset: number }
  | { kind: 'not'; operand: Expr; offset: number }
  | { kind: 'and' | 'or'; left: Expr; right: Expr; offset: number }
  | { kind: 'compare'; op: ComparisonOperator; left: Expr; right: Expr; offset: number };

/** A reference found in an expression, e.g. `steps.snap.snapshot` → root `steps`, path `['snap', 'snapshot']`. */
export type Reference = Extract<Expr, { kind: 'ref' }>;

/** A piece of a templated string: literal text, or one `${{ … }}` with its parsed expression. */
export type TemplatePart =
  | { kind: 'text'; text: string; offset: number }
  | { kind: 'expr'; expr: Expr; source: string; offset: number };

const OPEN = '${{';
const CLOSE = '}}';

/** True when `text` contains `${{`, i.e. is a template rather than plain text. */
export function isTemplate(text: string): boolean {
  return text.includes(OPEN);
}

/**
 * Splits a string into text and `${{ expression }}` parts, parsing each expression. Offsets are
 * positions in `text`. A string without `${{` is one text part.
 * @throws TemplateError for an unterminated `${{` or a malformed expression
 */
export function parseTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf(OPEN, i);
    if (open < 0) {
      parts.push({ kind: 'text', text: text.slice(i), offset: i });
      break;
    }
    if (open > i) parts.push({ kind: 'text', text: text.slice(i, open), offset: i });
    const start = open + OPEN.length;
    const close = findClose(text, start);
    if (close < 0) throw new TemplateError('unterminated "${{": expected "}}"', open);
    const source = text.slice(start, close);
    parts.push({ kind: 'expr', expr: parseExpressionAt(source, start), source: source.trim(), offset: open });
    i = close + CLOSE.length;
  }
  return parts;
}

/** The `}}` closing an expression that starts at `from`, skipping quoted strings; -1 when none. */
function findClose(text: string, from: number): number {
  let quote: string | null = null;
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '}' && text[i + 1] === '}') return i;
  }
  return -1;
}

/**
 * Parses a condition: an expression, optionally wrapped in one `${{ }}` (`when: '${{ a > 1 }}'` and
 * `when: 'a > 1'` mean the same).
 * @throws TemplateError with the offset in `text` where it went wrong
 */
export function parseCondition(text: string): Expr {
  const trimmed = text.trim();
  if (trimmed.startsWith(OPEN)) {
    const parts = parseTemplate(text);
    const exprs = parts.filter((p) => p.kind === 'expr');
    const stray = parts.find((p) => p.kind === 'text' && p.text.trim() !== '');
    if (exprs.length !== 1 || stray) {
      throw new TemplateError('a condition is one expression: write it inside a single "${{ }}"', stray?.offset ?? 0);
    }
    return (exprs[0] as Extract<TemplatePart, { kind: 'expr' }>).expr;
  }
  return parseExpressionAt(text, 0);
}

/** Every reference in an expression, left to right. */
export function referencesOf(expr: Expr): Reference[] {
  switch (expr.kind) {
    case 'ref':
      return [expr];
    case 'literal':
      return [];
    case 'not':
      return referencesOf(expr.operand);
    default:
      return [...referencesOf(expr.left), ...referencesOf(expr.right)];
  }
}

/** `steps.snap.snapshot` for a reference. */
export function formatReference(ref: Reference): string {
  return [ref.root, ...ref.path].join('.');
}

// ---------------------------------------------------------------------------------------------
// Tokenizer and parser. Precedence, tightest first (as in JavaScript): `!`, then `< <= > >=`,
// then `== !=`, then `&&`, then `||`. Comparisons do not chain: `a < b < c` is an error.

type Token =
  | { type: 'op'; value: string; offset: number }
  | { type: 'string'; value: string; offset: number }
  | { type: 'number'; value: number; offset: number }
  | { type: 'ident'; value: string; offset: number }
  | { type: 'end'; offset: number };

const OPERATORS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '(', ')', '.'];
const ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' };

function tokenize(text: string, base: number): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const at = base + i;
    if (c === '"' || c === "'") {
      let value = '';
      let j = i + 1;
      for (; j < text.length && text[j] !== c; j++) {
        if (text[j] === '\\') {
          const escaped = ESCAPES[text[j + 1]];
          if (escaped === undefined) throw new TemplateError(`unknown escape "\\${text[j + 1] ?? ''}" in a string`, base + j);
          value += escaped;
          j++;
        } else value += text[j];
      }
      if (j >= text.length) throw new TemplateError('unterminated string', at);
      tokens.push({ type: 'string', value, offset: at });
      i = j + 1;
      continue;
    }
    const number = /^-?\d+(\.\d+)?([eE][-+]?\d+)?/.exec(text.slice(i));
    if (number && (c !== '-' || tokens.length === 0 || tokens[tokens.length - 1].type === 'op')) {
      tokens.push({ type: 'number', value: Number(number[0]), offset: at });
      i += number[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (ident) {
      tokens.push({ type: 'ident', value: ident[0], offset: at });
      i += ident[0].length;
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) {
      const hint = c === '=' ? ' (equality is "==")' : c === '&' || c === '|' ? ' (use "&&" or "||")' : '';
      throw new TemplateError(`unexpected character "${c}"${hint}`, at);
    }
    tokens.push({ type: 'op', value: op, offset: at });
    i += op.length;
  }
  tokens.push({ type: 'end', offset: base + text.length });
  return tokens;
}

function parseExpressionAt(text: string, base: number): Expr {
  const tokens = tokenize(text, base);
  let pos = 0;
  const peek = (): Token => tokens[pos];
  const isOp = (value: string): boolean => {
    const t = peek();
    return t.type === 'op' && t.value === value;
  };
  const describe = (t: Token): string => (t.type === 'end' ? 'the end of the expression' : `"${String(t.value)}"`);

  const parseOr = (): Expr => {
    let left = parseAnd();
    while (isOp('||')) {
      const offset = tokens[pos++].offset;
      left = { kind: 'or', left, right: parseAnd(), offset };
    }
    return left;
  };
  const parseAnd = (): Expr => {
    let left = parseEquality();
    while (isOp('&&')) {
      const offset = tokens[pos++].offset;
      left = { kind: 'and', left, right: parseEquality(), offset };
    }
    return left;
  };
  const comparison = (ops: ComparisonOperator[], next: () => Expr) => (): Expr => {
    const left = next();
    const t = peek();
    if (t.type !== 'op' || !(ops as string[]).includes(t.value)) return left;
    pos++;
    const expr: Expr = { kind: 'compare', op: t.value as ComparisonOperator, left, right: next(), offset: t.offset };
    const after = peek();
    if (after.type === 'op' && (ops as string[]).includes(after.value)) {
      throw new TemplateError('comparisons do not chain: use "&&" and parentheses', after.offset);
    }
    return expr;
  };
  const parseUnary = (): Expr => {
    if (isOp('!')) {
      const offset = tokens[pos++].offset;
      return { kind: 'not', operand: parseUnary(), offset };
    }
    return parsePrimary();
  };
  const parseRelational = comparison(['<', '<=', '>', '>='], parseUnary);
  const parseEquality = comparison(['==', '!='], parseRelational);

  const parsePrimary = (): Expr => {
    const t = tokens[pos++];
    if (t.type === 'op' && t.value === '(') {
      const inner = parseOr();
      if (!isOp(')')) throw new TemplateError(`expected ")" but found ${describe(peek())}`, peek().offset);
      pos++;
      return inner;
    }
    if (t.type === 'string' || t.type === 'number') return { kind: 'literal', value: t.value, offset: t.offset };
    if (t.type === 'ident') {
      if (t.value === 'true' || t.value === 'false') return { kind: 'literal', value: t.value === 'true', offset: t.offset };
      if (t.value === 'null') return { kind: 'literal', value: null, offset: t.offset };
      if (!(REFERENCE_ROOTS as readonly string[]).includes(t.value)) {
        throw new TemplateError(`unknown name "${t.value}": a reference starts with params., steps. or run.`, t.offset);
      }
      const path: string[] = [];
      while (isOp('.')) {
        pos++;
        const segment = tokens[pos++];
        if (segment.type === 'ident') path.push(segment.value);
        else if (segment.type === 'number' && Number.isInteger(segment.value) && segment.value >= 0) path.push(String(segment.value));
        else throw new TemplateError(`expected a field name after "." but found ${describe(segment)}`, segment.offset);
      }
      if (path.length === 0) throw new TemplateError(`"${t.value}" needs a field, e.g. ${t.value}.name`, t.offset);
      return { kind: 'ref', root: t.value as ReferenceRoot, path, offset: t.offset };
    }
    throw new TemplateError(`expected a value but found ${describe(t)}`, t.offset);
  };

  if (peek().type === 'end') throw new TemplateError('empty expression', peek().offset);
  const expr = parseOr();
  if (peek().type !== 'end') throw new TemplateError(`unexpected ${describe(peek())}`, peek().offset);
  return expr;
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

const MISSING = Symbol('missing');

function lookup(ref: Reference, scope: TemplateScope): unknown {
  let value: unknown = scope[ref.root];
  for (const segment of ref.path) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, segment)) return MISSING;
    value = (value as Record<string, unknown>)[segment];
  }
  return value === undefined ? MISSING : value;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as any)[k], (b as any)[k]));
}

/** Falsy: `false`, `null`, `0`, `''` and anything missing; everything else is truthy. */
export function truthy(value: unknown): boolean {
  return !(value === false || value === null || value === undefined || value === 0 || value === '' || Number.isNaN(value));
}

/**
 * Evaluates a parsed expression. `&&`, `||` and `!` yield booleans. `==`/`!=` compare without
 * coercion (structurally for objects and arrays). `< <= > >=` compare two numbers or two strings;
 * with `null` on either side they are false; other mixes are an error.
 * @param missing what an absent reference does: `'error'` throws (templates), `'null'` yields `null` (conditions)
 * @throws TemplateError
 */
export function evaluate(expr: Expr, scope: TemplateScope, missing: 'error' | 'null' = 'error'): unknown {
  const ev = (e: Expr): unknown => evaluate(e, scope, missing);
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'ref': {
      const value = lookup(expr, scope);
      if (value !== MISSING) return value;
      if (missing === 'null') return null;
      throw new TemplateError(`unknown reference ${formatReference(expr)}: ${whyMissing(expr, scope)}`, expr.offset);
    }
    case 'not':
      return !truthy(ev(expr.operand));
    case 'and':
      return truthy(ev(expr.left)) && truthy(ev(expr.right));
    case 'or':
      return truthy(ev(expr.left)) || truthy(ev(expr.right));
    case 'compare': {
      const left = ev(expr.left);
      const right = ev(expr.right);
      if (expr.op === '==') return deepEqual(left, right);
      if (expr.op === '!=') return !deepEqual(left, right);
      if (left === null || right === null) return false;
      const bothNumbers = typeof left === 'number' && typeof right === 'number';
      const bothStrings = typeof left === 'string' && typeof right === 'string';
      if (!bothNumbers && !bothStrings) {
        throw new TemplateError(`cannot compare ${typeName(left)} with ${typeName(right)} using "${expr.op}"`, expr.offset);
      }
      const l = left as number | string;
      const r = right as number | string;
      return expr.op === '<' ? l < r : expr.op === '<=' ? l <= r : expr.op === '>' ? l > r : l >= r;
    }
  }
}

function whyMissing(ref: Reference, scope: TemplateScope): string {
  let value: unknown = scope[ref.root];
  const walked: string[] = [ref.root];
  for (const segment of ref.path) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, segment)) {
      if (walked.length === 1 && ref.root === 'steps') return `no completed step has produced output "${segment}"`;
      return `${walked.join('.')} has no field "${segment}"`;
    }
    value = (value as Record<string, unknown>)[segment];
    walked.push(segment);
  }
  return 'its value is undefined';
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function toText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * Resolves every template in a value, deeply (arrays and objects are copied, never mutated). A
 * string that is exactly one `${{ expr }}` becomes the expression's value with its type (a
 * number stays a number, an object an object); templates inside a longer string are interpolated
 * as text (objects and arrays as JSON). Strings without `${{` are returned unchanged.
 * @throws TemplateError for a malformed template or a reference to something absent
 */
export function resolveValue(value: unknown, scope: TemplateScope): unknown {
  if (typeof value === 'string') {
    if (!isTemplate(value)) return value;
    const parts = parseTemplate(value);
    if (parts.length === 1 && parts[0].kind === 'expr') return evaluate(parts[0].expr, scope);
    return parts.map((p) => (p.kind === 'text' ? p.text : toText(evaluate(p.expr, scope)))).join('');
  }
  if (Array.isArray(value)) return value.map((v) => resolveValue(v, scope));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveValue(v, scope);
    return out;
  }
  return value;
}

/**
 * Evaluates a `when` condition (with or without its `${{ }}`) to a boolean. A reference to
 * something absent — such as the output of a step that was skipped — is `null` here rather than
 * an error, so `steps.snap == null` asks whether `snap` was produced.
 * @throws TemplateError for a malformed condition or an invalid comparison
 */
export function evalCondition(expr: string, scope: TemplateScope): boolean {
  return truthy(evaluate(parseCondition(expr), scope, 'null'));
}
