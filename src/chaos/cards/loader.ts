/**
 * Loads failure cards (`chaos/cards/<id>.yaml`, one card per file) and validates them completely
 * before any drill runs: YAML syntax, the shape (format.ts), the card id against its file name and
 * the other cards, the injection's parameters against its fault's schema (fault-params.ts), the
 * evidence kinds and the remedy it expects, and the blast radius — both what it declares and
 * whether the injection stays inside it (blast-radius.ts). Every problem is reported at once, each
 * with file, line, column and path; a card with any problem is never returned.
 */
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { formatProblem, type ConfigProblem } from '../../config/load';
import { ExitCode, UserError } from '../../errors';
import { suggest } from '../../playbooks/format';
import { formatPath } from '../../playbooks/loader';
import { CardSchema, PROBE_NAMES, type ChaosCard } from './format';
import { checkCard, playbookNames, type CardCheckContext, type Segment } from './checks';
import { DEFAULT_CARD_DIR } from './default-dir';
import { isMissing, isObject, readYamlSources, sortByPosition, yamlFiles } from '../../config/yaml-files';

/** Where failure cards live unless told otherwise: `chaos/cards/` at the repository root. */
export { DEFAULT_CARD_DIR };

/** One problem in a card file; printed as `FILE:LINE:COL: message → at path`. */
export interface CardProblem extends ConfigProblem {
  /** The card it makes invalid (its id, or the file's stem when the id is missing), `null` for an unreadable file. */
  card: string | null;
}

/** What loading found: the valid cards and every problem. */
export interface CardLoadResult {
  /** Only cards without any problem, in file order. */
  cards: ChaosCard[];
  /** Every problem, sorted by file, line and column. */
  problems: CardProblem[];
}

/** Cards that do not validate; carries every problem. Exit code 3, like an invalid config or playbook. */
export class CardError extends UserError {
  override name = 'CardError';
  constructor(readonly problems: CardProblem[]) {
    super(`invalid failure cards:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`, ExitCode.CONFIG);
  }
}

/** Every `*.yaml` and `*.yml` file under `dir` (recursively), sorted; none when `dir` does not exist. */
export function cardFiles(dir: string = DEFAULT_CARD_DIR): string[] {
  return yamlFiles(dir);
}

/** Loads and validates every card under `dir` (default `chaos/cards/` at the repository root). */
export function loadCards(dir: string = DEFAULT_CARD_DIR): CardLoadResult {
  return loadCardFiles(cardFiles(dir));
}

/** Loads and validates the given files together (ids are unique across them); a directory stands for its cards. */
export function loadCardFiles(files: string[]): CardLoadResult {
  const { sources, unreadable } = readYamlSources(files);
  const problems: CardProblem[] = unreadable.map((u) => ({ file: u.file, path: '', card: null, message: u.message }));
  const result = loadCardSources(sources);
  return { cards: result.cards, problems: sortByPosition([...problems, ...result.problems]) };
}

/**
 * Like {@link loadCardFiles}, from texts in memory (`file` names them in problems; its stem is the
 * expected id). `playbooks`: the names a remedy may give (default: the valid playbooks of `playbooks/`).
 */
export function loadCardSources(sources: Array<{ file: string; text: string }>, opts: { playbooks?: readonly string[] } = {}): CardLoadResult {
  const playbooks = opts.playbooks ?? playbookNames();
  const problems: CardProblem[] = [];
  const loaded: ChaosCard[] = [];
  const ids = new Map<string, Array<{ file: string; line?: number; col?: number; path: string }>>();
  for (const { file, text } of sources) {
    const result = loadFile(file, text, playbooks);
    problems.push(...result.problems);
    if (result.card) loaded.push(result.card);
    if (result.id) ids.set(result.id.id, [...(ids.get(result.id.id) ?? []), { file, ...result.id.at }]);
  }
  const duplicated = new Set<string>();
  for (const [id, all] of ids) {
    if (all.length < 2) continue;
    duplicated.add(id);
    for (const at of all) {
      const others = all.filter((o) => o !== at).map((o) => `${o.file}:${o.line ?? '?'}`);
      problems.push({ ...at, card: id, message: `duplicate card id "${id}" (also at ${others.join(', ')})` });
    }
  }
  return { cards: loaded.filter((c) => !duplicated.has(c.id)), problems: sortByPosition(problems) };
}

/**
 * The valid card `id` from `dir`.
 * @throws CardError (exit 3) when that card has problems (all of them are in the error)
 * @throws UserError (exit 2) when no card has that id, with the nearest known id
 */
export function findCard(id: string, dir: string = DEFAULT_CARD_DIR): ChaosCard {
  const { cards, problems } = loadCards(dir);
  const found = cards.find((c) => c.id === id);
  if (found) return found;
  const own = problems.filter((p) => p.card === id);
  if (own.length > 0) throw new CardError(own);
  const unnamed = problems.filter((p) => p.card === null);
  if (unnamed.length > 0) throw new CardError(unnamed);
  const known = cards.map((c) => c.id);
  throw new UserError(`no failure card "${id}"${suggest(id, known)} in ${dir}; known: ${known.join(', ') || 'none'}`, ExitCode.USAGE);
}

// ---------------------------------------------------------------------------------------------
// One file.

/** Where each problem of one file is: the node at a path, its key for unknown keys. */
class FileContext implements CardCheckContext {
  readonly problems: CardProblem[] = [];
  constructor(
    readonly file: string,
    readonly card: string,
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
    readonly playbooks: readonly string[],
  ) {}

  /** The node at `segments`, or the nearest ancestor that exists. */
  private node(segments: readonly Segment[]): Node | undefined {
    for (let n = segments.length; n >= 0; n--) {
      const node = (n === 0 ? this.doc.contents : this.doc.getIn(segments.slice(0, n), true)) as Node | undefined;
      if (node?.range) return node;
    }
    return undefined;
  }

  private keyNode(segments: readonly Segment[]): Node | undefined {
    const parent = segments.length === 1 ? this.doc.contents : this.doc.getIn(segments.slice(0, -1), true);
    const key = String(segments[segments.length - 1]);
    if (isMap(parent)) {
      for (const pair of parent.items) if (isScalar(pair.key) && String(pair.key.value) === key) return pair.key;
    }
    return this.node(segments);
  }

  at(segments: readonly Segment[], opts: { key?: boolean } = {}): { path: string; line?: number; col?: number } {
    const node = opts.key ? this.keyNode(segments) : this.node(segments);
    if (!node?.range) return { path: formatPath(segments) };
    const pos = this.lineCounter.linePos(node.range[0]);
    return { path: formatPath(segments), line: pos.line, col: pos.col };
  }

  add(segments: readonly Segment[], message: string, opts: { key?: boolean } = {}): void {
    this.problems.push({ file: this.file, card: this.card, message, ...this.at(segments, opts) });
  }

  has(segments: readonly Segment[]): boolean {
    const p = formatPath(segments);
    return this.problems.some((x) => x.path === p);
  }

  hasUnder(segments: readonly Segment[]): boolean {
    const p = formatPath(segments);
    return this.problems.some((x) => x.path === p || x.path.startsWith(`${p}.`) || x.path.startsWith(`${p}[`));
  }
}

interface FileResult {
  problems: CardProblem[];
  card: ChaosCard | null;
  id: { id: string; at: { path: string; line?: number; col?: number } } | null;
}

function loadFile(file: string, text: string, playbooks: readonly string[]): FileResult {
  const stem = path.basename(file).replace(/\.ya?ml$/, '');
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const syntax: CardProblem[] = [...doc.errors, ...doc.warnings].map((err) => {
    const pos = lineCounter.linePos(err.pos[0]);
    return { file, card: stem, path: '', line: pos.line, col: pos.col, message: err.message.split('\n')[0] };
  });
  if (syntax.length > 0) return { problems: syntax, card: null, id: null };
  const raw = doc.toJS() as unknown;
  const id = isObject(raw) && typeof raw.id === 'string' ? raw.id : null;
  const ctx = new FileContext(file, id ?? stem, doc, lineCounter, playbooks);
  if (!isObject(raw)) {
    ctx.add([], 'expected a mapping: one failure card (id, title, risk, target, injection, …)');
    return { problems: ctx.problems, card: null, id: null };
  }
  const parsed = CardSchema.safeParse(raw);
  if (!parsed.success) addZodProblems(ctx, raw, parsed.error);
  if (id !== null && id !== stem) ctx.add(['id'], `card id "${id}" must equal its file's name: ${stem} (or rename the file to ${id}.yaml)`);
  checkCard(ctx, raw);
  const card = parsed.success && ctx.problems.length === 0 ? { ...parsed.data, file } : null;
  return { problems: ctx.problems, card, id: id === null ? null : { id, at: ctx.at(['id']) } };
}

function addZodProblems(ctx: FileContext, source: Record<string, unknown>, error: z.ZodError): void {
  addIssues(ctx, source, error.issues, []);
}

function addIssues(ctx: FileContext, source: Record<string, unknown>, issues: readonly z.core.$ZodIssue[], base: Segment[]): void {
  for (const issue of issues) {
    const segments = [...base, ...issue.path.map((s) => (typeof s === 'symbol' ? String(s) : s))];
    // A blast-radius file's form is checked with a better message by checks.ts (parseRadiusFile).
    if (issue.code === 'invalid_format' && segments[0] === 'blastRadius' && segments[1] === 'files') continue;
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(source, segments);
      for (const key of issue.keys) ctx.add([...segments, key], `unknown key "${key}"${suggest(key, known)}`, { key: true });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // The form the author meant is the one with the fewest problems (a target with process: is the process form).
      addIssues(ctx, source, issue.errors.reduce((a, b) => (b.length < a.length ? b : a)), segments);
    } else if (issue.code === 'invalid_union' && 'discriminator' in issue && !isMissing(source, segments)) {
      const given = valueAt(source, segments);
      ctx.add(segments, `unknown probe ${JSON.stringify(given)}${suggest(given, PROBE_NAMES)}; known: ${PROBE_NAMES.join(', ')}`);
    } else if (isMissing(source, segments)) {
      ctx.add(segments, `missing required key "${String(segments[segments.length - 1])}"`);
    } else {
      ctx.add(segments, issue.message.replace(/^Invalid (input|option): /, ''));
    }
  }
}

/** The keys the card format allows in the mapping at `segments` of `source`, for "did you mean". */
function knownKeys(source: unknown, segments: Segment[]): string[] {
  let schema: z.ZodType | undefined = CardSchema;
  let value: unknown = source;
  for (const s of segments) {
    schema = schema && childSchema(schema, s, value);
    value = isObject(value) || Array.isArray(value) ? (value as any)[s] : undefined;
  }
  const def = schema && (unwrapSchema(pickOption(schema, value))._zod.def as any);
  return def?.type === 'object' ? Object.keys(def.shape) : [];
}

function unwrapSchema(schema: z.ZodType): z.ZodType {
  const def = schema._zod.def as any;
  return ['default', 'optional', 'prefault'].includes(def.type) ? unwrapSchema(def.innerType) : schema;
}

/** A union's option that fits `value` (by a discriminating literal such as a probe's name), else the union. */
function pickOption(schema: z.ZodType, value: unknown): z.ZodType {
  const def = unwrapSchema(schema)._zod.def as any;
  if (def.type !== 'union' || !isObject(value)) return schema;
  const fits = (def.options as z.ZodType[]).filter((o) => {
    const shape = (o._zod.def as any).shape as Record<string, z.ZodType> | undefined;
    return shape !== undefined && Object.entries(shape).every(([k, v]) => (v._zod.def as any).type !== 'literal' || v.safeParse(value[k]).success);
  });
  return fits[0] ?? schema;
}

function childSchema(schema: z.ZodType, segment: Segment, value: unknown): z.ZodType | undefined {
  const def = unwrapSchema(pickOption(schema, value))._zod.def as any;
  if (def.type === 'object') return def.shape[segment];
  if (def.type === 'array') return def.element;
  return undefined;
}

function valueAt(source: unknown, segments: Segment[]): unknown {
  return segments.reduce<unknown>((v, s) => (isObject(v) || Array.isArray(v) ? (v as any)[s] : undefined), source);
}
