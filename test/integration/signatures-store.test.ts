import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import { SignatureEngine, SignatureStore } from '../../src/signatures';

/** Messages where online learning generalises and merges templates part-way through. */
const MESSAGES = [
  'session opened for user cyrus by (uid=0)',
  'ACL denied publish to orders.42 for client 10.1.2.3:5555',
  'session opened for user news by (uid=0)',
  'disk /dev/sda1 full',
  'session closed for user cyrus',
  'session opened for user test by (uid=0)',
  'session closed for user news',
  'session opened for user root by (uid=0)',
  'ACL denied publish to orders.7 for client 10.9.9.9:6000',
  'session opened for user admin by (uid=0)',
  'worker 7 lost lease on 2024-05-01T12:30:45Z',
];

describe('signatures: restart with the store keeps ids stable', function () {
  let client: MongoClient;
  let db: Db;
  /** A collection of its own per run, dropped afterwards: tests share the store. */
  const collection = `signatures-test-${randomUUID()}`;

  before(async function () {
    const uri = process.env.LAYER1_TEST_MONGODB_URI;
    if (!uri) this.skip();
    client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
    await client.connect();
    db = client.db('layer1-test');
  });

  after(async () => {
    if (!client) return;
    await db.collection(collection).drop().catch(() => undefined);
    await client.close();
  });

  const sign = (engine: SignatureEngine): string[] =>
    MESSAGES.map((message, i) => engine.sign({ kernel: 'auth', errorType: i % 2 ? 'Denied' : 'Session', message }).signature);

  it('gives the same ids for the same input before and after a restart, and resolves the old ones', async () => {
    const first = new SignatureEngine();
    const store = new SignatureStore(db, collection);
    assert.equal(await store.load(first), 0);
    const duringLearning = sign(first);
    const before = sign(first); // learned by now: these are the ids the input settles on
    assert.ok(await store.save(first) > 0);
    assert.ok((await db.collection(collection).countDocuments({ mergedInto: { $exists: true } })) > 0, 'merged templates are saved as such');

    const restarted = new SignatureEngine();
    assert.ok((await new SignatureStore(db, collection).load(restarted)) > 0);
    assert.deepEqual(sign(restarted), before);
    for (const [i, id] of duringLearning.entries()) {
      assert.equal(restarted.resolve(id)?.signature, before[i], `id ${id} issued while learning still resolves`);
    }
  });

  it('saves again without duplicating templates', async () => {
    const engine = new SignatureEngine();
    const store = new SignatureStore(db, collection);
    const loaded = await store.load(engine);
    sign(engine);
    await store.save(engine);
    await store.save(engine);
    assert.equal(await db.collection(collection).countDocuments(), loaded);
  });
});
