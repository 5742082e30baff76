/**
 * The knowledge base: one document per error signature in the store (`knowledge_base`, `_id` = the
 * signature, so there is never more than one), holding what was seen of it and how its remedies
 * fared. The incident workflow's activities write it; `layer1 kb` reads it.
 *
 * FerretDB v1 has no transactions and no pipeline updates, and both healing replicas may report
 * the same thing, so every write is idempotent and safe when raced:
 *
 * - `observe` counts each piece of evidence once: the conditional update's filter
 *   `{ _id, seenEvidence: { $ne: evidenceId } }` matches only while that id is not in the bounded
 *   `seenEvidence` array the same update pushes it to. A missing document is first created with
 *   `$setOnInsert` alone (an upsert that changes nothing when it exists), then the conditional
 *   update runs again; a crash in between leaves an entry with nothing counted, which the next
 *   report of the evidence counts.
 * - `recordOutcome` and `setAutoApply` are compare-and-set on `version`: read, compute, write with
 *   `{ _id, version }` in the filter, read again on a lost race. `recordOutcome` is idempotent on
 *   the outcome id (bounded `outcomeIds`), written in the same update as the counters.
 * - `confidence` and `autoApply` are derived: recomputed from the counters (and the current
 *   settings) on every write and every read, so a stored value is never trusted.
 */
import { MongoServerError, type Collection, type Db } from 'mongodb';
import { KNOWLEDGE_BASE_COLLECTION } from '../clients/collections';
import { autoApplyOf, confidenceOf, type KnowledgeSettings } from './confidence';
import { KnowledgeConflictError, UnknownSignatureError } from './errors';
import type { KnowledgeEntry, KnowledgeRemedy, RemedyOutcome } from './types';

/** Evidence ids remembered per entry: a replica's duplicate report arrives well within these. */
export const SEEN_EVIDENCE_KEPT = 500;
/** Outcome ids remembered per entry (one per remedy attempt of an incident). */
export const OUTCOME_IDS_KEPT = 500;
/** Compare-and-set attempts before giving up: enough for tens of concurrent writers of one entry. */
const CAS_ATTEMPTS = 60;

/** What is stored: the entry, dates as dates, and the bookkeeping `layer1 kb` does not show. */
export interface KnowledgeDoc {
  _id: string;
  template: string;
  kernel: string | null;
  errorType: string;
  examples: string[];
  firstSeen: Date;
  lastSeen: Date;
  occurrences: number;
  remedy: KnowledgeRemedy | null;
  successes: number;
  failures: number;
  confidence: number;
  autoApply: boolean;
  manualOnly: boolean;
  mtthKnownMs: number | null;
  mtthNewMs: number | null;
  /** How many heals each mean is over. */
  healsKnown: number;
  healsNew: number;
  seenEvidence: string[];
  outcomeIds: string[];
  version: number;
}

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

function defaultsOf(o: Omit<Observation, 'evidenceId' | 'text'>): Omit<KnowledgeDoc, '_id'> {
  const at = toDate(o.at);
  return {
    template: o.template,
    kernel: o.kernel,
    errorType: o.errorType,
    examples: [],
    firstSeen: at,
    lastSeen: at,
    occurrences: 0,
    remedy: null,
    successes: 0,
    failures: 0,
    confidence: 0,
    autoApply: false,
    manualOnly: false,
    mtthKnownMs: null,
    mtthNewMs: null,
    healsKnown: 0,
    healsNew: 0,
    seenEvidence: [],
    outcomeIds: [],
    version: 0,
  };
}

const iso = (d: Date | string | undefined): string => (d instanceof Date ? d.toISOString() : d ?? new Date(0).toISOString());

/** The entry as `layer1 kb` and the incident workflow see it, its derived fields recomputed. */
export function entryOf(doc: KnowledgeDoc, settings: KnowledgeSettings): KnowledgeEntry {
  const successes = doc.successes ?? 0;
  const failures = doc.failures ?? 0;
  const manualOnly = doc.manualOnly ?? false;
  const remedy = doc.remedy ?? null;
  return {
    signature: doc._id,
    template: doc.template ?? '',
    kernel: doc.kernel ?? null,
    errorType: doc.errorType ?? '',
    examples: doc.examples ?? [],
    firstSeen: iso(doc.firstSeen),
    lastSeen: iso(doc.lastSeen),
    occurrences: doc.occurrences ?? 0,
    remedy,
    successes,
    failures,
    confidence: confidenceOf({ successes, failures }, settings),
    autoApply: autoApplyOf({ successes, failures, manualOnly, remedy }, settings),
    manualOnly,
    mtthKnownMs: doc.mtthKnownMs ?? null,
    mtthNewMs: doc.mtthNewMs ?? null,
  };
}

/** The fields an outcome changes (pure: the compare-and-set writes them). */
export function applyOutcome(
  doc: Pick<KnowledgeDoc, 'successes' | 'failures' | 'remedy' | 'manualOnly' | 'mtthKnownMs' | 'mtthNewMs' | 'healsKnown' | 'healsNew'>,
  outcome: RemedyOutcome,
  settings: KnowledgeSettings,
): Pick<KnowledgeDoc, 'successes' | 'failures' | 'remedy' | 'confidence' | 'autoApply' | 'mtthKnownMs' | 'mtthNewMs' | 'healsKnown' | 'healsNew'> {
  const successes = (doc.successes ?? 0) + (outcome.ok ? 1 : 0);
  const failures = (doc.failures ?? 0) + (outcome.ok ? 0 : 1);
  const remedy = outcome.ok ? outcome.remedy : (doc.remedy ?? null);
  let { mtthKnownMs = null, mtthNewMs = null, healsKnown = 0, healsNew = 0 } = doc;
  if (outcome.ok && outcome.timeToHealMs !== null && Number.isFinite(outcome.timeToHealMs)) {
    const t = outcome.timeToHealMs;
    if (outcome.autoApplied) {
      mtthKnownMs = Math.round(((mtthKnownMs ?? 0) * healsKnown + t) / (healsKnown + 1));
      healsKnown += 1;
    } else {
      mtthNewMs = Math.round(((mtthNewMs ?? 0) * healsNew + t) / (healsNew + 1));
      healsNew += 1;
    }
  }
  const manualOnly = doc.manualOnly ?? false;
  return {
    successes,
    failures,
    remedy,
    confidence: confidenceOf({ successes, failures }, settings),
    autoApply: autoApplyOf({ successes, failures, manualOnly, remedy }, settings),
    mtthKnownMs,
    mtthNewMs,
    healsKnown,
    healsNew,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Jittered, growing pause after a lost race, so racing writers spread out. */
const backoff = (attempt: number): Promise<void> => sleep(Math.random() * Math.min(5 + attempt * 5, 100));

const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === 11000;

export class KnowledgeBase {
  readonly collection: Collection<KnowledgeDoc>;

  constructor(
    db: Db,
    readonly settings: KnowledgeSettings,
    collectionName: string = KNOWLEDGE_BASE_COLLECTION,
  ) {
    this.collection = db.collection<KnowledgeDoc>(collectionName);
  }

  /** Creates the entry with its defaults if it does not exist; changes nothing if it does. */
  private async ensure(o: Omit<Observation, 'evidenceId' | 'text'>): Promise<void> {
    try {
      await this.collection.updateOne({ _id: o.signature }, { $setOnInsert: defaultsOf(o) }, { upsert: true });
    } catch (err) {
      // Two upserts raced to insert it: the other one did.
      if (!isDuplicateKey(err)) throw err;
    }
  }

  /**
   * Counts one piece of evidence with this signature (once per `evidenceId`).
   * @returns whether it was counted now (false: it had been already)
   */
  async observe(o: Observation): Promise<boolean> {
    const at = toDate(o.at);
    const count = async (): Promise<boolean> => {
      const res = await this.collection.updateOne(
        { _id: o.signature, seenEvidence: { $ne: o.evidenceId } },
        {
          $inc: { occurrences: 1 },
          $max: { lastSeen: at },
          $min: { firstSeen: at },
          // Templates generalise as more is seen: keep the newest.
          ...(o.template ? { $set: { template: o.template } } : {}),
          $push: {
            examples: { $each: [o.text], $slice: -this.settings.examples },
            seenEvidence: { $each: [o.evidenceId], $slice: -SEEN_EVIDENCE_KEPT },
          },
        },
      );
      return res.matchedCount === 1;
    };
    if (await count()) return true;
    // Either new, or this evidence was counted already: make sure it exists, then try again.
    await this.ensure(o);
    return count();
  }

  async get(signature: string): Promise<KnowledgeEntry | null> {
    const doc = await this.collection.findOne({ _id: signature });
    return doc ? entryOf(doc, this.settings) : null;
  }

  /** Entries, most recently seen first. */
  async list(options: { limit?: number } = {}): Promise<KnowledgeEntry[]> {
    const docs = await this.collection
      .find({})
      .sort({ lastSeen: -1 })
      .limit(options.limit ?? 0)
      .toArray();
    return docs.map((d) => entryOf(d, this.settings));
  }

  /**
   * Records one verified outcome of a remedy (once per `outcomeId`): counts it, keeps the remedy if
   * it healed, updates the mean time to heal, and recomputes confidence and autoApply. An outcome
   * for a signature never observed creates its entry.
   */
  async recordOutcome(outcome: RemedyOutcome): Promise<KnowledgeEntry> {
    for (let attempt = 1; attempt <= CAS_ATTEMPTS; attempt++) {
      const doc = await this.collection.findOne({ _id: outcome.signature });
      if (!doc) {
        await this.ensure({ signature: outcome.signature, template: '', kernel: null, errorType: '', at: new Date() });
        continue;
      }
      const outcomeIds = doc.outcomeIds ?? [];
      if (outcomeIds.includes(outcome.outcomeId)) return entryOf(doc, this.settings);
      const next = { ...applyOutcome(doc, outcome, this.settings), outcomeIds: [...outcomeIds, outcome.outcomeId].slice(-OUTCOME_IDS_KEPT) };
      if (await this.compareAndSet(doc, next)) return entryOf({ ...doc, ...next, version: (doc.version ?? 0) + 1 }, this.settings);
      await backoff(attempt);
    }
    throw new KnowledgeConflictError(outcome.signature, CAS_ATTEMPTS);
  }

  /**
   * An operator's switch: off → never applied without the coding agent (`manualOnly`); on → applied
   * automatically again once confidence and successes allow it.
   * @throws UnknownSignatureError when no entry has this signature
   */
  async setAutoApply(signature: string, on: boolean): Promise<KnowledgeEntry> {
    for (let attempt = 1; attempt <= CAS_ATTEMPTS; attempt++) {
      const doc = await this.collection.findOne({ _id: signature });
      if (!doc) throw new UnknownSignatureError(signature);
      const manualOnly = !on;
      const next = { manualOnly, autoApply: autoApplyOf({ successes: doc.successes ?? 0, failures: doc.failures ?? 0, manualOnly, remedy: doc.remedy ?? null }, this.settings) };
      if (await this.compareAndSet(doc, next)) return entryOf({ ...doc, ...next, version: (doc.version ?? 0) + 1 }, this.settings);
      await backoff(attempt);
    }
    throw new KnowledgeConflictError(signature, CAS_ATTEMPTS);
  }

  /** Writes `next` only if the entry is still at the version `doc` was read at. */
  private async compareAndSet(doc: KnowledgeDoc, next: Partial<KnowledgeDoc>): Promise<boolean> {
    const res = await this.collection.updateOne(
      doc.version === undefined ? { _id: doc._id, version: { $exists: false } } : { _id: doc._id, version: doc.version },
      { $set: next, $inc: { version: 1 } },
    );
    return res.matchedCount === 1;
  }
}
