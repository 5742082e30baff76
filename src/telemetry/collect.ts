/**
 * The telemetry document: what the telemetry schedule publishes every minute on
 * `telemetry.layer1.metrics` and keeps in the store, and what /metrics shows (src/metrics/). Each
 * figure is computed from its source of record — boot reports, playbook run reports, the control
 * plane's status, the knowledge base, incidents — never kept as a counter of its own. A section
 * whose source does not exist says so (`{ available: false, reason }`) instead of showing zeros.
 */
import path from 'node:path';
import type { Db } from 'mongodb';
import type { BootReport } from '../../contracts/boot';
import type { ControlPlaneStatus } from '../../contracts/control-plane';
import type { Incident } from '../../contracts/incident';
import type { PlaybookReport } from '../../contracts/playbook';
import { BOOTS_COLLECTION, CHAOS_LEDGER_COLLECTION, INCIDENTS_COLLECTION, PLAYBOOK_RUNS_COLLECTION } from '../clients/collections';
import type { LoadedConfig } from '../config/load';
import { KernelState } from '../domain/kernel-state';
import { KnowledgeBase } from '../knowledge/kb';

/** The subject the document is published on. */
export const TELEMETRY_SUBJECT = 'telemetry.layer1.metrics';

export interface Unavailable {
  available: false;
  reason: string;
}

/** One kernel's readiness over every stored boot report. */
export interface ReadinessFigures {
  /** Boot reports that name the kernel. */
  count: number;
  /** Of which it became ready. */
  ready: number;
  /** Time to ready over the boots it became ready in; null before any. */
  avgMs: number | null;
  minMs: number | null;
  maxMs: number | null;
  /** Self-test attempts beyond the first, summed. */
  retries: number;
}

/** One playbook's finished runs (dry runs and runs still going are not counted). */
export interface PlaybookFigures {
  total: number;
  success: number;
  failure: number;
  avgMs: number | null;
}

export interface ControlPlaneFigures {
  available: true;
  kernels: { total: number; running: number; failed: number };
  /** Restarts since the control plane started, per kernel. */
  restarts: Record<string, number>;
  states: Record<string, string>;
  crashLoops: string[];
}

export interface SelfLearningFigures {
  available: true;
  /** Signatures the knowledge base holds. */
  knownSignatures: number;
  /** Of which a verified remedy exists. */
  withRemedy: number;
  /** Of which the remedy is applied without the coding agent. */
  autoApplyEnabled: number;
  confidence: Record<string, number>;
  /** Mean time to heal of closed incidents whose signature was known (auto-applied) and new; null before any. */
  mtthKnownMs: number | null;
  mtthNewMs: number | null;
  incidents: { total: number; open: number; closed: number; reopened: number };
}

export interface TelemetryDocument {
  version: 1;
  /** The run that produced it (its idempotency key), also the message id on the bus. */
  id: string;
  at: string;
  readiness: Record<string, ReadinessFigures>;
  playbooks: Record<string, PlaybookFigures>;
  control_plane: ControlPlaneFigures | Unavailable;
  self_learning: SelfLearningFigures | Unavailable;
  chaos: ChaosFigures | Unavailable;
}

/** The raw values behind the document's averages, for the histograms of /metrics. */
export interface TelemetrySamples {
  timeToReadyMs: Array<{ kernel: string; ms: number }>;
  playbookMs: Array<{ playbook: string; outcome: 'success' | 'failure'; ms: number }>;
  timeToHealMs: Array<{ known: boolean; ms: number }>;
}

export interface TelemetryDeps {
  db: Db;
  config: Pick<LoadedConfig, 'incidents' | 'chaos' | 'rootDir'>;
  /** The control plane's status, or why there is none (the caller asks Temporal or reads the status snapshot). */
  controlPlane: () => Promise<{ status: ControlPlaneStatus | null; why: string | null }>;
}

const mean = (xs: number[]): number | null => (xs.length === 0 ? null : Math.round(xs.reduce((a, b) => a + b, 0) / xs.length));

export async function collectTelemetry(deps: TelemetryDeps, id: string, now = new Date()): Promise<{ document: TelemetryDocument; samples: TelemetrySamples }> {
  const samples: TelemetrySamples = { timeToReadyMs: [], playbookMs: [], timeToHealMs: [] };
  const [readiness, playbooks, controlPlane, selfLearning, chaos] = await Promise.all([
    readinessFigures(deps.db, samples),
    playbookFigures(deps.db, samples),
    controlPlaneFigures(deps),
    selfLearningFigures(deps, samples),
    chaosFigures(deps.db, deps.config.chaos.cardsDir ? path.resolve(deps.config.rootDir, deps.config.chaos.cardsDir) : undefined),
  ]);
  return {
    document: { version: 1, id, at: now.toISOString(), readiness, playbooks, control_plane: controlPlane, self_learning: selfLearning, chaos },
    samples,
  };
}

/** Per kernel, over every boot report in the store (`boots`, written by the boot workflow). */
export async function readinessFigures(db: Db, samples?: TelemetrySamples): Promise<Record<string, ReadinessFigures>> {
  const boots = await db
    .collection<BootReport>(BOOTS_COLLECTION)
    .find({}, { projection: { kernels: 1 } })
    .toArray();
  const out: Record<string, ReadinessFigures & { times: number[] }> = {};
  for (const boot of boots) {
    for (const k of boot.kernels ?? []) {
      const f = (out[k.kernel] ??= { count: 0, ready: 0, avgMs: null, minMs: null, maxMs: null, retries: 0, times: [] });
      f.count += 1;
      f.retries += k.retries;
      if (!k.ready) continue;
      f.ready += 1;
      f.times.push(k.timeToReadyMs);
      samples?.timeToReadyMs.push({ kernel: k.kernel, ms: k.timeToReadyMs });
    }
  }
  return Object.fromEntries(
    Object.entries(out)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([kernel, { times, ...f }]) => [
        kernel,
        { ...f, avgMs: mean(times), minMs: times.length ? Math.min(...times) : null, maxMs: times.length ? Math.max(...times) : null },
      ]),
  );
}

const SUCCESS = new Set(['succeeded']);
const FAILURE = new Set(['failed', 'compensated', 'refused']);

async function playbookFigures(db: Db, samples: TelemetrySamples): Promise<Record<string, PlaybookFigures>> {
  const runs = await db
    .collection<PlaybookReport>(PLAYBOOK_RUNS_COLLECTION)
    .find({ dryRun: { $ne: true } }, { projection: { playbook: 1, outcome: 1, startedAt: 1, finishedAt: 1 } })
    .toArray();
  const out: Record<string, PlaybookFigures & { times: number[] }> = {};
  for (const r of runs) {
    const success = SUCCESS.has(r.outcome);
    if (!success && !FAILURE.has(r.outcome)) continue; // running, waiting for its lock, or a dry run
    const f = (out[r.playbook] ??= { total: 0, success: 0, failure: 0, avgMs: null, times: [] });
    f.total += 1;
    if (success) f.success += 1;
    else f.failure += 1;
    const ms = r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : Number.NaN;
    if (Number.isFinite(ms) && ms >= 0) {
      f.times.push(ms);
      samples.playbookMs.push({ playbook: r.playbook, outcome: success ? 'success' : 'failure', ms });
    }
  }
  return Object.fromEntries(
    Object.entries(out)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, { times, ...f }]) => [name, { ...f, avgMs: mean(times) }]),
  );
}

const FAILED_STATES: string[] = [KernelState.FAILED, KernelState.CRASH_LOOP];

async function controlPlaneFigures(deps: TelemetryDeps): Promise<ControlPlaneFigures | Unavailable> {
  const { status, why } = await deps.controlPlane().catch((err: unknown) => ({ status: null, why: (err as Error).message }));
  if (!status) return { available: false, reason: `the control plane's status is not available: ${why ?? 'unknown'}` };
  const kernels = Object.values(status.kernels);
  return {
    available: true,
    kernels: {
      total: kernels.length,
      running: kernels.filter((k) => k.state === KernelState.READY).length,
      failed: kernels.filter((k) => FAILED_STATES.includes(k.state)).length,
    },
    restarts: Object.fromEntries(kernels.map((k) => [k.name, k.restarts])),
    states: Object.fromEntries(kernels.map((k) => [k.name, k.state])),
    crashLoops: kernels.filter((k) => k.crashLoop).map((k) => k.name),
  };
}

async function selfLearningFigures(deps: TelemetryDeps, samples: TelemetrySamples): Promise<SelfLearningFigures> {
  const kb = new KnowledgeBase(deps.db, deps.config.incidents.knowledge);
  const [entries, incidents] = await Promise.all([
    kb.list(),
    deps.db
      .collection<Incident>(INCIDENTS_COLLECTION)
      .find({}, { projection: { state: 1, known: 1, timeToHealMs: 1 } })
      .toArray(),
  ]);
  const heal = { known: [] as number[], new: [] as number[] };
  for (const i of incidents) {
    if (i.state !== 'closed' || typeof i.timeToHealMs !== 'number') continue;
    (i.known ? heal.known : heal.new).push(i.timeToHealMs);
    samples.timeToHealMs.push({ known: i.known, ms: i.timeToHealMs });
  }
  const count = (state: string): number => incidents.filter((i) => i.state === state).length;
  return {
    available: true,
    knownSignatures: entries.length,
    withRemedy: entries.filter((e) => e.remedy !== null).length,
    autoApplyEnabled: entries.filter((e) => e.autoApply).length,
    confidence: Object.fromEntries(entries.map((e) => [e.signature, e.confidence])),
    mtthKnownMs: mean(heal.known),
    mtthNewMs: mean(heal.new),
    incidents: { total: incidents.length, open: count('open'), closed: count('closed'), reopened: count('reopened') },
  };
}

/** The seed's chaos figures, from the ledger (src/chaos/harness/ledger.ts `coverageOf`, as `layer1 chaos coverage`). */
export interface ChaosFigures {
  available: true;
  cards: number;
  cardsDrilled: number;
  drills: number;
  successRate: number | null;
  coverage7d: number;
  highRiskPending: number;
}

async function chaosFigures(db: Db, cardsDir?: string): Promise<ChaosFigures | Unavailable> {
  const [{ loadCards }, { coverageOf, ledger }] = await Promise.all([import('../chaos/cards/loader'), import('../chaos/harness/ledger')]);
  const { cards } = cardsDir ? loadCards(cardsDir) : loadCards();
  if (cards.length === 0) return { available: false, reason: 'no valid failure card (chaos/cards/): nothing to drill, so no coverage' };
  const entries = await ledger(db).find({ state: 'ended' }).toArray();
  if (entries.length === 0) return { available: false, reason: `no drill in the ${CHAOS_LEDGER_COLLECTION} yet: cards drilled, success rate, coverage and high-risk pending are unknown until \`layer1 chaos run\` or a chaos schedule runs one` };
  const cov = coverageOf(cards, entries, new Date());
  return { available: true, cards: cards.length, cardsDrilled: cov.drilled, drills: cov.drills, successRate: cov.successRate, coverage7d: cov.coverage7d, highRiskPending: cov.highRiskPending };
}
