/**
 * Kernel vocabulary: names (derived from the manifests in kernels/manifests.ts), the boot phases,
 * one self-test run, and the evidence that says a kernel is unwell. Workflow code imports only
 * types from here (and KernelState from ./kernel-state): the kernel list reaches workflows through
 * their inputs, so a running control plane can adopt a kernel it has never seen.
 */
import { KERNEL_MANIFESTS } from '../../kernels/manifests';
import type { CheckResult } from './checks';

export { KernelState } from './kernel-state';

export type KernelName = (typeof KERNEL_MANIFESTS)[number]['name'];
export const KERNEL_NAMES: readonly KernelName[] = KERNEL_MANIFESTS.map((m) => m.name);

export function isKernelName(name: unknown): name is KernelName {
  return typeof name === 'string' && (KERNEL_NAMES as readonly string[]).includes(name);
}

/** A kernel's manifest by name. */
export function kernelManifest(name: KernelName): (typeof KERNEL_MANIFESTS)[number] {
  return KERNEL_MANIFESTS.find((m) => m.name === name)!;
}

/** One boot phase and the kernels it starts. */
export interface BootPhase {
  phase: number;
  name: string;
  kernels: string[];
}

/**
 * The 7 boot phases, in order: preflight, the kernels' phases 2–5 (kernels of one phase start side
 * by side; a phase is named after its kernels), snapshots and schedules, warmup and watchdogs.
 */
export const BOOT_PHASES: readonly BootPhase[] = [
  { phase: 1, name: 'preflight', kernels: [] },
  ...([2, 3, 4, 5] as const).map((phase) => {
    const kernels = KERNEL_MANIFESTS.filter((m) => m.phase === phase).map((m) => m.name);
    return { phase, name: kernels.join('+') || `phase_${phase}`, kernels };
  }),
  { phase: 6, name: 'snapshots_and_schedules', kernels: [] },
  { phase: 7, name: 'warmup_and_watchdogs', kernels: [] },
];

/** One run of a kernel's readiness self-test. */
export interface ReadinessResult {
  kernel: string;
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
