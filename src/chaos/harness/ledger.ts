/**
 * The chaos ledger (`chaos_ledger`): one document per drill, keyed on its workflow id, written at
 * its start (so a drill whose worker died is still on record) and completed by its end; the
 * journal of what undoes its injection lives in it too. Coverage is computed from it, never kept
 * apart, so `chaos coverage` always agrees with the ledger.
 */
import type { Db } from 'mongodb';
import { BACKLOG_COLLECTION, CHAOS_LEDGER_COLLECTION } from '../../clients/collections';
import type { DrillOutcome, DrillResult, GateResult, RollbackResult } from '../../../contracts/chaos';
import type { Undo } from '../faults/types';
import type { Risk } from '../cards/format';

export interface JournalEntry {
  undo: Undo;
  /** SHA-256 of the file (or the package.json of the folder) the act was about to change. */
  before: string | null;
  file: string | null;
}

export interface LedgerEntry {
  _id: string;
  card: string;
  risk: Risk;
  target: string;
  trigger: string;
  startedAt: Date;
  endedAt: Date | null;
  state: 'running' | 'ended';
  ok: boolean | null;
  result: DrillOutcome | null;
  gates: GateResult[];
  rollback: RollbackResult | null;
  timeToDetectMs: number | null;
  timeToRecoverMs: number | null;
  injection: (DrillResult['injection'] & { startedAt?: Date }) | null;
  backlog: DrillResult['backlog'];
  files: DrillResult['files'];
  journal: JournalEntry[];
}

export const ledger = (db: Db) => db.collection<LedgerEntry>(CHAOS_LEDGER_COLLECTION);

/** Newest first. */
export async function readLedger(db: Db, limit = 20, card?: string): Promise<LedgerEntry[]> {
  return ledger(db).find(card ? { card } : {}).sort({ startedAt: -1 }).limit(limit).toArray();
}

/** The backlog item a card's failed drills share: opened (again) by a failure, closed by a pass. */
export function backlogIdOf(card: string): string {
  return `chaos-drill-${card}`;
}

export async function openDrillBacklog(db: Db, card: string, risk: Risk, result: DrillResult): Promise<string> {
  const id = backlogIdOf(card);
  const failing = result.gates.find((g) => !g.ok);
  const why = failing ? `gate ${failing.name} failed: ${failing.detail}` : `${result.result}: ${result.injection?.detail ?? ''}`;
  await db.collection(BACKLOG_COLLECTION).updateOne(
    { _id: id as never },
    {
      $set: {
        title: `chaos drill of ${card} failed (${failing ? `gate ${failing.name}` : result.result})`,
        detail: `${why}; drill ${result.drillId}${failing?.evidence ? `; evidence ${JSON.stringify(failing.evidence)}` : ''}`,
        severity: risk,
        status: 'open',
        source: { card, drill: result.drillId, gate: failing?.name ?? null },
      },
      $setOnInsert: { createdAt: new Date() },
    },
    { upsert: true },
  );
  return id;
}

/** Closes the card's open backlog item, if any; true when one was closed. */
export async function closeDrillBacklog(db: Db, card: string, drillId: string): Promise<boolean> {
  const res = await db.collection(BACKLOG_COLLECTION).updateOne({ _id: backlogIdOf(card) as never, status: 'open' }, { $set: { status: 'done', closedBy: drillId, closedAt: new Date() } });
  return res.modifiedCount === 1;
}

export interface CardCoverage {
  card: string;
  risk: Risk | null;
  lastDrilled: string | null;
  drills: number;
  successRate: number | null;
  detectMs: { p50: number | null; p95: number | null };
  recoverMs: { p50: number | null; p95: number | null };
  /** A drill of it passed within the coverage window. */
  covered: boolean;
}

export interface Coverage {
  cards: CardCoverage[];
  /** Cards with at least one ended drill. */
  drilled: number;
  drills: number;
  successRate: number | null;
  /** Cards with a passing drill within `windowDays`, over all cards. */
  coverage7d: number;
  /** High-risk cards without a passing drill within the window: their number, and which. */
  highRiskPending: number;
  highRiskPendingCards: string[];
  windowDays: number;
}

function percentile(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Coverage from ledger entries: per card and overall. Only ended drills count; a drill that could
 * not start (busy target, steady state not holding) is not a drill of the card's fault.
 */
export function coverageOf(cards: Array<{ id: string; risk: Risk }>, entries: readonly LedgerEntry[], now: Date, windowDays = 7): Coverage {
  const since = now.getTime() - windowDays * 86_400_000;
  const counted = entries.filter((e) => e.state === 'ended' && e.result !== 'busy' && e.result !== 'not_steady');
  const perCard = cards.map((c): CardCoverage => {
    const mine = counted.filter((e) => e.card === c.id);
    const passed = mine.filter((e) => e.ok === true);
    const last = mine.reduce<Date | null>((m, e) => (m === null || e.startedAt > m ? e.startedAt : m), null);
    return {
      card: c.id,
      risk: c.risk,
      lastDrilled: last ? last.toISOString() : null,
      drills: mine.length,
      successRate: mine.length ? passed.length / mine.length : null,
      detectMs: { p50: percentile(passed.flatMap((e) => (e.timeToDetectMs === null ? [] : [e.timeToDetectMs])), 50), p95: percentile(passed.flatMap((e) => (e.timeToDetectMs === null ? [] : [e.timeToDetectMs])), 95) },
      recoverMs: { p50: percentile(passed.flatMap((e) => (e.timeToRecoverMs === null ? [] : [e.timeToRecoverMs])), 50), p95: percentile(passed.flatMap((e) => (e.timeToRecoverMs === null ? [] : [e.timeToRecoverMs])), 95) },
      covered: passed.some((e) => e.startedAt.getTime() >= since),
    };
  });
  const all = counted.filter((e) => cards.some((c) => c.id === e.card));
  return {
    cards: perCard,
    drilled: perCard.filter((c) => c.drills > 0).length,
    drills: all.length,
    successRate: all.length ? all.filter((e) => e.ok === true).length / all.length : null,
    coverage7d: cards.length ? perCard.filter((c) => c.covered).length / cards.length : 0,
    highRiskPending: perCard.filter((c) => c.risk === 'high' && !c.covered).length,
    highRiskPendingCards: perCard.filter((c) => c.risk === 'high' && !c.covered).map((c) => c.card),
    windowDays,
  };
}
