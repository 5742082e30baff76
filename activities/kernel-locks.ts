/**
 * The per-kernel lock of playbook runs as one document per kernel in the store (`kernel_locks`):
 * `{ _id: kernel, holder, waiters[], grantedBy, since, v }`. Every change is a compare-and-set on `v`
 * (a plain `updateOne` whose filter names the version read; FerretDB on SQLite has no transactions
 * and no pipeline updates, and needs neither for this). The playbook workflow calls these as local
 * activities, so taking a free lock costs two store round trips (milliseconds) instead of an
 * activity, a lock workflow's task and a signal back (the `kernelLockWorkflow` design, kept for
 * runs started before it).
 *
 * - acquire: `granted` (free, taken over from an ended holder, or already ours), `queued` (appended
 *   to `waiters`; the run waits for `lockGranted`) or `refused` (`concurrency: refuse` and a live
 *   holder or a queue).
 * - release: the first waiter becomes the holder (compare-and-set), then is signalled `lockGranted`;
 *   a waiter whose run has ended is stepped over.
 * - takeover: a holder whose workflow run is closed (terminated, timed out: it never released) is
 *   stale; any acquire — a new run's, or a waiter's periodic re-check — hands the lock on to the
 *   first live waiter (or takes it).
 *
 * Owners are `{ workflowId, runId }`: the dispatcher reuses workflow ids, and a new run under the id
 * of an ended holder must not inherit its lock by mistake (it takes it over as stale instead).
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { MongoServerError, type Collection, type Db } from 'mongodb';
import { lockGrantedSignal } from '../contracts/playbook';
import { KERNEL_LOCKS_COLLECTION } from '../src/clients/collections';


export interface LockOwner {
  workflowId: string;
  runId: string;
}

export interface KernelLockDoc {
  _id: string;
  holder: LockOwner | null;
  /** When the holder got it (ms since the epoch), for `layer1`-side inspection. */
  since: number | null;
  /** In line, first come first served. */
  waiters: LockOwner[];
  /** Who handed the lock to the holder (a release), so a retried release can tell it again. */
  grantedBy: LockOwner | null;
  /** Version for compare-and-set. */
  v: number;
}

export type LockState = 'granted' | 'queued' | 'refused';

export interface AcquireResult {
  state: LockState;
  holder: LockOwner | null;
}

export interface KernelLockDeps {
  db: Db;
  temporal: Client;
}

const same = (a: LockOwner | null | undefined, b: LockOwner | null | undefined): boolean =>
  !!a && !!b && a.workflowId === b.workflowId && a.runId === b.runId;

/** A compare-and-set lost to another writer is retried; this many losses in a row is a bug or a storm. */
const MAX_CAS_ROUNDS = 50;

export function kernelLocks(deps: KernelLockDeps): KernelLocks {
  return new KernelLocks(deps);
}

export class KernelLocks {
  constructor(private readonly deps: KernelLockDeps) {}

  private coll(): Collection<KernelLockDoc> {
    return this.deps.db.collection<KernelLockDoc>(KERNEL_LOCKS_COLLECTION);
  }

  /** True when the run is closed (or unknown): it can neither use nor release a lock any more. */
  private async ended(owner: LockOwner): Promise<boolean> {
    try {
      const d = await this.deps.temporal.workflow.getHandle(owner.workflowId, owner.runId).describe();
      return d.status.name !== 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return true;
      throw err;
    }
  }

  /** Signals `lockGranted`; false when the run has ended (nobody to tell). A duplicate signal is harmless. */
  private async tellGranted(kernel: string, owner: LockOwner): Promise<boolean> {
    try {
      await this.deps.temporal.workflow.getHandle(owner.workflowId, owner.runId).signal(lockGrantedSignal, { lock: `${KERNEL_LOCKS_COLLECTION}/${kernel}` });
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  /** Compare-and-set on `v`: false when another writer changed the document since it was read. */
  private async cas(doc: KernelLockDoc, next: Omit<KernelLockDoc, '_id' | 'v'>): Promise<boolean> {
    const res = await this.coll().updateOne({ _id: doc._id, v: doc.v }, { $set: { ...next, v: doc.v + 1 } });
    return res.matchedCount === 1;
  }

  /**
   * Takes the kernel's lock, queues for it, or is refused. Idempotent: the owner that holds it gets
   * `granted` again, one already in line `queued` (no second place in line); so a retry, a replay
   * after a worker crash, and a waiter's periodic re-check are all the same call.
   */
  async acquire(kernel: string, me: LockOwner, mode: 'wait' | 'refuse'): Promise<AcquireResult> {
    // The common case in one store call: free (no holder, so nobody in line either) or not there yet.
    try {
      const res = await this.coll().updateOne(
        { _id: kernel, holder: null },
        { $set: { holder: me, since: Date.now(), waiters: [], grantedBy: null }, $inc: { v: 1 } },
        { upsert: true },
      );
      if (res.matchedCount === 1 || res.upsertedCount === 1) return { state: 'granted', holder: me };
    } catch (err) {
      // Held: the upsert's insert collides with the existing document. The full path decides.
      if (!(err instanceof MongoServerError && err.code === 11000)) throw err;
    }
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const doc = await this.coll().findOne({ _id: kernel });
      if (!doc) {
        try {
          await this.coll().insertOne({ _id: kernel, holder: me, since: Date.now(), waiters: [], grantedBy: null, v: 1 });
          return { state: 'granted', holder: me };
        } catch (err) {
          // Another run created it first: read it again.
          if (err instanceof MongoServerError && err.code === 11000) continue;
          throw err;
        }
      }
      if (same(doc.holder, me)) return { state: 'granted', holder: me };

      let holder = doc.holder;
      const waiters = [...doc.waiters];
      // The common free case costs no Temporal call; a held lock costs one describe of its holder.
      if (holder && (await this.ended(holder))) holder = null;
      let handedTo: LockOwner | null = null;
      if (!holder) {
        // Free, or its holder ended without releasing: the first live waiter is next in line.
        while (!holder && waiters.length > 0) {
          const w = waiters.shift()!;
          if (same(w, me) || !(await this.ended(w))) holder = w;
        }
        holder ??= me;
        handedTo = holder;
      }
      const queued = waiters.some((w) => same(w, me));
      if (!same(holder, me) && mode === 'wait' && !queued) waiters.push(me);
      const changed = !same(holder, doc.holder) || waiters.length !== doc.waiters.length || waiters.some((w, i) => !same(w, doc.waiters[i]));
      if (changed) {
        const ok = await this.cas(doc, {
          holder,
          since: same(holder, doc.holder) ? doc.since : Date.now(),
          waiters,
          grantedBy: same(holder, doc.holder) ? doc.grantedBy : null,
        });
        if (!ok) continue;
      }
      // A waiter promoted here (its holder had ended) waits for a signal, or for its own re-check.
      if (handedTo && !same(handedTo, me)) await this.tellGranted(kernel, handedTo);
      if (same(holder, me)) return { state: 'granted', holder };
      return { state: mode === 'refuse' ? 'refused' : 'queued', holder };
    }
    throw new Error(`kernel lock ${kernel}: ${MAX_CAS_ROUNDS} compare-and-set rounds lost in a row`);
  }

  /**
   * Releases the kernel's lock and hands it to the first waiter whose run is still going, then
   * signals it `lockGranted`. Idempotent: once the holder is someone else, a retry only repeats the
   * signal to the run it handed the lock to (if it did), and a run that is only in line is removed
   * from it.
   */
  async release(kernel: string, me: LockOwner): Promise<void> {
    // The common case in one store call: held by this run, nobody in line.
    const quick = await this.coll().updateOne(
      { _id: kernel, 'holder.workflowId': me.workflowId, 'holder.runId': me.runId, waiters: { $size: 0 } },
      { $set: { holder: null, since: null, grantedBy: null }, $inc: { v: 1 } },
    );
    if (quick.matchedCount === 1) return;
    let from = me;
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const doc = await this.coll().findOne({ _id: kernel });
      if (!doc) return;
      if (!same(doc.holder, from)) {
        if (!same(from, me)) return; // the run we stepped over was taken over by someone else meanwhile
        if (doc.holder && same(doc.grantedBy, me)) {
          // A retry of our release: the signal may not have gone out before the attempt was lost.
          if (await this.tellGranted(kernel, doc.holder)) return;
          from = doc.holder;
          continue;
        }
        if (doc.waiters.some((w) => same(w, me))) {
          const waiters = doc.waiters.filter((w) => !same(w, me));
          if (!(await this.cas(doc, { holder: doc.holder, since: doc.since, waiters, grantedBy: doc.grantedBy }))) continue;
        }
        return;
      }
      const [next = null, ...rest] = doc.waiters;
      if (!(await this.cas(doc, { holder: next, since: next ? Date.now() : null, waiters: rest, grantedBy: next ? me : null }))) continue;
      if (!next || (await this.tellGranted(kernel, next))) return;
      // It ended while waiting: hand the lock past it.
      from = next;
    }
    throw new Error(`kernel lock ${kernel}: ${MAX_CAS_ROUNDS} compare-and-set rounds lost in a row`);
  }

  async state(kernel: string): Promise<KernelLockDoc | null> {
    return this.coll().findOne({ _id: kernel });
  }
}
