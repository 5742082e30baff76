/**
 * The record of every change set the coding agent staged, verified, promoted or rolled back: in the
 * store, one insert-once fact per state (collection `change_sets`, `_id` `<id>:<state>`), and in the
 * immutable log, one entry per promotion and per rollback (`coding_agent.change_promoted`,
 * `coding_agent.change_rolled_back`) carrying each file's diff and hashes.
 *
 * Insert-once facts rather than one document updated as the change set moves on: FerretDB 1.24 loses
 * concurrent updates of one document, and an activity retried while its lost attempt still runs
 * would be a second writer. A fact already there is the same fact (the first attempt's): kept.
 */
import { MongoServerError, type Db } from 'mongodb';
import { CHANGE_SET_STATES, type ChangeSetCommandReport, type ChangeSetFileRecord, type ChangeSetState } from '../../contracts/change-set';
import type { VerificationCheckReport } from '../../contracts/verification';
import type { ImmutableLogClient } from '../../kernels/immutable-log/client';
import type { JsonValue } from '../../kernels/immutable-log/format';
import { CHANGE_SETS_COLLECTION } from '../clients/collections';
import { findLogEntryBackward } from '../clients/audit-log';

export const CHANGE_PROMOTED_KIND = 'coding_agent.change_promoted';
export const CHANGE_ROLLED_BACK_KIND = 'coding_agent.change_rolled_back';
/** The most of one file's diff a log entry carries (the store's fact has it whole). */
export const LOG_DIFF_BYTES = 16_384;

export interface ChangeSetFact {
  _id: string;
  changeSetId: string;
  state: ChangeSetState;
  at: Date;
  incidentId: string | null;
  fixer: string;
  params: Record<string, unknown>;
  summary: string;
  restartKernel: string | null;
  files: ChangeSetFileRecord[];
  commands: ChangeSetCommandReport[];
  checks: VerificationCheckReport[];
  error: string | null;
  /** The scratch copy's fingerprint (src/coding-agent/apply.ts `scratchFingerprint`), on `staged` and `verified`. */
  fingerprint?: string | null;
  /** On `verified`: the change set whose checks were kept (a byte-identical scratch copy), when they were not run again. */
  reusedFrom?: string | null;
  /**
   * On `verified`: what chose the checks besides the bytes — the kernel (its declared tests) and the
   * changed project files (their importers' tests, the lint targets). Kept checks must match them too.
   */
  checkedFor?: { kernel: string | null; changedFiles: string[] };
}

const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === 11000;

/** Inserts the fact once; true when this call inserted it, false when it was there already. */
export async function recordFact(db: Db, fact: Omit<ChangeSetFact, '_id'>): Promise<boolean> {
  try {
    await db.collection<ChangeSetFact>(CHANGE_SETS_COLLECTION).insertOne({ ...fact, _id: `${fact.changeSetId}:${fact.state}` });
    return true;
  } catch (err) {
    if (isDuplicateKey(err)) return false;
    throw err;
  }
}

/**
 * Every fact of one change set, oldest first. One read by `_id` per state (a fact's id is
 * `<id>:<state>`): FerretDB on SQLite scans the collection for any other filter, and these facts
 * carry every changed file's diff (half a second per scan of a CI run's store, idle).
 */
export async function factsOf(db: Db, changeSetId: string): Promise<ChangeSetFact[]> {
  const coll = db.collection<ChangeSetFact>(CHANGE_SETS_COLLECTION);
  const facts = (await Promise.all(CHANGE_SET_STATES.map((state) => coll.findOne({ _id: `${changeSetId}:${state}` })))).filter((f): f is ChangeSetFact => f !== null);
  return facts.sort((a, b) => new Date(a.at).getTime() - new Date(b.at).getTime());
}

/** The current state of a change set: its newest fact's (null: unknown id). */
export function stateOf(facts: ChangeSetFact[]): ChangeSetState | null {
  return facts.length ? facts[facts.length - 1]!.state : null;
}

/** The incident's newest promoted change set that was not rolled back, or null. */
export async function lastPromotedOf(db: Db, incidentId: string): Promise<ChangeSetFact | null> {
  const coll = db.collection<ChangeSetFact>(CHANGE_SETS_COLLECTION);
  const promoted = (await coll.find({ incidentId, state: 'promoted' }).toArray()).sort((a, b) => new Date(b.at).getTime() - new Date(a.at).getTime());
  for (const p of promoted) {
    if (!(await coll.findOne({ _id: `${p.changeSetId}:rolled_back` }))) return p;
  }
  return null;
}

const truncate = (s: string): string => (Buffer.byteLength(s) <= LOG_DIFF_BYTES ? s : `${Buffer.from(s).subarray(0, LOG_DIFF_BYTES).toString('utf8')}\n… (truncated; whole in the store's change_sets)\n`);

/**
 * Appends the change set's log entry once: a retry (even after an append whose answer was lost)
 * finds its entry — same kind, same change set id — in the log's recent tail and returns it.
 */
export async function appendChangeEntry(
  client: ImmutableLogClient,
  kind: typeof CHANGE_PROMOTED_KIND | typeof CHANGE_ROLLED_BACK_KIND,
  data: { changeSetId: string; incidentId: string | null; fixer: string; summary: string; files: ChangeSetFileRecord[] },
  sinceMs: number,
): Promise<{ seq: number; hash: string }> {
  const existing = await findLogEntryBackward(
    client,
    (e) => e.kind === kind && e.data !== null && typeof e.data === 'object' && !Array.isArray(e.data) && e.data.changeSetId === data.changeSetId,
    { sinceMs, maxPages: 5 },
  );
  if (existing) return { seq: existing.seq, hash: existing.hash };
  const payload = { ...data, files: data.files.map((f) => ({ ...f, diff: truncate(f.diff) })) };
  const res = await client.append(kind, JSON.parse(JSON.stringify(payload)) as JsonValue);
  return { seq: res.seq, hash: res.hash };
}

/** One change set as `layer1 incidents show` tells it: its current state and what it changed. */
export interface ChangeSetSummary {
  id: string;
  state: ChangeSetState;
  /** Every state it went through, oldest first, with when. */
  history: Array<{ state: ChangeSetState; at: string }>;
  fixer: string;
  params: Record<string, unknown>;
  summary: string;
  files: ChangeSetFileRecord[];
  error: string | null;
}

/** The incident's change sets, oldest first, each folded from its facts (the newest fact gives its state). */
export async function changeSetsOf(db: Db, incidentId: string): Promise<ChangeSetSummary[]> {
  const facts = await db.collection<ChangeSetFact>(CHANGE_SETS_COLLECTION).find({ incidentId }).toArray();
  const byId = new Map<string, ChangeSetFact[]>();
  for (const f of facts.sort((a, b) => new Date(a.at).getTime() - new Date(b.at).getTime())) byId.set(f.changeSetId, [...(byId.get(f.changeSetId) ?? []), f]);
  return [...byId.entries()].map(([id, fs]) => {
    const last = fs[fs.length - 1]!;
    const withFiles = [...fs].reverse().find((f) => f.files.length > 0) ?? last;
    return {
      id,
      state: last.state,
      history: fs.map((f) => ({ state: f.state, at: new Date(f.at).toISOString() })),
      fixer: last.fixer,
      params: last.params,
      summary: last.summary,
      files: withFiles.files,
      error: last.error,
    };
  });
}
