/**
 * Crash survival of incidents, on the bench's own stack (bench/layer1.bench.yaml), in the style of
 * bench/playbook-crash.ts. Each run reports a refused publish of its own (a subject of letters only:
 * a token with a digit is masked, so this gives a signature of its own) through the healing seam, as a trigger monitor does; the incident opens,
 * diagnoses, asks the coding agent, runs `message_bus_acl_violation_fix`, checks the fault gone, and
 * hands its close (tests, eslint, tsc, learning, clarity) to `incident-close-<id>`. At a random time
 * within that, the bench finds the healing replica executing the incident (its intake, or its close
 * once the intake has ended) and `kill -9`s it. Every incident must end, and its effects are then
 * counted from their stores:
 *   remedy runs   playbook runs of the remedy started for it (Temporal visibility): one per attempt
 *   outcomes      the knowledge base's outcome facts for it: one per attempt
 *   clarity       `incident.clarity` entries for it in the immutable log: exactly one
 *
 *   npm run build && node dist/bench/incident-crash.js [--runs 20]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { stopAll } from '../src/stack/stack';
import { runBoot } from '../scripts/kernel-verbs';
import { reportEvidence } from '../src/healing/seam';
import { makeEvidence } from '../src/healing/evidence';
import { readLogEntries } from '../src/clients/audit-log';
import { immutableLogClient } from '../kernels/registry';
import { INCIDENTS_COLLECTION } from '../src/clients/collections';
import { incidentCloseWorkflowId, incidentWorkflowId, type Incident } from '../contracts/incident';
import { argOf, benchConfig, freshStack, percentile, printTable, progress } from './support';
import { connectCrashDeps, killExecutor, waitReplicasReady, type CrashDeps, type Kill } from './playbook-crash';

const letters = (n: number): string => Array.from({ length: n }, () => String.fromCharCode(97 + Math.floor(Math.random() * 26))).join('');

const arg = argOf;
const log = progress;

interface RunResult {
  run: number;
  killed: Kill | null;
  target: string;
  state: string;
  attempts: number;
  remedyRuns: number;
  outcomes: number;
  clarity: number;
  endMs: number;
}

/** The handle of whichever half of the incident is running: the intake, or else its close. */
async function runningHalf(deps: CrashDeps, signature: string): Promise<{ handle: WorkflowHandle; which: string } | null> {
  const intake = deps.client.workflow.getHandle(incidentWorkflowId(signature));
  try {
    const d = await intake.describe();
    if (d.status.name === 'RUNNING') return { handle: intake, which: 'intake' };
    const inc = (await intake.result()) as Incident;
    const close = deps.client.workflow.getHandle(incidentCloseWorkflowId(inc.id));
    if ((await close.describe()).status.name === 'RUNNING') return { handle: close, which: 'close' };
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
  return null;
}

async function hasClose(deps: CrashDeps, id: string): Promise<boolean> {
  try {
    await deps.client.workflow.getHandle(incidentCloseWorkflowId(id)).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

async function oneRun(deps: CrashDeps, run: number, killAfterMs: number): Promise<RunResult> {
  const subject = `crashbench.${letters(8)}`;
  const text = `[1] 2026/12/06 05:00:00.000000 [ERR] 127.0.0.1:50000 - cid:1 - "v3.0.1:nats.js:layer1-bench-1" - Publish Violation - User "immutable_log", Subject "${subject}"`;
  const e = makeEvidence({ kind: 'acl_violation', kernel: 'message_bus', process: 'bus', pid: null, key: `crash-${subject}`, detail: `ACL violation: immutable_log -> ${subject}`, text, at: Date.now(), observer: 'incident-crash-bench', data: { user: 'immutable_log', subject, op: 'publish' } });
  const since = Date.now();
  await reportEvidence({ config: deps.config, db: deps.db, temporal: deps.client }, e);
  await sleep(killAfterMs);
  let killed: Kill | null = null;
  let target = '-';
  const half = await runningHalf(deps, e.signature);
  if (half) {
    killed = await killExecutor(deps, half.handle, since);
    target = killed ? half.which : `${half.which} (ended first)`;
    await waitReplicasReady(deps, killed);
  }
  const incidents = deps.db.collection<Incident & { _id: string }>(INCIDENTS_COLLECTION);
  const deadline = Date.now() + 300_000;
  let inc: Incident | null = null;
  while (Date.now() < deadline) {
    inc = await incidents.findOne({ signature: e.signature });
    if (inc?.clarity && ['closed', 'reopened'].includes(inc.state)) break;
    await sleep(250);
  }
  if (!inc?.clarity) throw new Error(`run ${run}: incident for ${e.signature} did not end: ${JSON.stringify(inc?.state ?? null)}`);
  // The record shows the clarity before the log's entry is appended: wait for the workflow that
  // concludes (the close, or the intake when it never healed) to complete.
  const concluding = deps.client.workflow.getHandle(inc.state === 'closed' || (await hasClose(deps, inc.id)) ? incidentCloseWorkflowId(inc.id) : incidentWorkflowId(e.signature));
  await concluding.result().catch(() => undefined);
  const endMs = Date.now() - since;
  const runs: string[] = [];
  const query = `WorkflowType = 'playbookWorkflow' AND WorkflowId = '${inc.remedy?.runId ?? '-'}' AND StartTime >= '${new Date(since).toISOString()}'`;
  for await (const w of deps.client.workflow.list({ query })) runs.push(w.runId);
  const outcomes = await deps.db.collection('knowledge_base_events').countDocuments({ _id: { $regex: `^out:${e.signature}:${inc.id}:` } as never });
  const entries = await readLogEntries(immutableLogClient(deps.config, 30_000), 1);
  const clarity = entries.filter((x) => x.kind === 'incident.clarity' && (x.data as { id?: string }).id === inc!.id).length;
  return { run, killed, target, state: inc.state, attempts: inc.attempts, remedyRuns: runs.length, outcomes, clarity, endMs };
}

async function main(): Promise<void> {
  const runs = Number(arg('runs') ?? 20);
  const config = benchConfig();
  log('starting the bench stack');
  await freshStack(config);
  const { deps, close } = await connectCrashDeps(config);
  const results: RunResult[] = [];
  try {
    const boot = await runBoot(config, deps.client, () => undefined);
    if (!boot.ok) throw new Error(`boot failed: ${boot.failedChecks.join('; ')}`);
    for (let i = 1; i <= runs; i++) {
      // Spread over the intake (about 1–3 s) and the close (tens of seconds of checks).
      const killAfterMs = Math.floor(Math.random() * (i % 2 ? 2_500 : 15_000));
      const r = await oneRun(deps, i, killAfterMs);
      results.push(r);
      log(`run ${i}: kill after ${killAfterMs} ms in the ${r.target} (${r.killed?.during ?? 'no kill'}) → ${r.state}, attempts ${r.attempts}, remedy runs ${r.remedyRuns}, outcomes ${r.outcomes}, clarity ${r.clarity}`);
    }
  } finally {
    await close();
    await stopAll(config, () => undefined);
  }
  printTable(
    results.map((r) => ({
      run: r.run,
      killed: r.killed ? `${r.killed.process} in ${r.target}, ${r.killed.during}` : r.target,
      state: r.state,
      attempts: r.attempts,
      'remedy runs': r.remedyRuns,
      outcomes: r.outcomes,
      clarity: r.clarity,
      'to the end': `${(r.endMs / 1000).toFixed(1)} s`,
    })),
  );
  const ended = results.filter((r) => ['closed', 'reopened'].includes(r.state)).length;
  const once = results.filter((r) => r.remedyRuns === r.attempts && r.outcomes === r.attempts && r.clarity === 1).length;
  const kills = results.filter((r) => r.killed).length;
  console.log(`\n${runs} incidents, ${kills} replicas killed mid-incident: ${ended} ended, ${results.filter((r) => r.state === 'closed').length} closed; ${once} with every remedy run, outcome and clarity entry exactly once per attempt; p50 to the end ${(percentile(results.map((r) => r.endMs), 50) / 1000).toFixed(1)} s`);
  if (ended !== runs || once !== runs) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
