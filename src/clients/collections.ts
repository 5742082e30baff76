/**
 * Every collection of the store, named once. Each write to one is an upsert or replace keyed on a
 * business id (see docs/architecture.md#store), so the names are all a reader needs to find them.
 */

/** Boot reports of `bootWorkflow`, keyed on the boot id. */
export const BOOTS_COLLECTION = 'boots';
/** Each kernel's last readiness report. */
export const READINESS_COLLECTION = 'kernel_readiness';
/** Kernels registered by their workers (the coding agent's fixers). */
export const REGISTRATIONS_COLLECTION = 'kernel_registrations';
/** Heartbeats of the trigger monitors, one per healing replica. */
export const TRIGGER_MONITORS_COLLECTION = 'trigger_monitors';
/** Evidence that a kernel is unwell, keyed so both replicas' reports fold into one. */
export const EVIDENCE_COLLECTION = 'evidence';
/** The error-signature templates the signature engine learned. */
export const SIGNATURES_COLLECTION = 'signatures';
/** The coding agent's knowledge: one document per fixer. */
export const KNOWLEDGE_COLLECTION = 'knowledge';
/** Reports of playbook runs, keyed on the workflow id. */
export const PLAYBOOK_RUNS_COLLECTION = 'playbook_runs';
/** Where kill_process records the pid each step targets. */
export const ACTION_RECORDS_COLLECTION = 'action_records';
/** The kernel locks playbook runs hold. */
export const KERNEL_LOCKS_COLLECTION = 'kernel_locks';
/** Work for people, opened by playbooks (open_backlog_item). */
export const BACKLOG_COLLECTION = 'backlog';
/** Chaos drills declared in advance, so their evidence is told from a real incident. */
export const DRILLS_COLLECTION = 'chaos_drills';
/** Preflight reports, keyed on the workflow id. */
export const PREFLIGHT_COLLECTION = 'preflight_runs';
/** Where preflight writes and reads back a probe document. */
export const PREFLIGHT_PROBES_COLLECTION = 'preflight_probes';
/** Where the store's health check writes and reads back a probe document. */
export const HEALTH_COLLECTION = '_health';
/** The knowledge base: one document per error signature (src/knowledge). */
export const KNOWLEDGE_BASE_COLLECTION = 'knowledge_base';
/** Incidents, one document per incident, keyed on its id (contracts/incident.ts). */
export const INCIDENTS_COLLECTION = 'incidents';
/** The facts the knowledge base derives its entries from, each inserted once under an id naming it (src/knowledge/kb.ts). */
export const KNOWLEDGE_BASE_EVENTS_COLLECTION = 'knowledge_base_events';
/**
 * The coding agent's change sets: one insert-once fact per state a change set reaches (staged,
 * verified, failed, promoted, rolled_back), keyed `<change set id>:<state>` — never updated in place
 * (src/coding-agent/records.ts).
 */
export const CHANGE_SETS_COLLECTION = 'change_sets';
/** Telemetry documents, one per run of the telemetry schedule, keyed on its workflow id; pruned by it (src/telemetry/). */
export const TELEMETRY_COLLECTION = 'telemetry';
/** The chaos ledger: one document per drill, keyed on its workflow id (src/chaos/harness/ledger.ts). */
export const CHAOS_LEDGER_COLLECTION = 'chaos_ledger';
/** One document per drill target while a drill runs on it (only one drill at a time per target). */
export const CHAOS_LOCKS_COLLECTION = 'chaos_locks';
