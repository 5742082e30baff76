/**
 * Evidence: what a detector saw, in one shape. Everything that notices trouble — the trigger
 * monitor's process watch and liveness probes, its detectors, events on the bus — describes it as
 * an {@link Evidence} and hands it to the seam (./seam.ts), which records it, tells the control
 * plane about lifecycle failures, and lets the dispatcher (./dispatcher.ts) start the matching
 * playbook.
 *
 * Pure data and pure functions: the dispatcher's matching is unit-tested without a stack.
 */
import { stableSignature } from '../signatures/stable';
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
  acl_violation: 'the bus refused a publish or subscribe that its ACL forbids (from the bus log; on an external bus, as Layer 1\'s connection received it)',
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
  server_restarted: 'the server supervisor restarted a dead or hung embedded server (Temporal, store) and it answers again',
  external_down: 'an external server (embedded: false), or one of its addresses, stopped answering',
  external_back: 'an external server, or one of its addresses, answers again after an outage (data.downMs)',
} as const;

export type EvidenceKind = keyof typeof EVIDENCE_KINDS;
export const EVIDENCE_KIND_NAMES = Object.keys(EVIDENCE_KINDS) as EvidenceKind[];

/** Kinds the control plane acts on itself (restart the process); the rest go to playbooks only. */
export const LIFECYCLE_KINDS: readonly EvidenceKind[] = ['exited', 'liveness_failed', 'not_ready'];

/**
 * Kinds that report a fault already repaired (the server supervisor restarted the server): recorded,
 * counted, and neither dispatched nor made an incident, so one fault gets one remedy.
 */
export const REPAIRED_KINDS: readonly EvidenceKind[] = ['server_restarted'];

/**
 * Kinds that report what Layer 1 cannot act on, an external server's outage (src/healing/external-watch.ts):
 * recorded and counted for the operator, neither dispatched nor made an incident.
 */
export const OBSERVED_KINDS: readonly EvidenceKind[] = ['external_down', 'external_back'];

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
  /**
   * Error-signature id (`<kernel>_<ErrorType>_<hash>`): the hash is of {@link Evidence.template},
   * so the same text gives the same id in every replica (see {@link evidenceSignature}). Playbook
   * triggers match on it. A drill's evidence has the same signature as the real fault's (its
   * `data.drill_id` says which drill): the drill proves the path a real fault takes.
   */
  signature: string;
  /**
   * The text the evidence came from: the bus log line of an ACL violation, an error message, a
   * failed probe's detail, a process's exit and the last lines of its log, the log verify's error;
   * a detector's detail when it has nothing better. Evidence with no text has a fixed one,
   * `<kind> on <kernel> process <process>` ({@link defaultEvidenceText}).
   */
  text: string;
  /** `text` with its variable parts masked as `<*>`: what the signature's hash is of. */
  template: string;
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
 * The text of evidence that has none: its kind, kernel and process, nothing that changes from one
 * occurrence to the next (no pid, no time), so it signs the same every time.
 */
export function defaultEvidenceText(kind: EvidenceKind, kernel: KernelName | null, process: string | null): string {
  return `${kind} on ${kernel ?? '-'} process ${process ?? '-'}`;
}

/** What {@link signEvidence} reads of evidence. */
export type EvidenceToSign = { kind: EvidenceKind; kernel: KernelName | null; process?: string | null; text?: string | null };

/**
 * The text, template and signature of evidence: its text (or {@link defaultEvidenceText}) masked
 * (src/signatures `stableSignature`: values by their shape become `<*>`, words stay) and hashed,
 * with its kernel and its kind in CamelCase as the readable prefix (`message_bus_ACLViolation_…`,
 * see src/signatures). Masking learns nothing, so both healing replicas and every restart give the
 * same text the same id; the online miner would not (its templates depend on the order messages
 * arrive, so two replicas could disagree). Two ACL violations whose log lines differ only in pid,
 * time, port and client id share a signature; another user or subject is another signature.
 */
export function signEvidence(e: EvidenceToSign): { signature: string; template: string; text: string } {
  const text = e.text?.trim() ? e.text : defaultEvidenceText(e.kind, e.kernel, e.process ?? null);
  const { signature, template } = stableSignature({ message: text, ...(e.kernel ? { kernel: e.kernel } : {}), errorType: errorTypeOf(e.kind) });
  return { signature, template, text };
}

/** The signature of evidence ({@link signEvidence}). */
export function evidenceSignature(e: EvidenceToSign): string {
  return signEvidence(e).signature;
}

/** At most this much of a text is kept in evidence (a log tail is bounded before, this bounds the rest). */
export const EVIDENCE_TEXT_MAX = 4096;

/**
 * Builds evidence with its id, text, template and signature. `key` names the fault apart from its
 * kind and kernel. `text` is what it came from (see {@link Evidence.text}); `null` or blank when
 * there is none, then {@link defaultEvidenceText}.
 */
export function makeEvidence(
  e: Omit<Evidence, 'id' | 'signature' | 'data' | 'text' | 'template'> & { key: string; text: string | null; data?: Record<string, unknown> },
): Evidence {
  const { key, text, ...rest } = e;
  const signed = signEvidence({ ...e, text: text?.slice(0, EVIDENCE_TEXT_MAX) });
  return {
    ...rest,
    id: `${e.kind}:${e.kernel ?? '-'}:${key}`,
    signature: signed.signature,
    text: signed.text,
    template: signed.template,
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

/**
 * Lifecycle evidence from the trigger monitor's process watch and probes. `text` is what it came
 * from (an exit and the process's last log lines, the failed probe's detail): the detail when
 * absent; `null` for none (then {@link defaultEvidenceText}).
 */
export function fromKernelUnwell(u: KernelUnwell, data: Record<string, unknown> = {}, text: string | null = u.detail): Evidence {
  return makeEvidence({
    kind: u.reason,
    kernel: u.kernel,
    process: u.process,
    pid: u.pid,
    detail: u.detail,
    at: u.at,
    observer: u.observer,
    key: `${u.process}:${u.pid ?? 'none'}`,
    text,
    data,
  });
}
