/**
 * The dashboard's state: what GET /api/state answers and the page draws. Built in two halves so the
 * shaping can be tested without a store: {@link readDashboardInputs} reads the sources of record
 * (the status snapshot the leading trigger monitor writes, boot reports, incidents, the knowledge
 * base, playbook runs, the chaos ledger), {@link dashboardState} turns them into the JSON, pure.
 *
 * Every item carries the link to its workflow in the Temporal Web UI (null when there is no Web UI),
 * so the page never builds a URL itself. Field names are a contract: add, never rename.
 */
import type { Db } from 'mongodb';
import type { BootReport } from '../../contracts/boot';
import { CONTROL_PLANE_WORKFLOW_ID, type ControlPlaneEvent } from '../../contracts/control-plane';
import type { PlaybookReport } from '../../contracts/playbook';
import {
  BOOTS_COLLECTION,
  CHAOS_LEDGER_COLLECTION,
  INCIDENTS_COLLECTION,
  PLAYBOOK_RUNS_COLLECTION,
} from '../clients/collections';
import type { LoadedConfig } from '../config/load';
import type { CheckResult } from '../domain/checks';
import { INCIDENT_STATE_FILTERS, incidentJson, type IncidentDoc } from '../incidents/format';
import { KnowledgeBase } from '../knowledge/kb';
import type { KnowledgeEntry } from '../knowledge/types';
import type { KernelStatus } from '../stack/kernel-status';

/** How many of each list the page shows: enough to read at a glance, little to send each refresh. */
export const LIMITS = { recentIncidents: 20, playbookRuns: 20, boots: 5, drills: 20, healPoints: 200, events: 10 } as const;

/** A chaos drill's outcome as the drills record it (collection `chaos_ledger`, keyed on the drill id). */
export interface ChaosLedgerDoc {
  _id: string;
  card: string;
  startedAt: Date | string;
  endedAt?: Date | string | null;
  ok: boolean;
  gates?: Array<{ name: string; ok: boolean; ms?: number; detail?: string }>;
  timeToDetectMs?: number | null;
  timeToRecoverMs?: number | null;
  /** The drill's workflow, when it differs from the drill id. */
  workflowId?: string;
}

/** Everything the state is built from, read at one moment. */
export interface DashboardInputs {
  now: Date;
  /** The Web UI's base URL, or null when there is none to link to. */
  webUi: string | null;
  namespace: string;
  refreshMs: number;
  kernels: KernelStatus[];
  /** Why the kernels' states are not known now (no fresh status snapshot), else null. */
  kernelsWhy: string | null;
  events: ControlPlaneEvent[];
  boots: BootReport[];
  incidents: IncidentDoc[];
  knowledge: KnowledgeEntry[];
  playbookRuns: PlaybookReport[];
  /** Null when the ledger cannot be read (the store said no). */
  drills: ChaosLedgerDoc[] | null;
}

export interface Links {
  workflow(workflowId: string, runId?: string | null): string | null;
  list(query: string): string | null;
}

/** Links into the Web UI: `/namespaces/<ns>/workflows/<id>[/<run>]` and a list filtered by a query. */
export function webUiLinks(webUi: string | null, namespace: string): Links {
  const base = webUi ? `${webUi.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows` : null;
  return {
    workflow: (id, runId) => (base ? `${base}/${encodeURIComponent(id)}${runId ? `/${encodeURIComponent(runId)}` : ''}` : null),
    list: (query) => (base ? `${base}?query=${encodeURIComponent(query)}` : null),
  };
}

const iso = (d: Date | string | null | undefined): string | null => (d instanceof Date ? d.toISOString() : (d ?? null));
const OPEN_STATES: readonly string[] = INCIDENT_STATE_FILTERS.open;

export function dashboardState(inp: DashboardInputs) {
  const links = webUiLinks(inp.webUi, inp.namespace);
  return {
    version: 1 as const,
    at: inp.now.toISOString(),
    refreshMs: inp.refreshMs,
    webUi: inp.webUi,
    namespace: inp.namespace,
    controlPlane: { link: links.workflow(CONTROL_PLANE_WORKFLOW_ID), why: inp.kernelsWhy, events: inp.events.slice(-LIMITS.events).reverse() },
    kernels: inp.kernels.map((k) => kernelView(k, links)),
    boots: bootsView(inp.boots, links),
    incidents: incidentsView(inp.incidents, links),
    knowledge: knowledgeView(inp.knowledge, links),
    playbookRuns: inp.playbookRuns.map((r) => playbookRunView(r, links)),
    chaos: chaosView(inp.drills, links),
    timeToHeal: timeToHealView(inp.incidents, links),
  };
}

export type DashboardState = ReturnType<typeof dashboardState>;

function kernelView(k: KernelStatus, links: Links) {
  const checks: CheckResult[] = [
    ...k.checks,
    // Liveness as status sees it: each process the control plane started, alive by its pid file now.
    ...Object.entries(k.processes).map(([p, pid]) => ({ name: `process ${p}`, ok: pid !== null, detail: pid !== null ? `pid ${pid}` : 'not running (pid file)', ms: 0 })),
  ];
  return {
    name: k.name,
    state: k.state,
    ready: k.ready,
    critical: k.critical,
    restarts: k.restarts,
    crashLoop: k.crashLoop,
    lastReason: k.lastReason,
    checkedAt: k.checkedAt,
    uptimeMs: k.uptimeMs,
    checks,
    link: links.workflow(CONTROL_PLANE_WORKFLOW_ID),
    workflows: links.list(`Layer1Kernel = "${k.name}"`),
  };
}

function bootsView(boots: BootReport[], links: Links) {
  return boots.map((b) => {
    const [workflowId, runId] = b.bootId.split('/');
    return {
      bootId: b.bootId,
      ok: b.ok,
      degraded: b.degraded,
      startedAt: b.startedAt,
      finishedAt: b.finishedAt,
      failedChecks: b.failedChecks,
      kernels: b.kernels.map((k) => ({ kernel: k.kernel, ready: k.ready, timeToReadyMs: k.timeToReadyMs, retries: k.retries })),
      link: links.workflow(workflowId, runId),
    };
  });
}

function incidentView(doc: IncidentDoc, links: Links) {
  const i = incidentJson(doc);
  const workflowId = typeof i.workflowId === 'string' ? i.workflowId : i.id;
  return {
    id: i.id,
    state: i.state,
    signature: i.signature,
    kernel: i.kernel,
    openedAt: i.openedAt,
    closedAt: i.closedAt,
    known: i.known,
    autoApplied: i.autoApplied,
    remedy: i.remedy ? `${i.remedy.kind} ${i.remedy.name}` : null,
    attempts: typeof i.attempts === 'number' ? i.attempts : null,
    timeToHealMs: i.timeToHealMs,
    link: links.workflow(workflowId),
  };
}

function incidentsView(docs: IncidentDoc[], links: Links) {
  const newest = [...docs].sort((a, b) => String(iso(b.openedAt) ?? '').localeCompare(String(iso(a.openedAt) ?? '')));
  return {
    open: newest.filter((d) => OPEN_STATES.includes(d.state ?? 'open')).map((d) => incidentView(d, links)),
    recent: newest
      .filter((d) => !OPEN_STATES.includes(d.state ?? 'open'))
      .slice(0, LIMITS.recentIncidents)
      .map((d) => incidentView(d, links)),
  };
}

function knowledgeView(entries: KnowledgeEntry[], links: Links) {
  return [...entries]
    .sort((a, b) => b.confidence - a.confidence || a.signature.localeCompare(b.signature))
    .map((e) => ({
      signature: e.signature,
      kernel: e.kernel,
      errorType: e.errorType,
      occurrences: e.occurrences,
      remedy: e.remedy ? `${e.remedy.kind} ${e.remedy.name}` : null,
      successes: e.successes,
      failures: e.failures,
      confidence: e.confidence,
      autoApply: e.autoApply,
      lastSeen: e.lastSeen,
      // The incidents (and their playbooks and verifications) of this signature.
      link: links.list(`Layer1Signature = "${e.signature}"`),
    }));
}

function playbookRunView(r: PlaybookReport, links: Links) {
  const ms = r.finishedAt ? Date.parse(r.finishedAt) - Date.parse(r.startedAt) : Number.NaN;
  return {
    workflowId: r.workflowId,
    playbook: r.playbook,
    kernel: r.kernel,
    outcome: r.outcome,
    dryRun: r.dryRun,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: Number.isFinite(ms) && ms >= 0 ? ms : null,
    link: links.workflow(r.workflowId),
  };
}

function chaosView(drills: ChaosLedgerDoc[] | null, links: Links) {
  if (drills === null) return { available: false as const, reason: `the ${CHAOS_LEDGER_COLLECTION} collection could not be read`, cards: [], drills: [] };
  if (drills.length === 0) return { available: false as const, reason: 'no drills yet', cards: [], drills: [] };
  const cards = new Map<string, { card: string; drills: number; passed: number; lastAt: string | null; lastOk: boolean | null }>();
  const newest = [...drills].sort((a, b) => String(iso(b.startedAt)).localeCompare(String(iso(a.startedAt))));
  for (const d of [...newest].reverse()) {
    const c = cards.get(d.card) ?? { card: d.card, drills: 0, passed: 0, lastAt: null, lastOk: null };
    c.drills += 1;
    if (d.ok) c.passed += 1;
    c.lastAt = iso(d.startedAt);
    c.lastOk = d.ok;
    cards.set(d.card, c);
  }
  return {
    available: true as const,
    reason: null,
    cards: [...cards.values()]
      .sort((a, b) => a.card.localeCompare(b.card))
      .map((c) => ({ ...c, successRate: c.passed / c.drills, link: links.list(`Layer1Card = "${c.card}"`) })),
    drills: newest.slice(0, LIMITS.drills).map((d) => ({
      id: d._id,
      card: d.card,
      ok: d.ok,
      startedAt: iso(d.startedAt),
      endedAt: iso(d.endedAt),
      timeToDetectMs: d.timeToDetectMs ?? null,
      timeToRecoverMs: d.timeToRecoverMs ?? null,
      gates: (d.gates ?? []).map((g) => ({ name: g.name, ok: g.ok, ms: g.ms ?? null, detail: g.detail ?? '' })),
      link: links.workflow(d.workflowId ?? d._id),
    })),
  };
}

/** Closed incidents' time to heal in the order they closed: the chart's points. */
function timeToHealView(docs: IncidentDoc[], links: Links) {
  return docs
    .filter((d) => d.state === 'closed' && typeof d.timeToHealMs === 'number' && d.closedAt)
    .map((d) => ({ at: iso(d.closedAt) as string, ms: d.timeToHealMs as number, known: d.known ?? false, incident: d.id ?? d._id, link: links.workflow(d.workflowId ?? d._id) }))
    .sort((a, b) => a.at.localeCompare(b.at))
    .slice(-LIMITS.healPoints);
}

export interface DashboardSources {
  db: Db;
  config: Pick<LoadedConfig, 'incidents' | 'temporal' | 'dashboard'>;
  webUi: string | null;
  /** The kernels as `layer1 status` sees them without asking Temporal, and the control plane's recent events. */
  kernels: () => { kernels: KernelStatus[]; why: string | null; events: ControlPlaneEvent[] };
  now?: Date;
}

/** Reads every source at once; a source that fails (but the ledger) fails the read: the page then says so and keeps its last state. */
export async function readDashboardInputs(src: DashboardSources): Promise<DashboardInputs> {
  const { db } = src;
  const kb = new KnowledgeBase(db, src.config.incidents.knowledge);
  const [boots, incidents, knowledge, playbookRuns, drills] = await Promise.all([
    db.collection<BootReport>(BOOTS_COLLECTION).find({}).sort({ startedAt: -1 }).limit(LIMITS.boots).toArray(),
    // Every incident: the open ones and the time-to-heal chart need them all (a few hundred at most a day).
    db
      .collection<IncidentDoc>(INCIDENTS_COLLECTION)
      .find({}, { projection: { diagnostics: 0, verification: 0, clarity: 0, evidence: 0, errors: 0 } })
      .toArray(),
    kb.list(),
    db.collection<PlaybookReport>(PLAYBOOK_RUNS_COLLECTION).find({}, { projection: { steps: 0, compensations: 0, evidence: 0, params: 0 } }).sort({ startedAt: -1 }).limit(LIMITS.playbookRuns).toArray(),
    // Another part's collection, written by the drills: a read it refuses says so on the page, not a blank page.
    db
      .collection<ChaosLedgerDoc>(CHAOS_LEDGER_COLLECTION)
      .find({})
      .sort({ startedAt: -1 })
      .limit(500)
      .toArray()
      .catch(() => null),
  ]);
  const k = src.kernels();
  return {
    now: src.now ?? new Date(),
    webUi: src.webUi,
    namespace: src.config.temporal.namespace,
    refreshMs: src.config.dashboard.refreshMs,
    kernels: k.kernels,
    kernelsWhy: k.why,
    events: k.events,
    boots,
    incidents,
    knowledge,
    playbookRuns,
    drills,
  };
}
