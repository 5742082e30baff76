/**
 * The incident workflow's activities (workflows/incident.ts): record the incident, collect its
 * diagnostics, decide its remedy from the knowledge base, join a remedy run already going, learn
 * the outcome, and write the clarity entry to the immutable log. Each is idempotent and says why.
 */
import { readFileSync, readdirSync, statfsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Db, MongoServerError } from 'mongodb';
import type { LoadedConfig } from '../src/config/load';
import type { ProcessManager } from '../src/process/manager';
import { INCIDENTS_COLLECTION } from '../src/clients/collections';
import { withDocumentLock } from '../src/clients/document-lock';
import { CONTROL_PLANE_WORKFLOW_ID, getControlPlaneStatusQuery } from '../contracts/control-plane';
import { evidenceSignal, getPlaybookProgressQuery, type PlaybookReport } from '../contracts/playbook';
import type { ClarityEntry, Incident, IncidentDiagnostics } from '../contracts/incident';
import type { Evidence } from '../src/healing/evidence';
import { playbookByName, type RemedyChoice } from '../src/healing/remedies';
import { KnowledgeBase } from '../src/knowledge/kb';
import type { KnowledgeEntry, RemedyOutcome } from '../src/knowledge/types';
import { openBacklogItem } from '../src/backlog/store';
import { immutableLogClient, kernelDef } from '../kernels/registry';
import { AUDIT_META_FIELD, auditMetaOf, findLogEntryBackward } from '../src/clients/audit-log';
import { tailLines } from '../src/healing/log-tail';
import { activityContext, heartbeat } from './actions/context';

/** Lines kept around the event, and their length. */
const LOG_CONTEXT_LINES = 6;
const LOG_LINE_CHARS = 400;
/** How much of each log file's end diagnostics read. */
const LOG_TAIL_BYTES = 64 * 1024;
/** CPU is sampled over this long. */
const CPU_SAMPLE_MS = 200;

export interface IncidentActivityDeps {
  config: LoadedConfig;
  db: Db;
  temporal: Client;
  pm: ProcessManager;
}

export interface RemedyDecision {
  /** The knowledge base holds a verified remedy for this signature. */
  known: boolean;
  /** …and it may be applied without the coding agent. */
  autoApply: boolean;
  entry: KnowledgeEntry | null;
  /** The known remedy resolved for this evidence, when auto-applied. */
  remedy: RemedyChoice | null;
  /**
   * A learned fixer, when auto-applied: it proposes its change set again from the new evidence
   * (on the coding agent's queue: proposing reads the trees, not for a local activity).
   */
  fix?: { name: string; params: Record<string, unknown> } | null;
}

/**
 * The incident's document, replaced if `revision` is newer than the stored one (an older write's
 * insert then fails on the duplicate id, which means a newer revision is there).
 *
 * Under the document's lock (src/clients/document-lock.ts): FerretDB runs the guarded replace as a
 * query then a write, not atomically, so two writes at once could both pass the guard and the older
 * land last. Seen in a CI run with the store slow: the incident's best-effort writes (3 s each)
 * overlapped its durable one, and the store kept `open` (revision 1) after the remedy had run. The
 * stored revision is read back before the lock is let go; a write that did not hold throws, and the
 * activity's retry policy tries again.
 */
async function writeIncident(db: Db, incident: Incident, revision: number): Promise<void> {
  const incidents = db.collection<Incident & { _id: string; updatedAt: Date; revision: number }>(INCIDENTS_COLLECTION);
  await withDocumentLock(
    db,
    INCIDENTS_COLLECTION,
    incident.id,
    async () => {
      // Read, then replace by `_id` alone: under the lock this is the guarded replace, and FerretDB
      // on SQLite pushes only an `_id`-only filter down. With the revision in the filter, every
      // write of every incident scanned the whole collection (hundreds of ms each, idle).
      const before = (await incidents.findOne({ _id: incident.id }, { projection: { revision: 1 } }))?.revision ?? null;
      if (before === null || before < revision) {
        try {
          await incidents.replaceOne({ _id: incident.id }, { ...incident, revision, updatedAt: new Date() }, { upsert: true });
        } catch (err) {
          if ((err as MongoServerError).code !== 11000) throw err;
        }
      }
      const stored = (await incidents.findOne({ _id: incident.id }, { projection: { revision: 1 } }))?.revision ?? null;
      if (stored === null || stored < revision) {
        throw new Error(`incident ${incident.id}: revision ${revision} did not hold (the store has ${stored === null ? 'no document' : `revision ${stored}`})`);
      }
    },
  );
}

export function createIncidentActivities({ config, db, temporal, pm }: IncidentActivityDeps) {
  const kb = new KnowledgeBase(db, config.incidents.knowledge);
  return {
    /**
     * Idempotent: the whole incident replaces its document, guarded by the workflow's revision
     * counter, so a retried older write never overwrites a newer one ({@link writeIncident}).
     */
    recordIncident: (incident: Incident, revision: number): Promise<void> => writeIncident(db, incident, revision),

    /** Read-only: log lines around the event, the control plane's record of the kernel, a resource snapshot. */
    async collectDiagnostics(e: Evidence): Promise<IncidentDiagnostics> {
      const processes = e.kernel ? kernelDef(e.kernel).processes(config) : e.process ? [e.process] : [];
      const logFiles = [...new Set([...(e.process ? [e.process] : []), ...processes])].map((p) => pm.logPath(p));
      const [heartbeats, resources] = await Promise.all([kernelHistory(temporal, e.kernel), resourceSnapshot(pm, processes, config.stateDir)]);
      return { logLines: logContext(logFiles, e.text), heartbeats, resources, collectedAt: new Date().toISOString() };
    },

    /**
     * Read-only: what the knowledge base knows of the signature (the seam counted the occurrence). A
     * known remedy that may be auto-applied is resolved for this evidence here.
     */
    async decideRemedy(e: Evidence, playbookDir?: string): Promise<RemedyDecision> {
      const entry = await kb.get(e.signature);
      const known = entry !== null && entry.remedy !== null && entry.successes > 0;
      if (entry && known && entry.autoApply && entry.remedy?.kind === 'fix') return { known, autoApply: true, entry, remedy: null, fix: { name: entry.remedy.name, params: entry.remedy.params } };
      if (!entry || !known || !entry.autoApply || entry.remedy?.kind !== 'playbook') return { known, autoApply: false, entry, remedy: null };
      const remedy = playbookByName(entry.remedy.name, e, entry.remedy.params, playbookDir);
      return { known, autoApply: remedy.kind !== null, entry, remedy };
    },

    /**
     * A remedy run with this id was already going (another incident chose the same playbook for the
     * same kernel): hand it this evidence and wait for its report. Idempotent: the signal folds into
     * the run by evidence id, and waiting changes nothing.
     */
    async joinPlaybookRun(workflowId: string, e: Evidence): Promise<PlaybookReport> {
      const handle = temporal.workflow.getHandle(workflowId);
      await handle.signal(evidenceSignal, e).catch(() => undefined);
      for (;;) {
        const desc = await handle.describe();
        if (desc.status.name !== 'RUNNING') {
          try {
            return (await handle.result()) as PlaybookReport;
          } catch (err) {
            const details = (err as { cause?: { details?: unknown[] } }).cause?.details;
            if (details?.[0]) return details[0] as PlaybookReport;
            throw err;
          }
        }
        heartbeat({ waiting: workflowId, progress: await handle.query(getPlaybookProgressQuery).then((r) => r.outcome, () => 'unknown') });
        await sleep(1_000);
      }
    },

    /** Idempotent on the outcome id (the knowledge base counts each once). */
    async learnOutcome(outcome: RemedyOutcome): Promise<KnowledgeEntry | null> {
      return kb.recordOutcome(outcome);
    },

    /**
     * Appends the clarity entry to the immutable log. Idempotent: the entry carries the incident and
     * attempt; a retry finds it in the log's tail and returns it instead of appending again.
     */
    async appendClarity(incidentId: string, attempt: number, clarity: ClarityEntry, summary: Record<string, unknown>): Promise<{ seq: number } | { error: string }> {
      const key = `${incidentId}:${attempt}`;
      try {
        const client = immutableLogClient(config, 10_000);
        if ((activityContext()?.info.attempt ?? 2) > 1) {
          const existing = await findLogEntryBackward(client, (x) => x.kind === 'incident.clarity' && auditMetaOf(x)?.key === key, { sinceMs: Date.now() - 3_600_000 });
          if (existing) return { seq: existing.seq };
        }
        const res = await client.append('incident.clarity', JSON.parse(JSON.stringify({ ...summary, clarity, [AUDIT_META_FIELD]: { key, incident: incidentId } })));
        return { seq: res.seq };
      } catch (err) {
        // The log may be the kernel being repaired: the entry is in the store with the incident.
        return { error: (err as Error).message };
      }
    },

    /** Idempotent: the item is keyed on the incident. */
    async openIncidentBacklog(incident: Incident, why: string): Promise<void> {
      await openBacklogItem(db, {
        _id: `incident:${incident.id}`,
        title: `Incident ${incident.id} (${incident.signature}) could not be healed`,
        detail: why,
        severity: 'high',
        source: { incident: incident.id, kernel: incident.kernel, signature: incident.signature },
      });
    },
  };
}

/** The kernel's record and recent events in the control plane: heartbeat and restart history. */
async function kernelHistory(temporal: Client, kernel: string | null): Promise<unknown[]> {
  if (!kernel) return [];
  try {
    const status = await temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID).query(getControlPlaneStatusQuery);
    const rec = status.kernels[kernel];
    const events = status.events.filter((ev) => ev.kernel === kernel).slice(-10);
    return [
      ...(rec
        ? [{ kernel, state: rec.state, restarts: rec.restarts, recentRestarts: rec.recentRestarts.map((t) => new Date(t).toISOString()), crashLoop: rec.crashLoop, lastReason: rec.lastReason, lastRestartAt: rec.lastRestartAt, readySince: rec.readySince, checkedAt: rec.checkedAt ?? null, pids: rec.pids }]
        : []),
      ...events,
    ];
  } catch (err) {
    return [{ kernel, error: `control plane not answering: ${(err as Error).message}` }];
  }
}

/** The lines around `text` in the newest of the files, or the last lines when it is not there. */
export function logContext(files: string[], text: string): string[] {
  const wanted = text.split('\n')[0].trim();
  let fallback: string[] = [];
  for (const file of files) {
    const lines = tailLines(file, LOG_TAIL_BYTES);
    if (lines.length === 0) continue;
    const at = wanted ? lines.map((l) => l.includes(wanted)).lastIndexOf(true) : -1;
    if (at >= 0) return lines.slice(Math.max(0, at - LOG_CONTEXT_LINES), at + LOG_CONTEXT_LINES + 1).map(clip);
    if (fallback.length === 0) fallback = lines.slice(-LOG_CONTEXT_LINES).map((l) => `${file.split('/').pop()}: ${clip(l)}`);
  }
  return wanted ? [clip(wanted), ...fallback] : fallback;
}

const clip = (l: string): string => (l.length > LOG_LINE_CHARS ? `${l.slice(0, LOG_LINE_CHARS)}…` : l);


/** CPU (sampled), resident memory, open files and threads of each process; free disk in the state dir. */
async function resourceSnapshot(pm: ProcessManager, processes: string[], stateDir: string): Promise<Record<string, unknown>> {
  const pids = processes.map((p) => [p, pm.pid(p)] as const);
  const before = new Map(pids.map(([p, pid]) => [p, pid ? cpuTicks(pid) : null]));
  await sleep(CPU_SAMPLE_MS);
  const ticksPerSec = 100; // USER_HZ on Linux
  const out: Record<string, unknown> = {};
  for (const [name, pid] of pids) {
    if (!pid) {
      out[name] = { pid: null, alive: false };
      continue;
    }
    const t0 = before.get(name);
    const t1 = cpuTicks(pid);
    const status = procStatus(pid);
    out[name] = {
      pid,
      alive: t1 !== null,
      cpuPercent: t0 !== null && t0 !== undefined && t1 !== null ? Math.round(((t1 - t0) / ticksPerSec / (CPU_SAMPLE_MS / 1000)) * 1000) / 10 : null,
      rssMb: status.VmRSS ? Math.round(parseInt(status.VmRSS, 10) / 102.4) / 10 : null,
      threads: status.Threads ? Number(status.Threads) : null,
      openFiles: openFiles(pid),
    };
  }
  try {
    const fs = statfsSync(stateDir);
    out.disk = { path: stateDir, freeMb: Math.round((fs.bavail * fs.bsize) / 1048576), totalMb: Math.round((fs.blocks * fs.bsize) / 1048576) };
  } catch (err) {
    out.disk = { path: stateDir, error: (err as Error).message };
  }
  return out;
}

function cpuTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

function procStatus(pid: number): Record<string, string> {
  try {
    return Object.fromEntries(
      readFileSync(`/proc/${pid}/status`, 'utf8')
        .split('\n')
        .map((l) => l.split(':\t').map((s) => s.trim()))
        .filter((kv) => kv.length === 2),
    );
  } catch {
    return {};
  }
}

function openFiles(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}
