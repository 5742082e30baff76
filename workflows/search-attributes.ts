/**
 * Custom search attributes our workflows carry, so the Web UI can filter by kernel, phase,
 * outcome and playbook. Registered by `layer1 up` (src/stack/services.ts lists the same names).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const KernelAttr = defineSearchAttributeKey('Layer1Kernel', SearchAttributeType.KEYWORD);
export const PhaseAttr = defineSearchAttributeKey('Layer1Phase', SearchAttributeType.KEYWORD);
export const OutcomeAttr = defineSearchAttributeKey('Layer1Outcome', SearchAttributeType.KEYWORD);
export const PlaybookAttr = defineSearchAttributeKey('Layer1Playbook', SearchAttributeType.KEYWORD);
