/**
 * The knowledge base against the real store (FerretDB v1: no transactions): observing and recording
 * are idempotent and lose nothing when raced, as both healing replicas race them.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import { DEFAULT_KNOWLEDGE_SETTINGS, wilsonLowerBound } from '../../src/knowledge/confidence';
import { UnknownSignatureError } from '../../src/knowledge/errors';
import { KnowledgeBase } from '../../src/knowledge/kb';
import type { RemedyOutcome } from '../../src/knowledge/types';
import { testConfig, uniqueId } from '../support/env';

describe('knowledge base: idempotent and race-safe on the store', function () {
  let client: MongoClient;
  let db: Db;
  /** Collections of their own per run, dropped afterwards: tests share the store. */
  const run = randomUUID();
  const collections = { entries: `knowledge-base-test-${run}`, events: `knowledge-base-events-test-${run}` };
  let kb: KnowledgeBase;
  const remedy = { kind: 'playbook' as const, name: 'restart_message_bus', params: { kernel: 'message_bus' } };

  before(async function () {
    const uri = process.env.LAYER1_TEST_MONGODB_URI;
    if (!uri) this.skip();
    client = new MongoClient(uri, { serverSelectionTimeoutMS: 10_000 });
    await client.connect();
    db = client.db(testConfig().store.database);
    kb = new KnowledgeBase(db, DEFAULT_KNOWLEDGE_SETTINGS, collections);
  });

  after(async () => {
    if (!client) return;
    for (const c of Object.values(collections)) await db.collection(c).drop().catch(() => undefined);
    await client.close();
  });

  const observation = (signature: string, evidenceId: string, at = Date.now()) => ({
    evidenceId,
    signature,
    template: 'ACL denied publish to <*> for client <*>',
    kernel: 'message_bus',
    errorType: 'ACLViolation',
    text: `ACL denied publish to orders.${evidenceId} for client 10.0.0.1:5555`,
    at,
  });
  const outcome = (signature: string, outcomeId: string, o: Partial<RemedyOutcome> = {}): RemedyOutcome => ({
    outcomeId,
    signature,
    remedy,
    ok: true,
    timeToHealMs: 1200,
    autoApplied: false,
    ...o,
  });

  it('counts the same evidence observed twice (both replicas) once, and keeps first and last seen', async () => {
    const sig = uniqueId('sig');
    assert.equal(await kb.observe(observation(sig, 'ev-1', Date.parse('2026-01-01T00:00:10Z'))), true);
    assert.equal(await kb.observe(observation(sig, 'ev-1', Date.parse('2026-01-01T00:00:10Z'))), false);
    assert.equal(await kb.observe(observation(sig, 'ev-2', Date.parse('2026-01-01T00:00:05Z'))), true);
    const entry = await kb.get(sig);
    assert.ok(entry);
    assert.equal(entry.occurrences, 2);
    assert.equal(entry.firstSeen, '2026-01-01T00:00:05.000Z');
    assert.equal(entry.lastSeen, '2026-01-01T00:00:10.000Z');
    assert.deepEqual([entry.kernel, entry.errorType, entry.remedy, entry.successes, entry.confidence, entry.autoApply], ['message_bus', 'ACLViolation', null, 0, 0, false]);
    assert.equal(entry.examples.length, 2);
    for (const internal of ['healsKnown', 'healsNew', '_id']) assert.ok(!(internal in entry), internal);
  });

  it('50 concurrent observations of distinct evidence count 50, with the examples bounded', async () => {
    const sig = uniqueId('sig');
    const ids = Array.from({ length: 50 }, (_, i) => `ev-${i}`);
    const counted = await Promise.all(ids.map((id) => kb.observe(observation(sig, id))));
    assert.ok(counted.every(Boolean));
    // The other replica reports them all again, concurrently: nothing more is counted.
    assert.ok((await Promise.all(ids.map((id) => kb.observe(observation(sig, id))))).every((c) => !c));
    const entry = await kb.get(sig);
    assert.equal(entry?.occurrences, 50);
    assert.equal(entry?.examples.length, DEFAULT_KNOWLEDGE_SETTINGS.examples);
  });

  it('records the same outcome twice once', async () => {
    const sig = uniqueId('sig');
    await kb.observe(observation(sig, 'ev-1'));
    await kb.recordOutcome(outcome(sig, 'inc-1:1'));
    const again = await kb.recordOutcome(outcome(sig, 'inc-1:1'));
    assert.deepEqual([again.successes, again.failures, again.mtthNewMs], [1, 0, 1200]);
    assert.deepEqual(again.remedy, remedy);
    assert.ok(Math.abs(again.confidence - 0.378) < 0.001);
    assert.equal(again.autoApply, false, 'one success is not enough');
    assert.equal((await kb.get(sig))?.successes, 1);
  });

  it('20 concurrent outcomes with distinct ids count 20, with a consistent confidence', async () => {
    const sig = uniqueId('sig');
    await kb.observe(observation(sig, 'ev-1'));
    await Promise.all(Array.from({ length: 20 }, (_, i) => kb.recordOutcome(outcome(sig, `inc-${i}:1`, { timeToHealMs: 1000 + i }))));
    const entry = await kb.get(sig);
    assert.ok(entry);
    assert.deepEqual([entry.successes, entry.failures], [20, 0]);
    assert.equal(entry.confidence, wilsonLowerBound(20, 0, DEFAULT_KNOWLEDGE_SETTINGS.z));
    assert.equal(entry.autoApply, true);
    assert.equal(entry.mtthNewMs, 1010, 'the mean of 1000…1019, rounded');
    // The stored view may lag a racing writer by an event; the next write brings it up to date.
    await kb.recordOutcome(outcome(sig, 'inc-19:1'));
    const stored = await db.collection(collections.entries).findOne({ _id: sig as never });
    assert.ok(stored);
    assert.deepEqual([stored.successes, stored.confidence, stored.autoApply, stored.healsNew], [20, entry.confidence, true, 20]);
  });

  it('an operator turning auto-apply off keeps it off whatever the outcomes; on recomputes it', async () => {
    const sig = uniqueId('sig');
    await kb.observe(observation(sig, 'ev-1'));
    const off = await kb.setAutoApply(sig, false);
    assert.deepEqual([off.manualOnly, off.autoApply], [true, false]);
    for (let i = 0; i < 5; i++) {
      const e = await kb.recordOutcome(outcome(sig, `inc-${i}:1`, { autoApplied: false }));
      assert.equal(e.autoApply, false);
    }
    assert.equal((await kb.get(sig))?.autoApply, false);
    const on = await kb.setAutoApply(sig, true);
    assert.deepEqual([on.manualOnly, on.autoApply, on.successes], [false, true, 5]);
    assert.equal((await kb.get(sig))?.autoApply, true);
  });

  it('refuses to switch an unknown signature, and records an outcome of one never observed', async () => {
    await assert.rejects(kb.setAutoApply(uniqueId('nosuch'), false), UnknownSignatureError);
    const sig = uniqueId('sig');
    const entry = await kb.recordOutcome(outcome(sig, 'inc-9:1', { ok: false, timeToHealMs: null }));
    assert.deepEqual([entry.occurrences, entry.successes, entry.failures, entry.remedy], [0, 0, 1, null]);
  });

  it('lists entries most recently seen first', async () => {
    const a = uniqueId('sig-a');
    const b = uniqueId('sig-b');
    await kb.observe(observation(a, 'ev-1', Date.parse('2030-01-01T00:00:00Z')));
    await kb.observe(observation(b, 'ev-1', Date.parse('2030-01-02T00:00:00Z')));
    const list = await kb.list({ limit: 2 });
    assert.deepEqual(list.map((e) => e.signature), [b, a]);
  });
});
