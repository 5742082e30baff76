/**
 * Contract of the chaos drill (workflows/chaos.ts): one failure card injected for real, its four
 * gates, a rollback that always runs, and the ledger entry; and of the scheduled batch of drills
 * the `chaos.schedules` Temporal Schedules start.
 */
import type { ChaosCard } from '../src/chaos/cards/format';
import type { Undo } from '../src/chaos/faults/types';

import type { GateName } from '../src/chaos/cards/gates';

export { GATES, type GateName } from '../src/chaos/cards/gates';

export const CHAOS_DRILL_WORKFLOW = 'chaosDrillWorkflow';
export type ChaosDrillWorkflow = (input: ChaosDrillInput) => Promise<DrillResult>;
export const CHAOS_BATCH_WORKFLOW = 'chaosBatchWorkflow';
export type ChaosBatchWorkflow = (input: ChaosBatchInput) => Promise<ChaosBatchResult>;

/** `chaos-<card>-<time>`: the drill's workflow id, and its ledger entry's id. */
export function drillWorkflowId(card: string, at: Date): string {
  return `chaos-${card}-${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
}

/** The schedules' ids: `layer1-chaos-<name>`. */
export function chaosScheduleId(name: string): string {
  return `layer1-chaos-${name}`;
}

export interface ChaosDrillInput {
  /** The card as validated when the drill was started (a later edit of its file does not change a running drill). */
  card: ChaosCard;
  /** The card's gate timeouts in ms (parsed by the starter: workflow code parses nothing). */
  timeoutsMs: Record<GateName, number>;
  /** Who started it: `cli`, `schedule:<id>`, `test`. */
  trigger: string;
}

export interface ChaosBatchInput {
  /** The cards, as validated when the schedule started the batch, with their gate timeouts in ms. */
  cards: Array<{ card: ChaosCard; timeoutsMs: Record<GateName, number> }>;
  schedule: string;
}

export interface ChaosBatchResult {
  drills: Array<{ card: string; drillId: string; ok: boolean; result: DrillOutcome }>;
}

/** One gate's verdict. `name` and the fields are a contract (`chaos run --json`, the ledger). */
export interface GateResult {
  name: GateName;
  ok: boolean;
  /** From the injection to the gate's verdict. */
  ms: number | null;
  detail: string;
  /** Ids of what it found: evidence, incident, remedy run. */
  evidence?: Record<string, string | number | null>;
}

/**
 * `interrupted`: the worker running the injection was lost mid-act; the injection is not repeated
 * (it may have half happened), the drill rolls back from the journal instead.
 */
export type DrillOutcome = 'passed' | 'failed' | 'injection_failed' | 'interrupted' | 'not_steady' | 'cancelled' | 'busy';

export interface RollbackResult {
  ok: boolean;
  detail: string;
  steps?: Array<{ undo: Undo['kind']; detail: string; ok: boolean }>;
}

export interface DrillResult {
  card: string;
  drillId: string;
  ok: boolean;
  result: DrillOutcome;
  gates: GateResult[];
  rollback: RollbackResult;
  timeToDetectMs: number | null;
  timeToRecoverMs: number | null;
  /** Fields beyond the issue's `chaos run --json` contract. */
  injection: { ok: boolean; detail: string; at: number | null } | null;
  startedAt: string;
  endedAt: string;
  /** The backlog item the drill opened (failed) or closed (passed), if any. */
  backlog: { id: string; action: 'opened' | 'closed' } | null;
  /** SHA-256 of the blast radius's files before the drill and after its rollback. */
  files?: Array<{ file: string; before: string | null; after: string | null }>;
}

/** Progress the drill exposes to `chaos run` (a query), so the CLI shows each gate as it passes. */
export const DRILL_PROGRESS_QUERY = 'drillProgress';
export interface DrillProgress {
  phase: 'steady_state' | 'inject' | GateName | 'rollback' | 'record' | 'done';
  gates: GateResult[];
  injection: DrillResult['injection'];
}

/** What the drill's first activity returns: the baseline gate 4 compares against. */
export interface DrillBaseline {
  ok: boolean;
  /** Why the drill cannot run (busy target, steady state does not hold). */
  reason: string | null;
  outcome: DrillOutcome | null;
  /** The immutable log's head before the drill: every entry up to it must survive. */
  logHead: number | null;
  /** Canary messages published on the bus before the drill, by stream sequence. */
  canaries: number[];
  files: Array<{ file: string; sha256: string | null }>;
}

export interface InjectionResult {
  ok: boolean;
  /** The injection was cut short by a lost worker (see DrillOutcome `interrupted`). */
  interrupted?: boolean;
  detail: string;
  /** Epoch ms of the act (the gates time from it). */
  at: number | null;
}
