/**
 * The seam's record of evidence when the store itself is frozen (SIGSTOP), on the suite's real
 * store: the first try cannot land (the driver fails the operations waiting on a server whose
 * heartbeat timed out), so the record is tried again in the background once the store is back.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { MongoClient } from 'mongodb';
import type { Client } from '@temporalio/client';
import { connectClient } from '../../src/clients/temporal';
import { connectStore, type Store } from '../../src/clients/store';
import { EVIDENCE_COLLECTION } from '../../src/clients/collections';
import { processManager } from '../../src/stack/stack';
import * as faults from '../../src/chaos/faults';
import { reportEvidence, type StoredEvidence } from '../../src/healing/seam';
import { makeEvidence } from '../../src/healing/evidence';
import { declareDrill, endDrill } from '../../src/chaos/drills';
import { incidentsSettled } from '../support/incidents';
import { waitFor } from '../support/kernels';
import { stackAvailable, testConfig, uniqueId } from '../support/env';

describe('seam: evidence seen while the store is frozen', function () {
  this.timeout(240_000);
  // Nothing dispatched: this is about the record, not the remedy (the playbook tests run that).
  const config = { ...testConfig() };
  config.detectors = { ...config.detectors, dispatch: false };
  const pm = processManager(config);
  let temporal: Client;
  let store: Store;
  // The replica's connection, with a heartbeat quick enough to time out early in the freeze. Once
  // it has, the driver holds new operations until the server answers again, for at most the
  // server selection timeout, and then fails them: nothing was sent, so nothing lands afterwards.
  // That is how a CI run lost the record (with the default heartbeat, every 10 s, in some runs only).
  let replica: MongoClient;
  const ids: string[] = [];

  before(async function () {
    if (!stackAvailable()) this.skip();
    temporal = await connectClient(config);
    store = await connectStore(config);
    replica = new MongoClient(config.store.uri, { heartbeatFrequencyMS: 500, connectTimeoutMS: 1_000, serverSelectionTimeoutMS: 2_000 });
    await replica.connect();
  });

  after(async () => {
    await store?.db.collection<StoredEvidence>(EVIDENCE_COLLECTION).deleteMany({ _id: { $in: ids } });
    // The freeze may have started the dependencies detector's remedy on the replicas: let it end.
    if (store) await incidentsSettled(store.db, 180_000);
    await replica?.close();
    await temporal?.connection.close();
    await store?.close();
  });

  it("is recorded once the store is back, though the first try did not answer in time, with the tag of the drill on its target", async () => {
    const key = uniqueId('seamtest');
    // A drill on the evidence's target: its lookup cannot answer in the freeze either, so the tag
    // is looked up again and set once the record has landed.
    const drillId = `chaos-${key}`;
    await declareDrill(store.db, { id: drillId, kernel: null, process: key, card: 'seamtest', durationMs: 120_000 });
    const evidence = makeEvidence({ kind: 'dependency_unreachable', kernel: null, process: key, pid: null, key, detail: `the store did not answer (${key})`, text: null, at: Date.now(), observer: 'seam-store.test' });
    ids.push(evidence.id);
    const stalled = await faults.stallProcess({ config, pm }, { process: 'store', ms: 6_000 });
    try {
      // Bounded: should the driver not see the freeze within its 6 s, say so rather than wait for ever.
      await once(replica, 'serverHeartbeatFailed', { signal: AbortSignal.timeout(5_000) }).catch((err: Error) => {
        throw new Error(`the replica's driver saw no failed heartbeat in 5 s of the store's freeze: ${err.message}`);
      });
      const report = await reportEvidence({ config, db: replica.db(config.store.database), temporal }, evidence);
      assert.equal(report.recordedFirst, null, 'the store did not take the first try in time');
      await stalled.ended;
    } finally {
      await stalled.restore();
    }
    const coll = store.db.collection<StoredEvidence>(EVIDENCE_COLLECTION);
    try {
      const stored = await waitFor(`evidence ${evidence.id} recorded with its drill's tag`, () => coll.findOne({ _id: evidence.id }), (d) => Boolean(d?.data.drill_id), 30_000, 500);
      assert.ok(stored, `evidence ${evidence.id} is in the store within 30 s of the store's return`);
      assert.deepEqual(stored.observers, ['seam-store.test']);
      assert.equal(stored.firstSeen.getTime(), evidence.at);
      assert.deepEqual((stored.dispatch as { outcome?: string } | undefined)?.outcome, 'disabled', 'with the outcome of its dispatch');
      assert.deepEqual([stored.data.drill_id, stored.data.drill], [drillId, 'seamtest'], "tagged with the drill on its target");
    } finally {
      await endDrill(store.db, drillId);
    }
  });
});
