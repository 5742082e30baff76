/**
 * The signature engine: message → masked tokens → learned template → signature id, with every id
 * ever issued kept resolvable after its template generalises.
 */
import { DEFAULT_MAX_TOKENS, maskMessage } from './masking';
import { TemplateMiner, type Cluster, type MinerOptions, type Slot } from './miner';
import { signatureId, type SignatureSource } from './signature';

/** An error to sign: where it came from and its message (or a raw log line). */
export interface SignatureInput extends SignatureSource {
  message: string;
}

/** A signature and the template it names. */
export interface Signature {
  /** The id, see {@link signatureId}. */
  signature: string;
  /** The template, variable parts as `<*>`. */
  template: string;
}

/** Options of {@link SignatureEngine}. The defaults are the one configuration for every source. */
export interface SignatureEngineOptions extends MinerOptions {
  /** Tokens per message kept for mining. @default 256 */
  maxTokens?: number;
}

/**
 * The saved form of one learned template, as the store keeps it. `ids` lists every id the template
 * has had, oldest first; the last one is current.
 */
export interface TemplateRecord {
  kernel: string;
  errorType: string;
  /** Creation order within its source, so a restore rebuilds the same matching order. */
  order: number;
  tokens: string[];
  slots: Slot[];
  count: number;
  ids: string[];
  /**
   * The group of templates it belongs to within its source (see {@link TemplateMiner}); absent in
   * records saved before groups existed, which restore as a group each.
   */
  group?: number;
  /**
   * Set when the template merged into another of its group: the first id of that template, which
   * holds this one's ids too. A merged record is kept so that a store overwrites its old state.
   */
  mergedInto?: string;
}

/** The miner of one source and the entry of each of its clusters, by cluster index. */
interface Space {
  miner: TemplateMiner;
  entries: Entry[];
}

/** One learned template with the ids it has had. */
interface Entry {
  readonly source: Required<SignatureSource>;
  readonly cluster: Cluster;
  readonly miner: TemplateMiner;
  ids: string[];
  current: Signature;
  /** The entry it merged into, when its template became the same as an older one. */
  mergedInto?: Entry;
}

/**
 * Learns templates online and names them. One miner per source (kernel + error type), so templates
 * from different sources never merge.
 *
 * @example
 * const engine = new SignatureEngine();
 * engine.sign({ kernel: 'message_bus', errorType: 'ACLViolation', message: 'denied user 42' });
 * // → { signature: 'message_bus_ACLViolation_…', template: 'denied user <*>' }
 */
export class SignatureEngine {
  private readonly options: SignatureEngineOptions;
  private readonly maxTokens: number;
  /** kernel → error type → its miner and entries (nested maps: no key string built per message). */
  private readonly miners = new Map<string, Map<string, Space>>();
  /** Every id ever issued → its template. Old ids after a generalisation point at the same entry. */
  private readonly aliases = new Map<string, Entry>();
  private readonly dirty = new Set<Entry>();
  /** Whether anything was signed yet: restoring after that would interleave two histories. */
  private signed = false;

  constructor(options: SignatureEngineOptions = {}) {
    this.options = options;
    this.maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  }

  /** Signs a message, learning from it. */
  sign(input: SignatureInput): Signature {
    this.signed = true;
    const kernel = input.kernel ?? '';
    const errorType = input.errorType ?? '';
    const space = this.space(kernel, errorType);
    const { cluster } = space.miner.add(maskMessage(input.message, this.maxTokens));
    for (const touched of space.miner.takeChanged()) this.update(space, touched);
    let entry = space.entries[cluster.index];
    if (!entry) {
      entry = this.newEntry({ kernel, errorType }, space.miner, cluster);
      space.entries[cluster.index] = entry;
    }
    this.dirty.add(entry);
    return entry.current;
  }

  /**
   * The current signature for an id issued at any time, or `undefined` for an id this engine never
   * issued. An id from before a generalisation resolves to the generalised template.
   */
  resolve(id: string): Signature | undefined {
    const entry = this.aliases.get(id);
    return entry ? live(entry).current : undefined;
  }

  /** Every learned template, in the form the store saves. */
  records(): TemplateRecord[] {
    return [...this.miners.values()].flatMap((byType) => [...byType.values()].flatMap((s) => s.entries.map((e) => toRecord(e))));
  }

  /** Templates learned or matched since the last call; the store saves only these. */
  takeChanged(): TemplateRecord[] {
    const changed = [...this.dirty].map((e) => toRecord(e));
    this.dirty.clear();
    return changed;
  }

  /**
   * Loads saved templates. Call before signing anything; records may come in any order.
   * @throws Error when this engine has already learned templates for a source being restored
   */
  restore(records: readonly TemplateRecord[]): void {
    if (this.signed) throw new Error('restore() must come before sign()');
    const sorted = [...records].sort((a, b) => a.order - b.order || (a.ids[0] < b.ids[0] ? -1 : 1));
    // A merged template's ids are among those of the template it merged into, which restores them.
    for (const record of sorted.filter((r) => r.mergedInto === undefined)) {
      const space = this.space(record.kernel, record.errorType);
      const cluster = space.miner.restore(record.tokens, record.slots, record.count, record.group);
      const entry: Entry = {
        source: { kernel: record.kernel, errorType: record.errorType },
        miner: space.miner,
        cluster,
        ids: [...record.ids],
        current: { signature: record.ids[record.ids.length - 1], template: cluster.template },
      };
      // The current id is the hash of the restored text; if the saved one differs, it stays an alias.
      this.rename(entry);
      for (const id of entry.ids) this.aliases.set(id, entry);
      space.entries[cluster.index] = entry;
    }
  }

  private space(kernel: string, errorType: string): Space {
    let byType = this.miners.get(kernel);
    if (!byType) {
      byType = new Map();
      this.miners.set(kernel, byType);
    }
    let space = byType.get(errorType);
    if (!space) {
      space = { miner: new TemplateMiner(this.options), entries: [] };
      byType.set(errorType, space);
    }
    return space;
  }

  private newEntry(source: Required<SignatureSource>, miner: TemplateMiner, cluster: Cluster): Entry {
    const id = signatureId(cluster.template, source);
    const entry: Entry = { source, miner, cluster, ids: [id], current: { signature: id, template: cluster.template } };
    this.aliases.set(id, entry);
    return entry;
  }

  /** A template the miner changed: rename it, or fold it into the one it merged into. */
  private update(space: Space, cluster: Cluster): void {
    const entry = space.entries[cluster.index];
    if (!entry) return; // created by this very message: named when its entry is made
    this.dirty.add(entry);
    if (!cluster.mergedInto) {
      this.rename(entry);
      return;
    }
    let target = cluster.mergedInto;
    while (target.mergedInto) target = target.mergedInto;
    const survivor = space.entries[target.index];
    if (entry.mergedInto === survivor) return;
    entry.mergedInto = survivor;
    for (const id of entry.ids) {
      if (!survivor.ids.includes(id)) survivor.ids.splice(survivor.ids.length - 1, 0, id);
      this.aliases.set(id, survivor);
    }
    this.dirty.add(survivor);
  }

  /** After a generalisation: issue the id of the new template and keep the old ones as aliases. */
  private rename(entry: Entry): void {
    const id = signatureId(entry.cluster.template, entry.source);
    const at = entry.ids.indexOf(id);
    if (at >= 0 && at !== entry.ids.length - 1) entry.ids.splice(at, 1);
    if (entry.ids[entry.ids.length - 1] !== id) entry.ids.push(id);
    entry.current = { signature: id, template: entry.cluster.template };
    this.aliases.set(id, entry);
  }
}

/** The entry that holds an entry's messages now. */
function live(entry: Entry): Entry {
  let current = entry;
  while (current.mergedInto) current = current.mergedInto;
  return current;
}

function toRecord(entry: Entry): TemplateRecord {
  return {
    group: entry.cluster.group,
    ...(entry.mergedInto ? { mergedInto: live(entry).ids[0] } : {}),
    kernel: entry.source.kernel,
    errorType: entry.source.errorType,
    order: entry.cluster.index,
    tokens: [...entry.cluster.tokens],
    slots: [...entry.cluster.slots],
    count: entry.cluster.count,
    ids: [...entry.ids],
  };
}
