/**
 * A short mutual exclusion on one document, across processes, through the store itself.
 *
 * Why: FerretDB runs an update as a query, then a write by `_id`, not in one transaction (its issue
 * #3040). Two guarded writes of one document at once can both pass their guard, and the older one
 * can land last: measured on the embedded store, 6 revision-guarded replaces of one document from 2
 * connections at once left an older revision in 9 of 30 rounds. An insert of an `_id` that exists
 * does fail there (the primary key), so the lock is a document inserted under the locked id and
 * deleted by its holder. A holder that died leaves it to expire after `ttlMs`.
 *
 * On MongoDB the guarded replace is atomic already; the lock costs an insert and a delete.
 */
import { randomUUID } from 'node:crypto';
import type { Db, MongoServerError } from 'mongodb';

/** Where the locks are: one document per locked document, `<collection>/<id>`. */
export const DOCUMENT_LOCKS_COLLECTION = 'document_locks';

interface LockDoc {
  _id: string;
  owner: string;
  until: Date;
}

export class DocumentLockTimeoutError extends Error {
  constructor(key: string, waitedMs: number) {
    super(`${key}: another writer held its lock for ${waitedMs} ms`);
    this.name = 'DocumentLockTimeoutError';
  }
}

export interface DocumentLockOptions {
  /** A lock older than this was left by a holder that died: it is taken over. @default 10000 */
  ttlMs?: number;
  /** How long to wait for the lock before giving up; longer than `ttlMs`, so a dead holder's lock is taken over first. @default 20000 */
  waitMs?: number;
}

/** Runs `fn` while holding the lock of `collection/id`; releases it however `fn` ends. */
export async function withDocumentLock<T>(db: Db, collection: string, id: string, fn: () => Promise<T>, opts: DocumentLockOptions = {}): Promise<T> {
  const locks = db.collection<LockDoc>(DOCUMENT_LOCKS_COLLECTION);
  const key = `${collection}/${id}`;
  const owner = randomUUID();
  const ttlMs = opts.ttlMs ?? 10_000;
  const started = Date.now();
  for (let pause = 20; ; pause = Math.min(200, pause * 2)) {
    try {
      await locks.insertOne({ _id: key, owner, until: new Date(Date.now() + ttlMs) });
      break;
    } catch (err) {
      if ((err as MongoServerError).code !== 11000) throw err;
    }
    const held = await locks.findOne({ _id: key });
    // Expired: its holder died (or stalled past the bound). Only that holder's lock is removed.
    if (held && held.until.getTime() < Date.now()) await locks.deleteOne({ _id: key, owner: held.owner });
    if (Date.now() - started > (opts.waitMs ?? 20_000)) throw new DocumentLockTimeoutError(key, Date.now() - started);
    await new Promise((r) => setTimeout(r, pause));
  }
  try {
    return await fn();
  } finally {
    await locks.deleteOne({ _id: key, owner }).catch(() => undefined);
  }
}
