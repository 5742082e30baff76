/**
 * Store-read benchmark: what the hot reads cost on the embedded store (FerretDB 1.24 on SQLite),
 * which pushes only an `_id`-only filter down to SQLite and answers every other filter by reading
 * and decoding the whole collection. On a copy of a store directory a suite or a stack left (read
 * only: the copy is thrown away), for each read the shape Layer 1 uses now and the shape it used
 * before, median of --runs:
 *  - the knowledge base's `list` (telemetry's, each minute; the dashboard's): one read of the
 *    events for every entry, against five reads per entry;
 *  - one incident's guard before its write: by `_id` alone, against `_id` and `revision`;
 *  - one change set's facts: one `_id` read per state, against a filter on `changeSetId`.
 *
 *   npm run build && npm run bench:store -- --data-dir .layer1-test/store [--db layer1_test] [--runs 3]
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { MongoClient, type Db } from 'mongodb';
import { CHANGE_SET_STATES } from '../contracts/change-set';
import { CHANGE_SETS_COLLECTION, INCIDENTS_COLLECTION, KNOWLEDGE_BASE_COLLECTION, KNOWLEDGE_BASE_EVENTS_COLLECTION } from '../src/clients/collections';
import { factsOf } from '../src/coding-agent/records';
import { DEFAULT_KNOWLEDGE_SETTINGS } from '../src/knowledge/confidence';
import { KnowledgeBase } from '../src/knowledge/kb';
import { toolPaths } from '../src/stack/tools';
import { argOf, ms, printTable, progress } from './support';

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });

async function median(runs: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

/** The knowledge base's list as it read before: per entry, the count, the oldest, the newest, the outcomes and the newest switch. */
async function listPerEntry(db: Db): Promise<number> {
  const events = db.collection(KNOWLEDGE_BASE_EVENTS_COLLECTION);
  const entries = await db.collection<{ _id: string }>(KNOWLEDGE_BASE_COLLECTION).find({}, { projection: { _id: 1 } }).toArray();
  await Promise.all(
    entries.map(({ _id: signature }) =>
      Promise.all([
        events.countDocuments({ signature, type: 'observation' }),
        events.find({ signature, type: 'observation' }).sort({ at: 1, _id: 1 }).limit(1).toArray(),
        events.find({ signature, type: 'observation' }).sort({ at: -1, _id: -1 }).limit(DEFAULT_KNOWLEDGE_SETTINGS.examples).toArray(),
        events.find({ signature, type: 'outcome' }).toArray(),
        events.find({ signature, type: 'switch' }).sort({ at: -1, _id: -1 }).limit(1).toArray(),
      ]),
    ),
  );
  return entries.length;
}

async function main(): Promise<void> {
  const dataDir = argOf('data-dir');
  if (!dataDir) throw new Error('--data-dir DIR is required: a store directory (e.g. .layer1-test/store after `npm test`)');
  const database = argOf('db') ?? 'layer1_test';
  const runs = Number(argOf('runs') ?? 3);
  const copy = mkdtempSync(path.join(tmpdir(), 'layer1-bench-store-'));
  cpSync(path.resolve(dataDir), copy, { recursive: true });
  const port = await freePort();
  progress(`FerretDB on a copy of ${dataDir} at 127.0.0.1:${port}`);
  const server = spawn(toolPaths().ferretdb, ['--listen', `127.0.0.1:${port}`, '--data-dir', copy, '--log-level', 'error'], { stdio: 'ignore' });
  const client = new MongoClient(`mongodb://127.0.0.1:${port}/?retryWrites=false`, { serverSelectionTimeoutMS: 10_000 });
  try {
    await sleep(500);
    await client.connect();
    const db = client.db(database);
    const kb = new KnowledgeBase(db, DEFAULT_KNOWLEDGE_SETTINGS);
    const entries = (await kb.list()).length;
    // The last document stored: a scan that stops at its first match would find the first at once.
    const incident = (await db.collection<{ _id: string; revision: number }>(INCIDENTS_COLLECTION).find({}, { projection: { _id: 1, revision: 1 } }).toArray()).at(-1);
    const fact = (await db.collection<{ changeSetId: string }>(CHANGE_SETS_COLLECTION).find({}, { projection: { changeSetId: 1 } }).toArray()).at(-1);
    const count = (c: string) => db.collection(c).estimatedDocumentCount();
    const rows: Array<Record<string, string | number>> = [];
    const row = async (read: string, docs: number, now: () => Promise<unknown>, before: () => Promise<unknown>) =>
      rows.push({ read, documents: docs, now: ms(await median(runs, now)), before: ms(await median(runs, before)) });
    await row(`kb list (${entries} entries)`, await count(KNOWLEDGE_BASE_EVENTS_COLLECTION), () => kb.list(), () => listPerEntry(db));
    if (incident) {
      const coll = db.collection<{ _id: string; revision: number }>(INCIDENTS_COLLECTION);
      await row('incident write guard', await count(INCIDENTS_COLLECTION), () => coll.findOne({ _id: incident._id }), () => coll.findOne({ _id: incident._id, revision: { $lt: incident.revision + 1 } }));
    }
    if (fact) {
      await row(`change set facts (${CHANGE_SET_STATES.length} states)`, await count(CHANGE_SETS_COLLECTION), () => factsOf(db, fact.changeSetId), () =>
        db.collection(CHANGE_SETS_COLLECTION).find({ changeSetId: fact.changeSetId }).toArray(),
      );
    }
    printTable(rows);
  } finally {
    await client.close().catch(() => undefined);
    server.kill('SIGKILL');
    rmSync(copy, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
