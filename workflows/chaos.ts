/**
 * A chaos drill (`chaos-<card>-<time>`): check the steady state → declare the drill → inject →
 * gate 1 detected → gate 2 incident and remedy started → gate 3 recovered → gate 4 steady state and
 * nothing lost → rollback, always → the ledger entry. Runs on the chaos workers' queue, apart from
 * the healing workers it tests, so a drill with healing stopped still runs and records why it fails.
 *
 * Durable: every step is an activity; a killed worker's step moves to the next worker. The
 * rollback and the record run in a non-cancellable scope, so cancelling the drill (Web UI, CLI)
 * still rolls back and records it. The batch workflow runs drills one after the other for a
 * schedule (`chaos.schedules`).
 */
import {
  CancellationScope,
  defineQuery,
  executeChild,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  CHAOS_DRILL_WORKFLOW,
  DRILL_PROGRESS_QUERY,
  drillWorkflowId,
  type ChaosBatchInput,
  type ChaosBatchResult,
  type ChaosDrillInput,
  GATES,
  type GateName,
  type DrillBaseline,
  type DrillProgress,
  type DrillResult,
  type GateResult,
  type InjectionResult,
  type RollbackResult,
} from '../contracts/chaos';
import type { ChaosActivities } from '../activities/chaos';
import { findable } from '../contracts/search-attributes';
import { drillGateActivity, drillInjectActivity, drillRecordActivity, drillRollbackActivity } from './policies';

export const drillProgressQuery = defineQuery<DrillProgress>(DRILL_PROGRESS_QUERY);

const record = proxyActivities<ChaosActivities>(drillRecordActivity);
const inject = proxyActivities<ChaosActivities>(drillInjectActivity);
const undo = proxyActivities<ChaosActivities>(drillRollbackActivity);

/**
 * The gates. Recovery (gate 3) is watched from the injection on, beside detection and the incident,
 * so its time is when the target was ready again, not when gates 1 and 2 were done; its verdict is
 * reported in order. After a failed gate the later ones are not reached (gate 3's watch cancelled).
 */
async function runGates(input: ChaosDrillInput, drillId: string, injectedAt: number, baseline: DrillBaseline, progress: DrillProgress): Promise<GateResult[]> {
  const timeouts = input.timeoutsMs;
  const gateActs = (deadline: number) => proxyActivities<ChaosActivities>(drillGateActivity(Math.max(1_000, deadline - Date.now())));
  // A gate whose activity could not run to a verdict (its attempts exhausted) is a failed gate, with
  // why: the drill still rolls back and records, rather than failing as a workflow.
  const run = (name: GateName, deadline: number, detected: GateResult['evidence'] | null = null): Promise<GateResult> =>
    gateActs(deadline)
      .drillGate({ card: input.card, drillId, gate: name, injectedAt, deadline, baseline, detected })
      .catch((err: unknown) => {
        if (isCancellation(err)) throw err;
        return { name, ok: false, ms: null, detail: `the gate could not be checked: ${err instanceof Error ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}` : String(err)}` };
      });
  const recoveryWatch = new CancellationScope();
  const recovering = recoveryWatch.run(() => run('recovered', injectedAt + timeouts.recovered));
  recovering.catch(() => undefined); // awaited below, or cancelled with its scope
  const gates: GateResult[] = [];
  const record = (g: GateResult): void => {
    gates.push(g);
    progress.gates = [...gates];
  };
  for (const name of GATES) {
    const failed = gates.find((g) => !g.ok);
    if (failed) {
      record({ name, ok: false, ms: null, detail: `not reached: gate ${failed.name} failed` });
      continue;
    }
    progress.phase = name;
    if (name === 'recovered') record(await recovering);
    // Deadlines are absolute (workflow time), so a retried attempt keeps the gate's time budget.
    else if (name === 'steady_state') record(await run(name, Date.now() + timeouts[name]));
    else record(await run(name, injectedAt + timeouts[name], gates[0]?.evidence ?? null));
  }
  if (gates.slice(0, 2).some((g) => !g.ok)) recoveryWatch.cancel();
  return gates;
}

export async function chaosDrillWorkflow(input: ChaosDrillInput): Promise<DrillResult> {
  const drillId = workflowInfo().workflowId;
  const startedAt = new Date().toISOString();
  const progress: DrillProgress = { phase: 'steady_state', gates: [], injection: null };
  setHandler(drillProgressQuery, () => progress);
  const result: DrillResult = {
    card: input.card.id,
    drillId,
    ok: false,
    result: 'failed',
    gates: [],
    rollback: { ok: true, detail: 'nothing injected, nothing to roll back' },
    timeToDetectMs: null,
    timeToRecoverMs: null,
    injection: null,
    startedAt,
    endedAt: startedAt,
    backlog: null,
  };
  let baseline: DrillBaseline | null = null;
  try {
    const begun = (baseline = await record.beginDrill({ card: input.card, drillId, trigger: input.trigger }));
    if (!begun.ok) {
      result.result = begun.outcome ?? 'not_steady';
      result.injection = { ok: false, detail: `not injected: ${begun.reason}`, at: null };
      return result;
    }
    progress.phase = 'inject';
    const injected: InjectionResult = await inject.injectFault({ card: input.card, drillId });
    result.injection = progress.injection = { ok: injected.ok, detail: injected.detail, at: injected.at };
    if (!injected.ok || injected.at === null) {
      result.result = injected.interrupted ? 'interrupted' : 'injection_failed';
      return result;
    }
    result.gates = await runGates(input, drillId, injected.at, begun, progress);
    const [detected, , recovered] = result.gates;
    // When the evidence was first seen, not when the gate's poll found it.
    result.timeToDetectMs = detected.ok ? (typeof detected.evidence?.detectMs === 'number' ? detected.evidence.detectMs : detected.ms) : null;
    result.timeToRecoverMs = recovered.ok ? recovered.ms : null;
    result.ok = result.gates.every((g) => g.ok);
    result.result = result.ok ? 'passed' : 'failed';
    return result;
  } catch (err) {
    if (!isCancellation(err)) throw err;
    result.result = 'cancelled';
    return result;
  } finally {
    // Always: success, failure, cancellation. Non-cancellable, so a cancelled drill still rolls back.
    await CancellationScope.nonCancellable(async () => {
      progress.phase = 'rollback';
      if (baseline?.ok) result.rollback = (await undo.rollbackDrill({ card: input.card, drillId })) as RollbackResult;
      progress.phase = 'record';
      result.endedAt = new Date().toISOString();
      const recorded = await record.recordDrill({ card: input.card, result, baseline });
      result.backlog = recorded.backlog;
      result.files = recorded.files;
      // passed or failed, whatever the reason (the ledger and the result say which): `Layer1Card = "x" AND Layer1Outcome = "failed"` finds every failed drill of a card.
      upsertSearchAttributes({ Layer1Outcome: [result.result === 'passed' ? 'passed' : 'failed'] });
      progress.phase = 'done';
    });
  }
}

/** The drills of a schedule, one after the other (never two at once on this stack). */
export async function chaosBatchWorkflow(input: ChaosBatchInput): Promise<ChaosBatchResult> {
  const drills: ChaosBatchResult['drills'] = [];
  for (const { card, timeoutsMs } of input.cards) {
    const workflowId = drillWorkflowId(card.id, new Date());
    const r = await executeChild<typeof chaosDrillWorkflow>(CHAOS_DRILL_WORKFLOW, {
      workflowId,
      args: [{ card, timeoutsMs, trigger: `schedule:${input.schedule}` }],
      ...findable({ kind: 'chaos-drill', card: card.id, kernel: ('kernel' in card.target && card.target.kernel) || null, summary: `chaos drill of ${card.id} (${card.title}), risk ${card.risk}, started by ${input.schedule}` }),
    });
    drills.push({ card: card.id, drillId: r.drillId, ok: r.ok, result: r.result });
  }
  return { drills };
}
