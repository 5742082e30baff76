/**
 * Contract of the control plane (workflows/control-plane.ts): the long-lived workflow that owns
 * kernel state and lifecycle. Operators use the updates; automated callers (playbook actions) the
 * `kernelCommand` signal; the trigger monitors `kernelUnwell`; everyone reads the status query.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { CheckResult } from '../src/domain/checks';
import type { KernelState } from '../src/domain/kernel-state';
import type { KernelUnwell } from '../src/domain/kernels';

export const CONTROL_PLANE_WORKFLOW = 'controlPlaneWorkflow';
export type ControlPlaneWorkflow = (input: ControlPlaneInput) => Promise<void>;

/**
 * The failure type of a lifecycle activity asked about a kernel the registry does not know: the
 * control plane then forgets a kernel it adopted for that command.
 */
export const UNKNOWN_KERNEL = 'UnknownKernel';

/** There is one control plane: its id is fixed. */
export const CONTROL_PLANE_WORKFLOW_ID = 'layer1-control-plane';

export interface ControlPlaneSettings {
  restartBackoff: { initialMs: number; maxMs: number };
  crashLoop: { restarts: number; windowMs: number };
}

export interface KernelRecord {
  name: string;
  state: KernelState;
  desired: 'running' | 'stopped';
  restarts: number;
  /** Epoch ms of restarts inside the crash-loop window. */
  recentRestarts: number[];
  crashLoop: boolean;
  /** The delay before the current or last restart. */
  backoffMs: number;
  lastReason: string | null;
  lastRestartAt: string | null;
  readySince: string | null;
  pids: Record<string, number | null>;
  /** Pids whose death has been handled: later reports of them are duplicates. */
  handledPids: number[];
  /** The checks of its last self-test (a boot's, or after a start or restart). */
  checks: CheckResult[];
  /** When `checks` ran (ISO time); absent in state carried from before it was recorded. */
  checkedAt?: string | null;
}

export interface ControlPlaneEvent {
  at: string;
  kernel: string;
  what: string;
}

/**
 * Kernel names are strings here: the control plane knows the kernels it was booted with, carried
 * in its state, and adopts one it has not seen when a boot, a report or a command names it.
 */
export interface ControlPlaneStatus {
  kernels: Record<string, KernelRecord>;
  events: ControlPlaneEvent[];
  /** Results of recent `kernelCommand` signals, by request id. */
  commands?: CommandResult[];
}

/**
 * A lifecycle command sent as a signal by automated callers (playbook actions). They poll the
 * status query for its result. Unlike an update, a signal cannot be reordered against the
 * activities another handler schedules in the same workflow task when a killed worker's task
 * times out and the history is replayed elsewhere (a nondeterminism that updates hit here).
 */
export interface KernelCommand {
  /** Idempotency key: a command whose id was seen is not run again. */
  requestId: string;
  op: 'start' | 'stop' | 'restart';
  kernel: string;
  reason?: string;
}

export interface CommandResult {
  requestId: string;
  op: KernelCommand['op'];
  kernel: string;
  done: boolean;
  record: KernelRecord | null;
  error: string | null;
}

export interface BootObservation {
  /** Per kernel, the pid of each of its processes. */
  pids: Record<string, Record<string, number | null>>;
  /** With the boot's self-test checks (absent from boots of before they were passed on). */
  kernels: Array<{ kernel: string; ready: boolean; checks?: CheckResult[] }>;
}

export interface ControlPlaneInput {
  settings: ControlPlaneSettings;
  pids?: BootObservation['pids'];
  kernels?: BootObservation['kernels'];
  /** Carried across continue-as-new. */
  state?: ControlPlaneStatus;
}

export const kernelUnwellSignal = defineSignal<[KernelUnwell]>('kernelUnwell');
/** A boot finished its kernels: the pids and readiness it saw replace what the control plane knew. */
export const kernelsBootedSignal = defineSignal<[BootObservation]>('kernelsBooted');
export const kernelCommandSignal = defineSignal<[KernelCommand]>('kernelCommand');
export const startKernelUpdate = defineUpdate<KernelRecord, [string]>('startKernel');
export const stopKernelUpdate = defineUpdate<KernelRecord, [string]>('stopKernel');
export const restartKernelUpdate = defineUpdate<KernelRecord, [string, string]>('restartKernel');
export const getControlPlaneStatusQuery = defineQuery<ControlPlaneStatus>('getControlPlaneStatus');
