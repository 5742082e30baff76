/**
 * The backlog: follow-ups that Layer 1 opens for a human (or the coding agent) when a playbook
 * cannot finish the job itself. One document per item in the `backlog` collection, keyed by the
 * business id of whatever opened it, so opening the same item twice keeps one document.
 */
import type { Db } from 'mongodb';
import { BACKLOG_COLLECTION } from '../clients/collections';

export type BacklogSeverity = 'low' | 'medium' | 'high';
export type BacklogStatus = 'open' | 'done';

export interface BacklogItem {
  /** The opener's business id, e.g. `<workflowId>:<stepId>` for a playbook step. */
  _id: string;
  title: string;
  detail: string;
  severity: BacklogSeverity;
  status: BacklogStatus;
  /** Where it came from: playbook, kernel, run. */
  source: Record<string, string | null>;
  createdAt: Date;
}

export type NewBacklogItem = Pick<BacklogItem, '_id' | 'title' | 'detail' | 'severity' | 'source'>;

/**
 * Opens `item` unless an item with its id exists. Idempotent: an upsert that only sets fields on
 * insert, so a second call changes nothing and reports `created: false`.
 */
export async function openBacklogItem(db: Db, item: NewBacklogItem): Promise<{ id: string; created: boolean }> {
  const { _id, ...fields } = item;
  const res = await db.collection<BacklogItem>(BACKLOG_COLLECTION).updateOne(
    { _id },
    { $setOnInsert: { ...fields, status: 'open', createdAt: new Date() } },
    { upsert: true },
  );
  return { id: item._id, created: res.upsertedCount === 1 };
}

/** Items, newest first; only open ones unless `status` says otherwise. */
export async function listBacklog(db: Db, status: BacklogStatus | 'all' = 'open'): Promise<BacklogItem[]> {
  return db
    .collection<BacklogItem>(BACKLOG_COLLECTION)
    .find(status === 'all' ? {} : { status })
    .sort({ createdAt: -1 })
    .toArray();
}
