/**
 * Custom search attributes our workflows carry, so the Web UI can filter by kernel, phase,
 * outcome and playbook. `layer1 up` registers every key of SEARCH_ATTRIBUTES on a cluster that
 * lacks it (src/stack/stack.ts); the dev server is started with them (src/stack/services.ts).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const KernelAttr = defineSearchAttributeKey('Layer1Kernel', SearchAttributeType.KEYWORD);
export const PhaseAttr = defineSearchAttributeKey('Layer1Phase', SearchAttributeType.KEYWORD);
export const OutcomeAttr = defineSearchAttributeKey('Layer1Outcome', SearchAttributeType.KEYWORD);
export const PlaybookAttr = defineSearchAttributeKey('Layer1Playbook', SearchAttributeType.KEYWORD);
/** The error signature an incident or verification is for. */
export const SignatureAttr = defineSearchAttributeKey('Layer1Signature', SearchAttributeType.KEYWORD);

/** The failure card a chaos drill runs (workflows/chaos.ts). */
export const CardAttr = defineSearchAttributeKey('Layer1Card', SearchAttributeType.KEYWORD);

/** Every key our workflows use, for registration. */
export const SEARCH_ATTRIBUTES = [KernelAttr, PhaseAttr, OutcomeAttr, PlaybookAttr, SignatureAttr, CardAttr] as const;
