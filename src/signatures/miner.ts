/**
 * Online template mining: groups masked messages into templates as they arrive, and learns which
 * *word* positions are variables from how they behave, not from what the words are.
 *
 * Two levels, after Drain (a similarity threshold over messages of one length) and Brain (a column
 * with many distinct values is a variable, one with few is part of the event):
 * - a **group** gathers messages of one token count that agree in at least
 *   {@link MinerOptions.similarity} of its event positions. For each position the group remembers
 *   the distinct words it has seen there, until there are more than {@link MinerOptions.variety}
 *   (or two qualified names, or two words that another group's position has seen after the same
 *   word): then the position is a variable for the whole group, for good. When a group generalises,
 *   the groups of its length that now resemble it merge into the older;
 * - a **template** (a {@link Cluster}) is a message of the group with its variable positions masked.
 *   Messages of one group that differ in a position that has shown few values (`VM Started` /
 *   `VM Paused`, `creating` / `removing device node`) keep apart; once a position has shown many
 *   (user names, host names, program names), the templates that differed only there merge.
 *
 * Masking has already replaced values by their shape (numbers, addresses, paths, …). A wildcard put
 * there by masking stands for a typed value and never faces a plain word in one group, so
 * `Fan speeds ( 1 2 **** 4 )` never joins `Fan speeds ( 1 2 3 4 )`; only an empty value may face it
 * (`()` against `(<*>)`).
 *
 * Everything is deterministic: the same messages in the same order give the same templates, and a
 * miner restored from its templates ({@link TemplateMiner.restore}) continues as the original would.
 */
import { WILDCARD } from './masking';

/** The tunables of the miner. One configuration serves every source; the defaults are that configuration. */
export interface MinerOptions {
  /**
   * Least share of a group's event positions (those not yet variables, and not a bare `<*>` on
   * both sides) in which a message must hold a word the position has seen, to join the group.
   * @default 0.7
   */
  similarity?: number;

  /**
   * Most distinct words a position of a group may show and still be part of the event. One more
   * and the position is a variable.
   * @default 4
   */
  variety?: number;

  /**
   * Whether a position whose distinct words are all qualified names (`com.android.phone`,
   * `temporal.uiPort`, see {@link isIdentifier}) is a variable as soon as it shows two of them.
   * @default true
   */
  identifiers?: boolean;

  /**
   * Whether a position that shares two or more words with a position of another group, after the
   * same word, is a variable however few words it has shown: the same names after the same word in
   * two events are a domain of values (`for user cyrus`, `for user news`).
   * @default true
   */
  sharedValues?: boolean;

  /**
   * Most distinct masked texts remembered for the exact-match fast path; the cache is cleared when
   * full (matching still works, only slower until it warms up again).
   * @default 200000
   */
  cacheSize?: number;
}

/** The defaults of {@link MinerOptions}, the one configuration for every source. */
export const DEFAULT_MINER_OPTIONS: Readonly<Required<Omit<MinerOptions, 'cacheSize'>>> = {
  similarity: 0.7,
  variety: 4,
  identifiers: true,
  sharedValues: true,
};

/** Per position of a template: a constant token, or a wildcard from masking, or one the miner learned. */
export const enum Slot {
  Constant = 0,
  Masked = 1,
  Learned = 2,
}

/** A learned template. Mutable only through {@link TemplateMiner}. */
export interface Cluster {
  /** Index in {@link TemplateMiner.clusters}; stable for the miner's lifetime. */
  readonly index: number;
  /** Index of its group in creation order (of the older group, after two groups merged). */
  group: number;
  /** Tokens; wildcard positions hold {@link WILDCARD}. */
  tokens: string[];
  /** What each position is. */
  slots: Slot[];
  /** The template text: tokens joined by single spaces. */
  template: string;
  /** Messages matched so far (in this process and, when restored, before). */
  count: number;
  /** Set when the template became identical to an older one of its group and merged into it. */
  mergedInto?: Cluster;
}

/** What {@link TemplateMiner.add} reports. */
export interface MatchResult {
  /** The template the message belongs to now (never a merged one). */
  cluster: Cluster;
  /** The message's template is new, or changed (a position became a wildcard). */
  changed: boolean;
}

/** One position of a group: the distinct words seen there, or `null` once it is a variable. */
interface Column {
  values: string[] | null;
  /** Whether the words here are masked tokens (`<*>`, `(uid=<*>)`) rather than plain words. */
  masked: boolean;
}

interface Group {
  readonly index: number;
  readonly columns: Column[];
  /** Its live templates by text. */
  readonly byTemplate: Map<string, Cluster>;
  /** Its templates, merged ones included, in creation order. */
  readonly clusters: Cluster[];
  /** Set when it merged into an older group (its entries in the word index are then stale). */
  merged?: boolean;
}

/** Online template miner. Not thread-safe; one per source namespace. */
export class TemplateMiner {
  readonly clusters: Cluster[] = [];
  private readonly groups: Group[] = [];
  private readonly similarity: number;
  private readonly variety: number;
  private readonly identifiers: boolean;
  private readonly sharedValues: boolean;
  private readonly cacheSize: number;
  /** Exact masked text → the template it went to (follow `mergedInto` for the live one). */
  private cache = new Map<string, Cluster>();
  /** Token count → groups of that length, the only ones a message can join. */
  private readonly byLength = new Map<number, Group[]>();
  /**
   * Length, position and word → the groups that have seen that word there (and the empty form of a
   * masked word, `()` for `(<*>)`): the only groups a message can agree with anywhere, so a new
   * message is scored against those, not against every group of its length.
   */
  private readonly seenAt = new Map<string, Group[]>();
  /** Existing templates changed or merged since the last {@link takeChanged}. */
  private changed: Cluster[] = [];
  /** Index of the next group: merged groups leave gaps, so not the count of groups. */
  private nextGroup = 0;
  /** Set by {@link learn} when a position of the group became a variable or changed its kind. */
  private rewritten = false;

  constructor(options: MinerOptions = {}) {
    this.similarity = options.similarity ?? DEFAULT_MINER_OPTIONS.similarity;
    this.variety = options.variety ?? DEFAULT_MINER_OPTIONS.variety;
    this.identifiers = options.identifiers ?? DEFAULT_MINER_OPTIONS.identifiers;
    this.sharedValues = options.sharedValues ?? DEFAULT_MINER_OPTIONS.sharedValues;
    this.cacheSize = options.cacheSize ?? 200_000;
  }

  /**
   * Adds a masked message (from {@link maskMessage}) and returns the template it belongs to.
   * Templates that changed on the way (a position of their group became a variable, or they merged
   * into another) are reported by {@link takeChanged}.
   * @param tokens - masked tokens; not retained when the message joins an existing template
   */
  add(tokens: readonly string[]): MatchResult {
    const key = tokens.join(' ');
    const cached = this.cache.get(key);
    if (cached) {
      const live = liveCluster(cached);
      live.count++;
      return { cluster: live, changed: false };
    }
    let group = this.bestGroup(tokens);
    if (!group) group = this.createGroup(tokens.length);
    let normalised = this.learn(group, tokens);
    if (this.rewritten) {
      this.rewritten = false;
      const live = this.absorbSimilar(group);
      if (live !== group) {
        group = live;
        normalised = normalised.map((t, i) => normaliseAgainst(live.columns[i], t));
      }
    }
    const { tokens: own, slots } = this.templateOf(group, normalised);
    const template = own.join(' ');
    let cluster = group.byTemplate.get(template);
    let changed = false;
    if (!cluster) {
      cluster = this.createCluster(group, own, slots);
      changed = true;
    }
    cluster.count++;
    if (this.cache.size >= this.cacheSize) this.cache = new Map();
    this.cache.set(key, cluster);
    return { cluster, changed };
  }

  /** The template a masked message would belong to, without learning anything. */
  match(tokens: readonly string[]): Cluster | undefined {
    const cached = this.cache.get(tokens.join(' '));
    if (cached) return liveCluster(cached);
    const group = this.bestGroup(tokens);
    if (!group) return undefined;
    const normalised = tokens.map((t, i) => normaliseAgainst(group.columns[i], t));
    return group.byTemplate.get(this.templateOf(group, normalised).tokens.join(' '));
  }

  /** Templates that changed or merged since the last call (each once, in the order it happened). */
  takeChanged(): Cluster[] {
    const out = [...new Set(this.changed)];
    this.changed = [];
    return out;
  }

  /**
   * Restores a template from saved state (see the store). Templates must be restored before any
   * message is added, in the order of their indexes; those of one group name the same `group`.
   * A group's positions are rebuilt from its templates: a learned wildcard in any of them makes the
   * position a variable, and otherwise the words its templates hold there are the words it has seen.
   */
  restore(tokens: readonly string[], slots: readonly Slot[], count: number, group?: number): Cluster {
    let target = group === undefined ? undefined : this.groups.find((g) => g.index === group);
    if (!target) target = this.createGroup(tokens.length, group);
    for (let i = 0; i < tokens.length; i++) {
      const column = target.columns[i];
      if (column.values === null) continue;
      if (slots[i] === Slot.Learned) {
        column.values = null;
      } else {
        if (column.values.length === 0) column.masked = slots[i] === Slot.Masked;
        if (!column.values.includes(tokens[i])) this.addValue(target, i, tokens[i]);
      }
    }
    const cluster = this.createCluster(target, tokens.slice(), slots.slice());
    cluster.count = count;
    return cluster;
  }

  private createGroup(length: number, index = this.nextGroup): Group {
    this.nextGroup = Math.max(this.nextGroup, index + 1);
    const group: Group = {
      index,
      columns: Array.from({ length }, () => ({ values: [], masked: false })),
      byTemplate: new Map(),
      clusters: [],
    };
    this.groups.push(group);
    let bucket = this.byLength.get(length);
    if (!bucket) {
      bucket = [];
      this.byLength.set(length, bucket);
    }
    bucket.push(group);
    return group;
  }

  private createCluster(group: Group, tokens: string[], slots: Slot[]): Cluster {
    const cluster: Cluster = { index: this.clusters.length, group: group.index, tokens, slots, template: tokens.join(' '), count: 0 };
    this.clusters.push(cluster);
    group.clusters.push(cluster);
    group.byTemplate.set(cluster.template, cluster);
    return cluster;
  }

  /** Records a word at a position of a group, and where to find the group by it. */
  private addValue(group: Group, i: number, value: string): void {
    group.columns[i].values?.push(value);
    this.index(group, i, value);
    if (value.includes(WILDCARD)) this.index(group, i, value.split(WILDCARD).join(''));
  }

  private index(group: Group, i: number, value: string): void {
    const key = seenKey(group.columns.length, i, value);
    const groups = this.seenAt.get(key);
    if (!groups) this.seenAt.set(key, [group]);
    else if (groups[groups.length - 1] !== group) groups.push(group);
  }

  /**
   * The group a message is most similar to, when similar enough; the oldest wins a tie. Only groups
   * that have seen one of its words at its position can reach the threshold (a group always keeps a
   * position of its event), so only those are scored.
   */
  private bestGroup(tokens: readonly string[]): Group | undefined {
    const n = tokens.length;
    const bucket = this.byLength.get(n);
    if (!bucket) return undefined;
    if (n === 0) return bucket[0];
    const found = new Set<Group>();
    for (let i = 0; i < n; i++) {
      const token = tokens[i];
      for (const g of this.seenAt.get(seenKey(n, i, token)) ?? []) if (!g.merged) found.add(g);
      if (!token.includes(WILDCARD)) continue;
      for (const g of this.seenAt.get(seenKey(n, i, token.split(WILDCARD).join(''))) ?? []) if (!g.merged) found.add(g);
    }
    const candidates = [...found].sort((a, b) => a.index - b.index);
    let best: Group | undefined;
    let bestScore = -1;
    for (const group of candidates) {
      const score = scoreGroup(group, tokens);
      if (score > bestScore) {
        best = group;
        bestScore = score;
      }
    }
    return bestScore >= this.similarity ? best : undefined;
  }

  /**
   * Records the message's words in its group's positions; a position that shows too many distinct
   * words becomes a variable, and the group's templates are rewritten. Returns the message's tokens
   * with empty values replaced by the masked token they stand for.
   */
  private learn(group: Group, tokens: readonly string[]): string[] {
    const normalised = new Array<string>(tokens.length);
    let rewrite = false;
    for (let i = 0; i < tokens.length; i++) {
      const column = group.columns[i];
      let token = tokens[i];
      const values = column.values;
      if (values === null) {
        normalised[i] = token;
        continue;
      }
      if (values.length === 0) {
        column.masked = token.includes(WILDCARD);
        this.addValue(group, i, token);
      } else if (!values.includes(token)) {
        const masked = token.includes(WILDCARD);
        if (masked === column.masked) {
          this.addValue(group, i, token);
          const varied = values.length > this.variety || (this.identifiers && values.every(isIdentifier));
          if (varied && keepsAConstant(group, i)) {
            column.values = null;
            rewrite = true;
          } else if (!varied && this.sharedValues && !masked && this.shareDomain(group, i)) {
            rewrite = true;
          }
        } else if (masked) {
          // `()` was seen here and now `(<*>)`: the literal was the masked token with an empty value.
          const replaced = values.map((v) => (isEmptyValueOf(v, token) ? token : v));
          column.values = [];
          column.masked = true;
          for (const v of new Set(replaced)) this.addValue(group, i, v);
          rewrite = true;
        } else {
          token = values.find((v) => isEmptyValueOf(token, v)) ?? token;
        }
      }
      normalised[i] = token;
    }
    if (rewrite) {
      this.rewriteGroup(group);
      this.rewritten = true;
    }
    return normalised;
  }

  /**
   * Whether the words of a position are also the words of a position of another group (two or more
   * in common, after the same word): the same few names in two different events are a domain of
   * values — the users of `session opened for user X` and `session closed for user X` — where the
   * words of one event's position (`VM Started` / `VM Paused`) stay with it. Both positions become
   * variables.
   */
  private shareDomain(group: Group, i: number): boolean {
    const values = group.columns[i].values;
    if (values === null || values.length < 2) return false;
    for (const other of this.groups) {
      if (other === group) continue;
      for (let j = 0; j < other.columns.length; j++) {
        const column = other.columns[j];
        if (column.values === null || column.masked || column.values.length < 2) continue;
        let common = 0;
        for (const v of column.values) if (values.includes(v)) common++;
        if (common < 2 || !sameNeighbour(group, i, other, j)) continue;
        if (!keepsAConstant(group, i) || !keepsAConstant(other, j)) continue;
        group.columns[i].values = null;
        column.values = null;
        this.rewriteGroup(other);
        return true;
      }
    }
    return false;
  }

  /**
   * After a group generalised, the groups of its length that it now resembles join it (the younger
   * into the older): messages that came before a position was known to vary may have started groups
   * of their own, which the order of arrival alone would otherwise keep apart for good.
   * @returns the group that holds `group`'s templates now
   */
  private absorbSimilar(group: Group): Group {
    let target = group;
    const bucket = this.byLength.get(group.columns.length) ?? [];
    for (let merged = true; merged; ) {
      merged = false;
      for (const other of bucket) {
        if (other === target || groupSimilarity(target, other) < this.similarity) continue;
        const [older, younger] = other.index < target.index ? [other, target] : [target, other];
        this.mergeGroups(older, younger);
        target = older;
        merged = true;
        break;
      }
    }
    return target;
  }

  /** Moves the younger group's templates into the older, whose positions learn the younger's words. */
  private mergeGroups(older: Group, younger: Group): void {
    for (let i = 0; i < older.columns.length; i++) {
      const column = older.columns[i];
      const incoming = younger.columns[i].values;
      if (column.values === null) continue;
      if (incoming === null) {
        column.values = null;
        continue;
      }
      for (const v of incoming) if (!column.values.includes(v)) this.addValue(older, i, v);
      if (column.values.length > this.variety || (this.identifiers && column.values.length > 1 && column.values.every(isIdentifier))) {
        if (keepsAConstant(older, i)) column.values = null;
      }
    }
    for (const cluster of younger.clusters) {
      cluster.group = older.index;
      older.clusters.push(cluster);
      this.changed.push(cluster);
    }
    older.clusters.sort((a, b) => a.index - b.index);
    const bucket = this.byLength.get(younger.columns.length) ?? [];
    bucket.splice(bucket.indexOf(younger), 1);
    younger.merged = true;
    this.groups.splice(this.groups.indexOf(younger), 1);
    this.rewriteGroup(older);
  }

  /** The template of a message in a group: its tokens with the group's variable positions masked. */
  private templateOf(group: Group, tokens: readonly string[]): { tokens: string[]; slots: Slot[] } {
    const out = new Array<string>(tokens.length);
    const slots = new Array<Slot>(tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      const column = group.columns[i];
      if (column.values === null) {
        out[i] = WILDCARD;
        slots[i] = Slot.Learned;
      } else {
        out[i] = tokens[i];
        slots[i] = column.masked ? Slot.Masked : Slot.Constant;
      }
    }
    return { tokens: out, slots };
  }

  /**
   * Rewrites every live template of a group after one of its positions changed, merging templates
   * that became the same text into the oldest of them.
   */
  private rewriteGroup(group: Group): void {
    group.byTemplate.clear();
    for (const cluster of group.clusters) {
      if (cluster.mergedInto) continue;
      const normalised = cluster.tokens.map((t, i) => normaliseAgainst(group.columns[i], t));
      const { tokens, slots } = this.templateOf(group, normalised);
      const template = tokens.join(' ');
      const survivor = group.byTemplate.get(template);
      if (survivor) {
        cluster.mergedInto = survivor;
        survivor.count += cluster.count;
        this.changed.push(cluster, survivor);
        continue;
      }
      if (template !== cluster.template) {
        cluster.tokens = tokens;
        cluster.slots = slots;
        cluster.template = template;
        this.changed.push(cluster);
      }
      group.byTemplate.set(template, cluster);
    }
  }
}

/**
 * How much two groups of one length share of their events: over the positions that are part of the
 * event in both (a variable in either says nothing), the share where they have seen a word in common.
 * -1 when a position holds masked values in one and plain words in the other.
 */
function groupSimilarity(a: Group, b: Group): number {
  let agree = 0;
  let informative = 0;
  for (let i = 0; i < a.columns.length; i++) {
    const va = a.columns[i].values;
    const vb = b.columns[i].values;
    if (va === null || vb === null) continue;
    if (a.columns[i].masked !== b.columns[i].masked) return -1;
    const shared = va.some((v) => vb.includes(v));
    if (shared && va.length === 1 && va[0] === WILDCARD) continue;
    informative++;
    if (shared) agree++;
  }
  return informative === 0 ? 1 : agree / informative;
}

/**
 * Whether two positions follow the same constant word (`user` in `for user X`), or, when one of
 * them opens its message, precede the same one: the same few words after the same word are values
 * of one kind, where `session opened` / `session closed` and `connection opened` / `connection
 * closed` are events of two kinds.
 */
function sameNeighbour(a: Group, i: number, b: Group, j: number): boolean {
  const step = i > 0 && j > 0 ? -1 : 1;
  const na = a.columns[i + step]?.values;
  const nb = b.columns[j + step]?.values;
  return !!na && !!nb && na.length === 1 && nb.length === 1 && na[0] === nb[0];
}

/**
 * Whether a group keeps some position of its event if position `i` becomes a variable: a group of
 * wildcards alone would be every message of its length.
 */
function keepsAConstant(group: Group, i: number): boolean {
  return group.columns.some((c, j) => j !== i && c.values !== null && !(c.masked && c.values.length === 1 && c.values[0] === WILDCARD));
}

function seenKey(length: number, i: number, value: string): string {
  return `${length}\u0000${i}\u0000${value}`;
}

/** Follows merges to the template that holds a message now. */
function liveCluster(cluster: Cluster): Cluster {
  let live = cluster;
  while (live.mergedInto) live = live.mergedInto;
  return live;
}

/**
 * Share of a message's informative positions in which it agrees with a group, or -1 when it cannot
 * join: a plain word where the group has masked values, or the reverse, unless it is their empty
 * form. Only the group's event counts: a position that has become a variable, or where both sides
 * are a bare `<*>`, says nothing either way, so a message with several names in it (a host, a
 * program, a user) is as similar to its group as one with none. A group always keeps some position
 * of its event ({@link keepsAConstant}), so it cannot attract every message of its length.
 */
function scoreGroup(group: Group, tokens: readonly string[]): number {
  let agree = 0;
  let informative = 0;
  const n = tokens.length;
  for (let i = 0; i < n; i++) {
    const column = group.columns[i];
    const values = column.values;
    const token = tokens[i];
    if (values === null) continue;
    if (token === WILDCARD && column.masked) {
      if (values.includes(WILDCARD)) continue;
    } else if (values.includes(token)) {
      informative++;
      agree++;
      continue;
    }
    informative++;
    const masked = token.includes(WILDCARD);
    if (masked === column.masked) continue;
    if (masked ? values.every((v) => isEmptyValueOf(v, token)) : values.some((v) => isEmptyValueOf(token, v))) {
      agree++;
      continue;
    }
    return -1;
  }
  return informative === 0 ? 1 : agree / informative;
}

/** A token as its group's position knows it: the empty form of a masked value becomes that value. */
function normaliseAgainst(column: Column, token: string): string {
  if (column.values === null || !column.masked || token.includes(WILDCARD)) return token;
  return column.values.find((v) => isEmptyValueOf(token, v)) ?? token;
}

/**
 * Whether `literal` is `masked` with its variable parts empty: `()` for `(<*>)`, `ruser=` for
 * `ruser=<*>`. An absent value is still the same slot of the same event.
 */
function isEmptyValueOf(literal: string, masked: string): boolean {
  return masked.length - literal.length >= WILDCARD.length && masked.includes(WILDCARD) && masked.split(WILDCARD).join('') === literal;
}

/**
 * Whether a word is a qualified name — pieces of letters joined by `.` or `/` (`com.android.phone`,
 * `temporal.uiPort`, `postfix/smtpd`) — the shape of a name a program made up rather than a word
 * of its prose. Two of them at one position are two values of one slot. This is about the word's
 * shape only; no word is known in advance.
 */
export function isIdentifier(token: string): boolean {
  for (let i = 1; i < token.length - 1; i++) {
    const c = token.charCodeAt(i);
    if ((c === 46 || c === 47) && isLetterCode(token.charCodeAt(i - 1)) && isLetterCode(token.charCodeAt(i + 1))) return true;
  }
  return false;
}

function isLetterCode(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
