/** Contract of the 7-phase boot workflow (workflows/boot.ts). */
import { defineQuery } from '@temporalio/workflow';
import type { CheckResult } from '../src/domain/checks';
import type { BootPhase } from '../src/domain/kernels';
import type { ControlPlaneSettings } from './control-plane';
import type { PrunedSnapshot, ScheduleResult, TypedSnapshotResult } from './schedules';

export const BOOT_WORKFLOW = 'bootWorkflow';
export type BootWorkflow = (input: BootInput) => Promise<BootReport>;

/** One boot at a time: a second start attaches to the running one. */
export const BOOT_WORKFLOW_ID = 'layer1-boot';

/** The failure type of a boot whose critical kernel (or preflight) failed; the report is its details. */
export const BOOT_FAILED = 'BootFailed';

export interface ReadinessPolicy {
  attempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export interface BootKernelSettings {
  critical: boolean;
  readiness: ReadinessPolicy;
}

export interface BootInput {
  /** The phases in order, each with its kernels (src/domain/kernels.ts BOOT_PHASES, from the kernel manifests). */
  phases: BootPhase[];
  kernels: Record<string, BootKernelSettings>;
  /** Passed on to the control plane it starts in phase 7. */
  controlPlane: ControlPlaneSettings;
}

export interface KernelBootResult {
  kernel: string;
  phase: number;
  critical: boolean;
  ready: boolean;
  /** Self-test attempts beyond the first. */
  retries: number;
  /** From the start of its phase to its self-test passing (or giving up). */
  timeToReadyMs: number;
  degraded: boolean;
  pids: Record<string, number | null>;
  checks: CheckResult[];
}

export interface PhaseResult {
  phase: number;
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface BootReport {
  bootId: string;
  ok: boolean;
  degraded: boolean;
  currentPhase: string;
  phases: PhaseResult[];
  preflight: CheckResult[];
  kernels: KernelBootResult[];
  /** `kernel.check: detail` for every failed check of a kernel that did not become ready. */
  failedChecks: string[];
  startedAt: string;
  finishedAt: string | null;
  /** Phase 6: the snapshot of each type taken at boot (absent in boots from before phase 6 took any). */
  snapshots?: TypedSnapshotResult[];
  /** Phase 6: typed snapshots the retention removed (boots run more often than the hourly schedule). */
  prunedSnapshots?: PrunedSnapshot[];
  /** Phase 6: what was done to each Temporal Schedule (absent as above, or when creating them failed). */
  schedules?: ScheduleResult[];
}

export const getBootReportQuery = defineQuery<BootReport>('getBootReport');
