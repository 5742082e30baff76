/**
 * Custom search attributes our workflows carry, so the Web UI can filter by kind, kernel, phase,
 * outcome, playbook, signature and incident. `layer1 up` registers every key of SEARCH_ATTRIBUTES
 * on a cluster that lacks it (src/stack/stack.ts); the dev server is started with them
 * (src/stack/services.ts). The queries an operator types are in docs/web-ui.md.
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

export const KernelAttr = defineSearchAttributeKey('Layer1Kernel', SearchAttributeType.KEYWORD);
export const PhaseAttr = defineSearchAttributeKey('Layer1Phase', SearchAttributeType.KEYWORD);
export const OutcomeAttr = defineSearchAttributeKey('Layer1Outcome', SearchAttributeType.KEYWORD);
export const PlaybookAttr = defineSearchAttributeKey('Layer1Playbook', SearchAttributeType.KEYWORD);
/** The error signature an incident or verification is for. */
export const SignatureAttr = defineSearchAttributeKey('Layer1Signature', SearchAttributeType.KEYWORD);

/** The failure card a chaos drill runs (workflows/chaos.ts). */
export const CardAttr = defineSearchAttributeKey('Layer1Card', SearchAttributeType.KEYWORD);
/** What a workflow is, in our words (WORKFLOW_KINDS): one filter finds every run of one kind, whatever its type's name. */
export const KindAttr = defineSearchAttributeKey('Layer1Kind', SearchAttributeType.KEYWORD);
/** The incident a workflow works for (the incident itself, its close, its playbook, verification or change set). */
export const IncidentAttr = defineSearchAttributeKey('Layer1Incident', SearchAttributeType.KEYWORD);

/** Every key our workflows use, for registration. */
export const SEARCH_ATTRIBUTES = [KernelAttr, PhaseAttr, OutcomeAttr, PlaybookAttr, SignatureAttr, KindAttr, IncidentAttr, CardAttr] as const;

/** The values of `Layer1Kind`, one per workflow type we start. */
export const WORKFLOW_KINDS = [
  'boot',
  'control-plane',
  'preflight',
  'playbook',
  'incident',
  'incident-close',
  'verification',
  'change-set',
  'change-set-rollback',
  'snapshots',
  'telemetry',
  'chaos-drill',
  'chaos-batch',
] as const;
export type WorkflowKind = (typeof WORKFLOW_KINDS)[number];

/** What makes one workflow findable: its kind, what it is about, and one line for people. */
export interface Findable {
  kind: WorkflowKind;
  /** One line a person reads in the Web UI's memo ("restart message_bus for evidence …"). */
  summary: string;
  kernel?: string | null;
  playbook?: string;
  signature?: string;
  incident?: string | null;
  /** The failure card of a chaos drill. */
  card?: string;
}

/**
 * The start options that make a workflow findable: its search attributes and a memo (`layer1`:
 * the same facts plus the summary), given at start time so a run is findable from its first
 * event, before any of its code ran. Pure: workflow code passes it to its children too.
 */
export function findable(f: Findable): { typedSearchAttributes: SearchAttributePair[]; memo: { layer1: Record<string, string> } } {
  const attrs: SearchAttributePair[] = [{ key: KindAttr, value: f.kind }];
  const memo: Record<string, string> = { kind: f.kind, summary: f.summary };
  if (f.kernel) {
    attrs.push({ key: KernelAttr, value: f.kernel });
    memo.kernel = f.kernel;
  }
  if (f.playbook) {
    attrs.push({ key: PlaybookAttr, value: f.playbook });
    memo.playbook = f.playbook;
  }
  if (f.signature) {
    attrs.push({ key: SignatureAttr, value: f.signature });
    memo.signature = f.signature;
  }
  if (f.incident) {
    attrs.push({ key: IncidentAttr, value: f.incident });
    memo.incident = f.incident;
  }
  if (f.card) {
    attrs.push({ key: CardAttr, value: f.card });
    memo.card = f.card;
  }
  return { typedSearchAttributes: attrs, memo: { layer1: memo } };
}
