/**
 * Writes of one incident document at once, on the suite's real store (FerretDB by default): the
 * newest revision is what stays. FerretDB runs a guarded replace as a query then a write, so
 * without the document's lock an older revision could land last (src/clients/document-lock.ts).
 */
import assert from 'node:assert/strict';
import { connectStore, type Store } from '../../src/clients/store';
import { INCIDENTS_COLLECTION } from '../../src/clients/collections';
import { DOCUMENT_LOCKS_COLLECTION, DocumentLockTimeoutError, withDocumentLock } from '../../src/clients/document-lock';
import { createIncidentActivities } from '../../activities/incidents';
import type { Incident } from '../../contracts/incident';
import { stackAvailable, testConfig, uniqueId } from '../support/env';

describe('one incident written from two processes at once keeps its newest revision', function () {
  this.timeout(120_000);
  const config = testConfig();
  const stores: Store[] = [];
  const ids: string[] = [];

  before(async function () {
    if (!stackAvailable()) this.skip();
    // Two connections, as the two healing replicas have.
    stores.push(await connectStore(config), await connectStore(config));
  });

  after(async () => {
    if (stores[0]) await stores[0].db.collection<{ _id: string }>(INCIDENTS_COLLECTION).deleteMany({ _id: { $in: ids } });
    for (const s of stores) await s.close();
  });

  function incident(id: string, rev: number): Incident {
    // Closed: the suite's other files wait for open incidents to settle, and must not wait for these.
    return { id, state: 'closed', signature: `locktest_${rev}`, attempts: rev } as unknown as Incident;
  }

  it('8 revisions written at once, 5 times: the store holds the 8th each time', async () => {
    // Only recordIncident is called: it needs the store alone.
    const acts = stores.map((s) => createIncidentActivities({ config, db: s.db } as unknown as Parameters<typeof createIncidentActivities>[0]));
    for (let round = 0; round < 5; round++) {
      const id = uniqueId('inc-locktest');
      ids.push(id);
      await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((rev, i) => acts[i % 2].recordIncident(incident(id, rev), rev)));
      const stored = await stores[0].db.collection<{ _id: string; revision: number; signature: string }>(INCIDENTS_COLLECTION).findOne({ _id: id });
      assert.deepEqual([stored?.revision, stored?.signature], [8, 'locktest_8'], `round ${round}`);
    }
    assert.equal(await stores[0].db.collection(DOCUMENT_LOCKS_COLLECTION).countDocuments({ _id: { $regex: '^incidents/inc-locktest' } as never }), 0, 'every lock let go');
  });

  it('a lock whose holder died is taken over once expired; a live one makes the writer wait, then give up naming it', async () => {
    const db = stores[0].db;
    const locks = db.collection<{ _id: string; owner: string; until: Date }>(DOCUMENT_LOCKS_COLLECTION);
    const dead = uniqueId('dead');
    await locks.insertOne({ _id: `test/${dead}`, owner: 'a dead holder', until: new Date(Date.now() - 1_000) });
    assert.equal(await withDocumentLock(db, 'test', dead, async () => 'ran'), 'ran');
    const live = uniqueId('live');
    await locks.insertOne({ _id: `test/${live}`, owner: 'a live holder', until: new Date(Date.now() + 60_000) });
    try {
      let ran = false;
      await assert.rejects(
        withDocumentLock(db, 'test', live, async () => void (ran = true), { waitMs: 500 }),
        (err: Error) => err instanceof DocumentLockTimeoutError && err.message.includes(`test/${live}`),
      );
      assert.equal(ran, false);
    } finally {
      await locks.deleteMany({ _id: { $in: [`test/${dead}`, `test/${live}`] } });
    }
  });
});
