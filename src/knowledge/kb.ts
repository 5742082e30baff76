/**
 * The knowledge base: one entry per error signature — what was seen of it and how its remedies
 * fared. The incident workflow's activities write it; `layer1 kb` reads it.
 *
 * FerretDB v1 (on SQLite) applies an update by reading the document and writing it back, with
 * nothing in between to stop another update: concurrent updates of one document lose each other's
 * changes — `$inc` included, and so a compare-and-set on a version field too (measured on the
 * embedded FerretDB 1.24: 50 concurrent `$inc` of one counter left it at 6 or 7; 20 concurrent
 * compare-and-sets on one version all but a few "won"). What it does
 * keep is the unique `_id`: of concurrent inserts of one `_id`, exactly one succeeds. So every
 * fact is a document of its own, inserted once under an id that names it, and the entry is derived
 * from them:
 *
 * - `knowledge_base_events`: `obs:<signature>:<evidence id>` per piece of evidence (both replicas
 *   reporting it insert the same id: counted once), `out:<signature>:<outcome id>` per verified
 *   remedy outcome (recorded once), `switch:<signature>:<time>:<nonce>` per operator switch (the
 *   newest wins).
 * - `knowledge_base` (`_id` = the signature): the entry as last derived, written after each event
 *   (a materialised view for readers of the collection). Two writers racing may leave it one event
 *   behind; the next write repairs it, and `get`/`list` always derive the entry from the events, so
 *   a crash between the insert and the view's write loses nothing either.
 *
 * `confidence` and `autoApply` are recomputed from the counters and the current settings on every
 * derivation, never trusted from storage.
 */
import { randomUUID } from 'node:crypto';
import { MongoServerError, type Collection, type Db } from 'mongodb';
import { KNOWLEDGE_BASE_COLLECTION, KNOWLEDGE_BASE_EVENTS_COLLECTION } from '../clients/collections';
import { autoApplyOf, confidenceOf, type KnowledgeSettings } from './confidence';
import { UnknownSignatureError } from './errors';
import type { KnowledgeEntry, KnowledgeRemedy, RemedyOutcome } from './types';

/** The stored view: the entry, dates as dates, `_id` the signature, and how many heals each mean is over. */
export type KnowledgeDoc = Omit<KnowledgeEntry, 'signature' | 'firstSeen' | 'lastSeen'> & {
  _id: string;
  firstSeen: Date;
  lastSeen: Date;
  healsKnown: number;
  healsNew: number;
  derivedAt: Date;
};

interface EventBase {
  _id: string;
  signature: string;
  at: Date;
}
export interface ObservationEvent extends EventBase {
  type: 'observation';
  evidenceId: string;
  template: string;
  kernel: string | null;
  errorType: string;
  text: string;
}
export interface OutcomeEvent extends EventBase {
  type: 'outcome';
  outcomeId: string;
  ok: boolean;
  remedy: KnowledgeRemedy;
  timeToHealMs: number | null;
  autoApplied: boolean;
}
export interface SwitchEvent extends EventBase {
  type: 'switch';
  autoApply: boolean;
}
export type KnowledgeEvent = ObservationEvent | OutcomeEvent | SwitchEvent;

export interface Observation {
  /** The evidence's id: observing the same evidence again (the other replica's report) counts once. */
  evidenceId: string;
  signature: string;
  template: string;
  kernel: string | null;
  errorType: string;
  /** The text it was seen in (kept among the bounded examples). */
  text: string;
  at: Date | string | number;
}

const toDate = (at: Date | string | number): Date => (at instanceof Date ? at : new Date(at));
const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === 11000;

/** What an entry is derived from: its observations (bounded: the count, the oldest, the newest), outcomes and newest switch. */
export interface EntryFacts {
  signature: string;
  occurrences: number;
  /** Oldest observation first. */
  oldest: ObservationEvent | null;
  /** The newest observations, newest first (at least `settings.examples` of them when there are). */
  newest: ObservationEvent[];
  outcomes: OutcomeEvent[];
  lastSwitch: SwitchEvent | null;
}

const byTime = (a: EventBase, b: EventBase): number => a.at.getTime() - b.at.getTime() || (a._id < b._id ? -1 : a._id > b._id ? 1 : 0);
const mean = (xs: number[]): number | null => (xs.length ? Math.round(xs.reduce((s, x) => s + x, 0) / xs.length) : null);

/**
 * Each signature's facts from its events (pure): the count of observations, the oldest, the newest
 * `examples` (newest first), every outcome and the newest switch. Ties in time go by `_id`, as the
 * store's sort did.
 */
export function groupFacts(events: KnowledgeEvent[], examples: number): Map<string, EntryFacts> {
  const groups = new Map<string, KnowledgeEvent[]>();
  for (const e of events) {
    const group = groups.get(e.signature);
    if (group) group.push(e);
    else groups.set(e.signature, [e]);
  }
  const out = new Map<string, EntryFacts>();
  for (const [signature, evs] of groups) {
    const observations = evs.filter((e): e is ObservationEvent => e.type === 'observation').sort(byTime);
    const switches = evs.filter((e): e is SwitchEvent => e.type === 'switch').sort(byTime);
    out.set(signature, {
      signature,
      occurrences: observations.length,
      oldest: observations[0] ?? null,
      newest: observations.slice(-Math.max(1, examples)).reverse(),
      outcomes: evs.filter((e): e is OutcomeEvent => e.type === 'outcome'),
      lastSwitch: switches[switches.length - 1] ?? null,
    });
  }
  return out;
}

/** The entry the facts make (pure). */
export function deriveEntry(facts: EntryFacts, settings: KnowledgeSettings): KnowledgeEntry & { healsKnown: number; healsNew: number } {
  const outcomes = [...facts.outcomes].sort(byTime);
  const healed = outcomes.filter((o) => o.ok);
  const successes = healed.length;
  const failures = outcomes.length - successes;
  const remedy = healed.length ? healed[healed.length - 1].remedy : null;
  const timed = healed.filter((o) => typeof o.timeToHealMs === 'number' && Number.isFinite(o.timeToHealMs));
  const known = timed.filter((o) => o.autoApplied).map((o) => o.timeToHealMs as number);
  const fresh = timed.filter((o) => !o.autoApplied).map((o) => o.timeToHealMs as number);
  const manualOnly = facts.lastSwitch ? !facts.lastSwitch.autoApply : false;
  const newest = facts.newest[0] ?? null;
  const described = newest ?? facts.oldest;
  const seen = [facts.oldest, ...facts.newest, ...outcomes].filter((e): e is NonNullable<typeof e> => e !== null).map((e) => e.at.getTime());
  const iso = (t: number): string => new Date(Number.isFinite(t) ? t : 0).toISOString();
  return {
    signature: facts.signature,
    template: described?.template ?? '',
    kernel: described?.kernel ?? null,
    errorType: described?.errorType ?? '',
    examples: facts.newest.slice(0, settings.examples).map((o) => o.text).reverse(),
    firstSeen: iso(facts.oldest ? facts.oldest.at.getTime() : Math.min(...seen)),
    lastSeen: iso(newest ? newest.at.getTime() : Math.max(...seen)),
    occurrences: facts.occurrences,
    remedy,
    successes,
    failures,
    confidence: confidenceOf({ successes, failures }, settings),
    autoApply: autoApplyOf({ successes, failures, manualOnly, remedy }, settings),
    manualOnly,
    mtthKnownMs: mean(known),
    mtthNewMs: mean(fresh),
    healsKnown: known.length,
    healsNew: fresh.length,
  };
}

export class KnowledgeBase {
  readonly entries: Collection<KnowledgeDoc>;
  readonly events: Collection<KnowledgeEvent>;

  constructor(
    db: Db,
    readonly settings: KnowledgeSettings,
    collections: { entries?: string; events?: string } = {},
  ) {
    this.entries = db.collection<KnowledgeDoc>(collections.entries ?? KNOWLEDGE_BASE_COLLECTION);
    this.events = db.collection<KnowledgeEvent>(collections.events ?? KNOWLEDGE_BASE_EVENTS_COLLECTION);
  }

  /** Inserts a fact once. @returns false when it was there already */
  private async record(event: KnowledgeEvent): Promise<boolean> {
    try {
      await this.events.insertOne(event);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /**
   * Counts one piece of evidence with this signature, once per `evidenceId`.
   * @returns whether it was counted now (false: it had been already)
   */
  async observe(o: Observation): Promise<boolean> {
    const counted = await this.record({
      _id: `obs:${o.signature}:${o.evidenceId}`,
      type: 'observation',
      signature: o.signature,
      at: toDate(o.at),
      evidenceId: o.evidenceId,
      template: o.template,
      kernel: o.kernel,
      errorType: o.errorType,
      text: o.text,
    });
    await this.refresh(o.signature);
    return counted;
  }

  /**
   * Records one verified outcome of a remedy, once per `outcomeId`: it counts as a success or a
   * failure; a success makes its remedy the entry's and adds to the mean time to heal (while known
   * when it was auto-applied, while new otherwise). An outcome for a signature never observed
   * creates its entry.
   */
  async recordOutcome(outcome: RemedyOutcome): Promise<KnowledgeEntry> {
    await this.record({
      _id: `out:${outcome.signature}:${outcome.outcomeId}`,
      type: 'outcome',
      signature: outcome.signature,
      at: new Date(),
      outcomeId: outcome.outcomeId,
      ok: outcome.ok,
      remedy: outcome.remedy,
      timeToHealMs: outcome.timeToHealMs,
      autoApplied: outcome.autoApplied,
    });
    return (await this.refresh(outcome.signature)) as KnowledgeEntry;
  }

  /**
   * An operator's switch: off → never applied without the coding agent (`manualOnly`); on → applied
   * automatically again once confidence and successes allow it. The newest switch wins.
   * @throws UnknownSignatureError when no entry has this signature
   */
  async setAutoApply(signature: string, on: boolean): Promise<KnowledgeEntry> {
    if (!(await this.exists(signature))) throw new UnknownSignatureError(signature);
    await this.record({ _id: `switch:${signature}:${Date.now()}:${randomUUID()}`, type: 'switch', signature, at: new Date(), autoApply: on });
    return (await this.refresh(signature)) as KnowledgeEntry;
  }

  /** The entry, derived from its facts now; null when nothing is known of the signature. */
  async get(signature: string): Promise<KnowledgeEntry | null> {
    const facts = await this.facts(signature);
    return facts ? stripped(deriveEntry(facts, this.settings)) : null;
  }

  /**
   * Entries, most recently seen first (ordered by the stored view, each derived from its facts now).
   * One read of the events for all of them: FerretDB on SQLite scans a collection for every filter
   * but an `_id` (it pushes nothing else down), and a read per entry made `list` (telemetry's, each
   * minute) hundreds of scans that held the store for seconds on a loaded CI machine.
   */
  async list(options: { limit?: number } = {}): Promise<KnowledgeEntry[]> {
    const docs = await this.entries
      .find({}, { projection: { _id: 1 } })
      .sort({ lastSeen: -1 })
      .limit(options.limit ?? 0)
      .toArray();
    if (docs.length === 0) return [];
    const bySignature = groupFacts(await this.events.find({ signature: { $in: docs.map((d) => d._id) } }).toArray(), this.settings.examples);
    return docs
      .flatMap((d) => {
        const facts = bySignature.get(d._id);
        return facts ? [stripped(deriveEntry(facts, this.settings))] : [];
      })
      .sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
  }

  private async exists(signature: string): Promise<boolean> {
    if (await this.entries.findOne({ _id: signature }, { projection: { _id: 1 } })) return true;
    return (await this.events.findOne({ signature }, { projection: { _id: 1 } })) !== null;
  }

  /** The signature's facts, from one read of its events (see `list` for why one). */
  private async facts(signature: string): Promise<EntryFacts | null> {
    return groupFacts(await this.events.find({ signature }).toArray(), this.settings.examples).get(signature) ?? null;
  }

  /** Derives the entry and writes the stored view of it. */
  private async refresh(signature: string): Promise<KnowledgeEntry | null> {
    const facts = await this.facts(signature);
    if (!facts) return null;
    const entry = deriveEntry(facts, this.settings);
    const { signature: _id, firstSeen, lastSeen, ...rest } = entry;
    const view: Omit<KnowledgeDoc, '_id'> = { ...rest, firstSeen: new Date(firstSeen), lastSeen: new Date(lastSeen), derivedAt: new Date() };
    try {
      await this.entries.updateOne({ _id }, { $set: view }, { upsert: true });
    } catch (err) {
      // A racing first write inserted it: the view is the other writer's, repaired by the next.
      if (!isDuplicateKey(err)) throw err;
    }
    return stripped(entry);
  }
}

/** The entry without the bookkeeping the contract does not name. */
function stripped(e: KnowledgeEntry & { healsKnown?: number; healsNew?: number }): KnowledgeEntry {
  const entry: KnowledgeEntry & { healsKnown?: number; healsNew?: number } = { ...e };
  delete entry.healsKnown;
  delete entry.healsNew;
  return entry;
}
