/**
 * Online template mining: groups masked messages into templates as they arrive.
 *
 * Messages are first looked up by their exact masked text (the common case, one hash lookup). A new
 * masked text is compared with the templates of the same length; it joins the most similar one when
 * they differ only in a few *word* positions (a user name, a host name), and those positions become
 * learned wildcards. Otherwise it starts a template of its own.
 *
 * What may differ decides what merges, with one configuration for every source:
 * - a wildcard put there by masking stands for a typed value (a number, an address, …) and never
 *   absorbs a word, so `Fan speeds ( 1 2 **** 4 )` does not merge into `Fan speeds ( 1 2 3 4 )`;
 *   only an empty value may face it (`()` against `(<*>)`);
 * - the first word names the event (`creating` / `removing device node`) and never varies;
 * - two different words elsewhere merge only when both are identifiers (`com.android.phone`,
 *   `AudioMix`) or follow a naming noun (`for user cyrus`); prose words that differ (`VM Started` /
 *   `VM Paused`, `GET` / `POST`) are different events;
 * - short messages need proportionally more agreement ({@link MinerOptions.similarity}).
 */
import { WILDCARD } from './masking';

/** The tunables of the miner. One configuration serves every source; the defaults are that configuration. */
export interface MinerOptions {
  /**
   * Least share of positions that must agree for a message to join a template: constant tokens that
   * are equal, or wildcards on both sides.
   * @default 0.7
   */
  similarity?: number;

  /**
   * Most distinct masked texts remembered for the exact-match fast path; the cache is cleared when
   * full (matching still works, only slower until it warms up again).
   * @default 200000
   */
  cacheSize?: number;
}

/** Per position: a constant token, or a wildcard from masking, or one the miner learned. */
export const enum Slot {
  Constant = 0,
  Masked = 1,
  Learned = 2,
}

/** A learned template. Mutable only through {@link TemplateMiner}. */
export interface Cluster {
  /** Index in {@link TemplateMiner.clusters}; stable for the miner's lifetime. */
  readonly index: number;
  /** Tokens; wildcard positions hold {@link WILDCARD}. */
  tokens: string[];
  /** What each position is. */
  slots: Slot[];
  /** The template text: tokens joined by single spaces. */
  template: string;
  /** Messages matched so far (in this process and, when restored, before). */
  count: number;
}

/** What {@link TemplateMiner.add} reports. */
export interface MatchResult {
  cluster: Cluster;
  /** The template changed (a new cluster, or a position became a wildcard). */
  changed: boolean;
}

/** Online template miner. Not thread-safe; one per source namespace. */
export class TemplateMiner {
  readonly clusters: Cluster[] = [];
  private readonly similarity: number;

  private readonly cacheSize: number;
  /** Exact masked text → cluster. Variants stay here after their cluster generalises. */
  private cache = new Map<string, Cluster>();
  /** Token count → clusters of that length, the only ones a message can join. */
  private readonly byLength = new Map<number, Cluster[]>();

  constructor(options: MinerOptions = {}) {
    this.similarity = options.similarity ?? 0.7;

    this.cacheSize = options.cacheSize ?? 200_000;
  }

  /**
   * Adds a masked message (from {@link maskMessage}) and returns the cluster it joined.
   * @param tokens - masked tokens; not retained when the message joins an existing template
   */
  add(tokens: readonly string[]): MatchResult {
    const key = tokens.join(' ');
    const cached = this.cache.get(key);
    if (cached) {
      cached.count++;
      return { cluster: cached, changed: false };
    }
    const best = this.bestMatch(tokens);
    let changed: boolean;
    let cluster: Cluster;
    if (best) {
      cluster = best;
      changed = this.generalise(cluster, tokens);
    } else {
      cluster = this.create(tokens);
      changed = true;
    }
    cluster.count++;
    if (this.cache.size >= this.cacheSize) this.cache = new Map();
    this.cache.set(key, cluster);
    return { cluster, changed };
  }

  /** The cluster a masked message would join, without learning anything. */
  match(tokens: readonly string[]): Cluster | undefined {
    return this.cache.get(tokens.join(' ')) ?? this.bestMatch(tokens);
  }

  /**
   * Restores a cluster from saved state (see the store). Clusters must be restored before any
   * message is added, in the order of their indexes.
   */
  restore(tokens: readonly string[], slots: readonly Slot[], count: number): Cluster {
    const cluster = this.create(tokens, slots);
    cluster.count = count;
    return cluster;
  }

  private create(tokens: readonly string[], slots?: readonly Slot[]): Cluster {
    const ownTokens = tokens.slice();
    const cluster: Cluster = {
      index: this.clusters.length,
      tokens: ownTokens,
      slots: slots ? slots.slice() : ownTokens.map((t) => (t.includes(WILDCARD) ? Slot.Masked : Slot.Constant)),
      template: ownTokens.join(' '),
      count: 0,
    };
    this.clusters.push(cluster);
    let bucket = this.byLength.get(ownTokens.length);
    if (!bucket) {
      bucket = [];
      this.byLength.set(ownTokens.length, bucket);
    }
    bucket.push(cluster);
    return cluster;
  }

  private bestMatch(tokens: readonly string[]): Cluster | undefined {
    const bucket = this.byLength.get(tokens.length);
    if (!bucket || tokens.length === 0) return bucket?.[0];
    let best: Cluster | undefined;
    let bestScore = -1;
    for (const cluster of bucket) {
      const score = this.score(cluster, tokens);
      if (score > bestScore) {
        best = cluster;
        bestScore = score;
      }
    }
    return bestScore >= this.similarity ? best : undefined;
  }

  /**
   * Share of agreeing positions, or -1 when the message cannot join: a masked (typed) wildcard
   * facing a word, or a message token with a masked part facing a different constant.
   */
  private score(cluster: Cluster, tokens: readonly string[]): number {
    let agree = 0;
    const n = tokens.length;
    for (let i = 0; i < n; i++) {
      const token = tokens[i];
      const own = cluster.tokens[i];
      const slot = cluster.slots[i];
      if (slot === Slot.Learned || token === own) {
        agree++;
      } else if (slot === Slot.Masked) {
        if (!isEmptyValueOf(token, own)) return -1;
        agree++;
      } else if (token.includes(WILDCARD)) {
        if (!isEmptyValueOf(own, token)) return -1;
        agree++;
      } else if (i === 0 || !(isNamingNoun(tokens[i - 1]) || (isIdentifier(token) && isIdentifier(own)))) {
        // Two different words: the first word of a message names its event (a verb, a component),
        // and prose words elsewhere too, unless a naming noun or identifier shape says "value".
        return -1;
      }
    }
    return agree / n;
  }

  /**
   * Turns the positions where the message differs into learned wildcards, and a constant that was
   * an empty value of a masked token into that masked token.
   */
  private generalise(cluster: Cluster, tokens: readonly string[]): boolean {
    let changed = false;
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i];
      if (cluster.slots[i] !== Slot.Constant || cluster.tokens[i] === token) continue;
      if (token.includes(WILDCARD) && isEmptyValueOf(cluster.tokens[i], token)) {
        cluster.tokens[i] = token;
        cluster.slots[i] = Slot.Masked;
      } else {
        cluster.tokens[i] = WILDCARD;
        cluster.slots[i] = Slot.Learned;
      }
      changed = true;
    }
    if (changed) cluster.template = cluster.tokens.join(' ');
    return changed;
  }
}

/**
 * Whether `literal` is `masked` with its variable parts empty: `()` for `(<*>)`, `ruser=` for
 * `ruser=<*>`. An absent value is still the same slot of the same event.
 */
function isEmptyValueOf(literal: string, masked: string): boolean {
  return masked.length - literal.length >= WILDCARD.length && masked.split(WILDCARD).join('') === literal;
}

/**
 * Whether a word looks like an identifier (a name made up by a program) rather than a word of the
 * message's prose: it joins pieces with `.`, `_`, `-`, `$`, `/`, `#` or `:`, or is camelCase.
 * Prose words that differ (`Started`/`Paused`, `GET`/`POST`) usually name different events;
 * identifiers that differ are usually values.
 */
export function isIdentifier(token: string): boolean {
  let lower = false;
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    if (c === 46 || c === 95 || c === 45 || c === 36 || c === 47 || c === 35 || c === 58) {
      if (i > 0 && i < token.length - 1) return true;
    } else if (c >= 97 && c <= 122) {
      lower = true;
    } else if (c >= 65 && c <= 90 && lower) {
      return true;
    }
  }
  return false;
}

/**
 * Nouns after which log messages put a name: `for user cyrus`, `on host db1`. The word after one
 * is a value even when it looks like prose.
 */
const NAMING_NOUNS = new Set(['user', 'users', 'username', 'login', 'account', 'group', 'owner', 'host', 'hostname', 'server', 'node', 'domain', 'service']);

function isNamingNoun(token: string): boolean {
  return NAMING_NOUNS.has(token.toLowerCase());
}
