/**
 * Kernel vocabulary shared by workflows (deterministic code) and activities: names, states, the
 * boot phase each belongs to, and the evidence that says a kernel is unwell. Pure data only.
 */
import type { CheckResult } from './checks';

export const KERNEL_NAMES = ['message_bus', 'immutable_log', 'self_healing', 'coding_agent'] as const;
export type KernelName = (typeof KERNEL_NAMES)[number];

export function isKernelName(name: unknown): name is KernelName {
  return typeof name === 'string' && (KERNEL_NAMES as readonly string[]).includes(name);
}

/** String-valued so they read well in the Web UI's event history. */
export enum KernelState {
  UNKNOWN = 'UNKNOWN',
  STARTING = 'STARTING',
  READY = 'READY',
  UNHEALTHY = 'UNHEALTHY',
  RESTARTING = 'RESTARTING',
  BACKING_OFF = 'BACKING_OFF',
  CRASH_LOOP = 'CRASH_LOOP',
  STOPPED = 'STOPPED',
  FAILED = 'FAILED',
}

/** The 7 boot phases, in order. Kernels of one phase start side by side. */
export const BOOT_PHASES = [
  { phase: 1, name: 'preflight', kernels: [] },
  { phase: 2, name: 'message_bus', kernels: ['message_bus'] },
  { phase: 3, name: 'immutable_log', kernels: ['immutable_log'] },
  { phase: 4, name: 'self_healing', kernels: ['self_healing'] },
  { phase: 5, name: 'coding_agent', kernels: ['coding_agent'] },
  { phase: 6, name: 'snapshots_and_schedules', kernels: [] },
  { phase: 7, name: 'warmup_and_watchdogs', kernels: [] },
] as const satisfies ReadonlyArray<{ phase: number; name: string; kernels: readonly KernelName[] }>;

/** One run of a kernel's readiness self-test. */
export interface ReadinessResult {
  kernel: KernelName;
  ready: boolean;
  checks: CheckResult[];
  /** How many times the self-test ran in this call (more than 1 when it was asked to wait). */
  polls?: number;
}

/** What the trigger monitor saw. Enters the control plane through one seam (src/healing/seam.ts). */
export interface KernelUnwell {
  kernel: KernelName;
  /** The managed process that failed (a kernel may have several, e.g. two healing replicas). */
  process: string;
  /** The pid that died or failed its probe; restarts are deduplicated on it. */
  pid: number | null;
  reason: 'exited' | 'liveness_failed' | 'not_ready';
  detail: string;
  /** Epoch ms when it was seen. */
  at: number;
  /** Who saw it (trigger monitor identity). */
  observer: string;
}
