/**
 * Evidence: what a detector saw, in one shape. Everything that notices trouble — the trigger
 * monitor's process watch and liveness probes, its detectors, events on the bus — describes it as
 * an {@link Evidence} and hands it to the seam (./seam.ts), which records it, tells the control
 * plane about lifecycle failures, and lets the dispatcher (./dispatcher.ts) start the matching
 * playbook.
 *
 * Pure data and pure functions: the dispatcher's matching is unit-tested without a stack.
 */
import { signatureId } from '../signatures/signature';
import type { KernelName, KernelUnwell } from '../domain/kernels';

/**
 * The kinds of evidence, each named after what was seen. The first three are lifecycle failures
 * the control plane restarts a process for; the others only reach the dispatcher.
 */
export const EVIDENCE_KINDS = {
  exited: 'a managed process died without being stopped',
  liveness_failed: 'a liveness probe failed failureThreshold times in a row',
  not_ready: "a kernel's readiness self-test failed",
  heartbeat_missed: 'one liveness probe failed (below the threshold): a stall, not yet a failure',
  acl_violation: 'the bus refused a publish or subscribe that its ACL forbids (from the bus log)',
  log_corruption: "the immutable log's chain does not verify",
  log_quota: 'the immutable log uses more of its quota than the alert threshold',
  consumer_missing: 'a durable consumer the bus policy requires does not exist',
  queue_backlog: 'a durable consumer has more pending messages than the threshold',
  latency_spike: "a kernel's probe round trip stayed above the latency threshold",
  cpu_pressure: 'a managed process used more CPU than the threshold for the window',
  memory_pressure: 'a managed process holds more resident memory than the threshold',
  config_drift: 'a rendered configuration no longer matches its source of truth',
  model_corruption: "a model file's SHA-256 differs from its manifest",
  disk_pressure: 'free space in the state directory, or the archives there, crossed a threshold',
  crash_loop: 'the control plane reports a kernel in a crash loop',
  dependency_unreachable: 'the store or the bus did not answer in time',
  snapshot_stale: 'the newest snapshot is older than the allowed age',
  control_plane_lost: 'the control plane workflow is not running',
  control_plane_deadlock: 'a kernel is stuck in a lifecycle transition, or the control plane does not answer',
} as const;

export type EvidenceKind = keyof typeof EVIDENCE_KINDS;
export const EVIDENCE_KIND_NAMES = Object.keys(EVIDENCE_KINDS) as EvidenceKind[];

/** Kinds the control plane acts on itself (restart the process); the rest go to playbooks only. */
export const LIFECYCLE_KINDS: readonly EvidenceKind[] = ['exited', 'liveness_failed', 'not_ready'];

export function isEvidenceKind(kind: unknown): kind is EvidenceKind {
  return typeof kind === 'string' && kind in EVIDENCE_KINDS;
}

export interface Evidence {
  /**
   * Stable across observers: both healing replicas seeing the same fault produce the same id, so
   * the seam records it once and dispatches it once.
   */
  id: string;
  kind: EvidenceKind;
  /** The kernel it concerns; `null` for a process or resource outside the kernels. */
  kernel: KernelName | null;
  /** The managed process concerned, when there is one. */
  process: string | null;
  pid: number | null;
  /** Error-signature id (`<kernel>_<ErrorType>_<hash>`); playbook triggers match on it. */
  signature: string;
  detail: string;
  /** What the detector measured; playbook parameters of the same name are filled from it. */
  data: Record<string, unknown>;
  /** Epoch ms when it was seen. */
  at: number;
  /** Who saw it (a trigger monitor, possibly "via" a bus subject). */
  observer: string;
}

/** `log_corruption` → `LogCorruption`: the error-type part of a signature id. */
export function errorTypeOf(kind: string): string {
  return kind
    .split('_')
    .map((w) => (w === 'acl' ? 'ACL' : w.charAt(0).toUpperCase() + w.slice(1)))
    .join('');
}

/**
 * The signature of a kind of evidence for a kernel: the template is the kind itself, so the same
 * fault always has the same id (`message_bus_ACLViolation_…` style, see src/signatures).
 * A chaos drill declares its card, and evidence seen during it is signed `chaos_<card>`, so drill
 * playbooks can match it apart from real faults.
 */
export function evidenceSignature(kind: EvidenceKind, kernel: KernelName | null, drillCard?: string): string {
  if (drillCard) return `chaos_${drillCard}`;
  return signatureId(kind, { ...(kernel ? { kernel } : {}), errorType: errorTypeOf(kind) });
}

/** Builds evidence with its id and signature. `key` names the fault apart from its kind and kernel. */
export function makeEvidence(e: Omit<Evidence, 'id' | 'signature' | 'data'> & { key: string; data?: Record<string, unknown>; drillCard?: string }): Evidence {
  const { key, drillCard, ...rest } = e;
  return {
    ...rest,
    id: `${e.kind}:${e.kernel ?? '-'}:${key}`,
    signature: evidenceSignature(e.kind, e.kernel, drillCard),
    data: e.data ?? {},
  };
}

/** The control plane's view of lifecycle evidence (its signal payload, kept for replay). */
export function toKernelUnwell(e: Evidence): KernelUnwell | null {
  if (!e.kernel || !e.process || !(LIFECYCLE_KINDS as readonly string[]).includes(e.kind)) return null;
  return {
    kernel: e.kernel,
    process: e.process,
    pid: e.pid,
    reason: e.kind as KernelUnwell['reason'],
    detail: e.detail,
    at: e.at,
    observer: e.observer,
  };
}

/** Lifecycle evidence from the trigger monitor's process watch and probes. */
export function fromKernelUnwell(u: KernelUnwell, data: Record<string, unknown> = {}): Evidence {
  return makeEvidence({
    kind: u.reason,
    kernel: u.kernel,
    process: u.process,
    pid: u.pid,
    detail: u.detail,
    at: u.at,
    observer: u.observer,
    key: `${u.process}:${u.pid ?? 'none'}`,
    data,
  });
}
