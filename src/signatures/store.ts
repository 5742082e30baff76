/**
 * Persistence of learned templates in MongoDB (or FerretDB), so a restart keeps every signature id.
 *
 * One document per template in the `signatures` collection, keyed by its source and the first id
 * it was given. Saving is an upsert of the templates that changed, so it is safe to repeat.
 * Uses only plain reads and `bulkWrite` upserts: FerretDB v1 has no transactions, change streams or
 * TTL indexes, and none are needed.
 */
import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';
import { SIGNATURES_COLLECTION } from '../clients/collections';
import type { SignatureEngine, TemplateRecord } from './engine';

/** A template as stored. */
export interface StoredTemplate extends TemplateRecord {
  /** `<kernel>/<errorType>/<first id>`: stable for the template's whole life. */
  _id: string;
  /** The current signature id, for people querying the collection. */
  signature: string;
  /** The current template text, for the same reason. */
  template: string;
  updatedAt: Date;
}

/** Loads and saves a {@link SignatureEngine}'s learned state. */
export class SignatureStore {
  private readonly collection: Collection<StoredTemplate>;

  /**
   * @param db - the database (`config.store.database`)
   * @param collectionName - @default {@link SIGNATURES_COLLECTION}
   */
  constructor(db: Db, collectionName = SIGNATURES_COLLECTION) {
    this.collection = db.collection<StoredTemplate>(collectionName);
  }

  /**
   * Restores everything saved into a fresh engine (before it signs anything).
   * @returns the number of templates restored
   */
  async load(engine: SignatureEngine): Promise<number> {
    const docs = await this.collection.find({}).toArray();
    engine.restore(
      docs.map((d) => ({
        kernel: d.kernel,
        errorType: d.errorType,
        order: d.order,
        tokens: d.tokens,
        slots: d.slots,
        count: d.count,
        ids: d.ids,
        ...(d.group === undefined ? {} : { group: d.group }),
        ...(d.mergedInto === undefined ? {} : { mergedInto: d.mergedInto }),
      })),
    );
    return docs.length;
  }

  /**
   * Saves the templates the engine learned or matched since the last save.
   * @returns the number of templates written
   */
  async save(engine: SignatureEngine): Promise<number> {
    const changed = engine.takeChanged();
    if (changed.length === 0) return 0;
    const now = new Date();
    const ops: AnyBulkWriteOperation<StoredTemplate>[] = changed.map((record) => {
      const doc: StoredTemplate = {
        ...record,
        _id: storedId(record),
        signature: record.ids[record.ids.length - 1],
        template: record.tokens.join(' '),
        updatedAt: now,
      };
      // Idempotent: a full replacement keyed on the template's permanent _id.
      return { replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } };
    });
    await this.collection.bulkWrite(ops, { ordered: false });
    return ops.length;
  }
}

function storedId(record: TemplateRecord): string {
  return `${record.kernel}/${record.errorType}/${record.ids[0]}`;
}
