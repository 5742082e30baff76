/**
 * The knowledge base's document: one per error signature, in the `knowledge_base` collection
 * (src/clients/collections.ts). `layer1 kb --json` prints these fields; the names are a contract.
 */
import type { IncidentRemedy } from '../../contracts/incident';

export interface KnowledgeRemedy {
  kind: IncidentRemedy['kind'];
  name: string;
  params: Record<string, unknown>;
  /** A fix: the change set that applied it (its diffs and hashes: `change_sets`, `layer1 incidents show`). */
  changeSet?: string;
}

export interface KnowledgeEntry {
  signature: string;
  template: string;
  kernel: string | null;
  errorType: string;
  /** A bounded set of the texts it was seen in (newest last). */
  examples: string[];
  firstSeen: string;
  lastSeen: string;
  occurrences: number;
  /** The remedy that healed it last (verified), or null while none has. */
  remedy: KnowledgeRemedy | null;
  successes: number;
  failures: number;
  /** Wilson lower bound of verified success (config `incidents.knowledge.z`). */
  confidence: number;
  /** confidence ≥ threshold and successes ≥ minSuccesses, unless an operator turned it off. */
  autoApply: boolean;
  /** Set by `layer1 kb set SIG --auto-apply off`: never applied without the coding agent. */
  manualOnly: boolean;
  /** Mean time to heal while known (auto-applied) and while new, in ms; null before any. */
  mtthKnownMs: number | null;
  mtthNewMs: number | null;
}

/** One verified outcome of a remedy, as the incident workflow reports it to the knowledge base. */
export interface RemedyOutcome {
  /** `<incident id>:<attempt>`: recording the same outcome again changes nothing. */
  outcomeId: string;
  signature: string;
  remedy: KnowledgeRemedy;
  ok: boolean;
  /** Fault seen → fault gone, in ms (null when it was not healed). */
  timeToHealMs: number | null;
  /** Whether the signature was known with autoApply when the remedy was chosen. */
  autoApplied: boolean;
}
