/**
 * Waiting for an incident to end, as the integration tests and benchmarks that inject a real fault
 * do: the incident opened since the fault that matches it, once its clarity entry is written
 * (closed, or reopened with no attempt left). And the change set that was its remedy: the
 * incident's own (`fix`), or the one its playbook's `apply_fix` step applied.
 */
import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import type { Incident } from '../../contracts/incident';
import type { PlaybookReport } from '../../contracts/playbook';
import { INCIDENTS_COLLECTION } from '../clients/collections';

export async function awaitEndedIncident(db: Db, match: (i: Incident) => boolean, since: number, timeoutMs = 600_000): Promise<Incident> {
  const deadline = Date.now() + timeoutMs;
  let seen: Incident | undefined;
  // Every ask scans the incidents on FerretDB (it pushes down only `_id` filters): from 500 ms up to
  // 2 s between asks, so a wait of minutes does not keep the store busy; the incident's own times
  // (timeToHealMs, closedAt) are what callers measure, not when this saw it.
  for (let pause = 500; Date.now() < deadline; pause = Math.min(2_000, pause * 2)) {
    const docs = await db
      .collection<Incident & { _id: string }>(INCIDENTS_COLLECTION)
      .find({ openedAt: { $gte: new Date(since - 1_000).toISOString() } })
      .toArray();
    seen = docs.find(match);
    if (seen?.clarity) return seen;
    await new Promise((r) => setTimeout(r, pause));
  }
  throw new Error(`no incident ended within ${timeoutMs} ms; last seen: ${JSON.stringify(seen ?? null).slice(0, 3_000)}`);
}

/** The change set that was the incident's remedy, directly or through its playbook's apply_fix step; null for none. */
export async function remedyChangeSet(temporal: Client, inc: Incident): Promise<string | null> {
  if (inc.remedy?.kind === 'fix') return inc.remedy.runId;
  if (inc.remedy?.kind !== 'playbook' || !inc.remedy.runId) return null;
  // Runs of one playbook on one kernel share the workflow id: this incident's is the first started
  // once it opened.
  let runId: string | undefined;
  let startedAt = Infinity;
  for await (const w of temporal.workflow.list({ query: `WorkflowId = '${inc.remedy.runId}'` })) {
    const t = w.startTime.getTime();
    if (t >= Date.parse(inc.openedAt) - 1_000 && t < startedAt) [runId, startedAt] = [w.runId, t];
  }
  const report = (await temporal.workflow.getHandle(inc.remedy.runId, runId).result().catch(() => null)) as PlaybookReport | null;
  const step = report?.steps.find((s) => s.action === 'apply_fix' && (s.output as { changeSet?: string } | undefined)?.changeSet);
  return (step?.output as { changeSet?: string } | undefined)?.changeSet ?? null;
}
