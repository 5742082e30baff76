/**
 * The failure card, as written in `chaos/cards/*.yaml` (one card per file) and as the drill
 * workflow reads it: what to break (a fault injector of src/chaos/faults with its parameters),
 * what must hold before and after (probes), what the healing is expected to do, how long each of
 * the drill's four gates may take, and the blast radius the injection is confined to.
 *
 * The shape is one zod schema, so the JSON Schema editors use (schema/chaos-card.schema.json) and
 * the validation that reports `file:line:col` problems never drift. Validation beyond the shape
 * (the fault's own parameters, the blast radius against the injection) is the loader's.
 */
import { z } from 'zod';
import { KERNEL_NAMES } from '../../domain/kernels';
import { FAULTS, type FaultName } from '../faults/types';
import { IDENTIFIER, parseDuration } from '../../playbooks/format';

export { parseDuration };

export const RISKS = ['low', 'medium', 'high'] as const;
export type Risk = (typeof RISKS)[number];

export { GATES, type GateName } from './gates';
import type { GateName } from './gates';

const DURATION = /^(\d+(ms|s|m|h))+$/;
const duration = z.string().regex(DURATION, 'expected a duration such as 500ms, 30s, 10m, 1h or 1m30s');
const kernel = z.enum(KERNEL_NAMES as unknown as [string, ...string[]]);
/** A managed process by its process-manager name (`bus`, `immutable-log`, `healing-1`, `runaway-cpu`…). */
const processName = z.string().regex(/^[a-z][a-z0-9-]*(\.standby)?$/, 'a managed process name (lower case, digits and "-")');

/**
 * Probes the steady-state hypothesis and the recovery gate are made of. Each reads the system itself
 * (src/chaos/probes.ts and the harness's own), never a run's report.
 */
export const ProbeSchema = z.discriminatedUnion('probe', [
  z.strictObject({ probe: z.literal('kernel_ready'), kernel }).describe("the kernel's self-test passes"),
  z.strictObject({ probe: z.literal('all_kernels_ready') }).describe("every kernel's self-test passes"),
  z.strictObject({ probe: z.literal('process_running'), process: processName }).describe('the managed process runs and is not stopped'),
  z.strictObject({ probe: z.literal('process_gone'), process: processName }).describe('no managed process of that name runs'),
  z.strictObject({ probe: z.literal('log_chain_verifies') }).describe("the immutable log's whole chain verifies"),
  z.strictObject({ probe: z.literal('sealed_segment_snapshotted') }).describe("a sealed segment of the immutable log is in a snapshot as it is now (what the integrity repair restores; corruptSealedLogEntry corrupts the newest such)"),
  z.strictObject({ probe: z.literal('bus_answers') }).describe('the bus answers and every kernel user has its policy rules enforced'),
  z.strictObject({ probe: z.literal('no_process_stopped') }).describe('no managed process is stopped (SIGSTOP)'),
  z.strictObject({ probe: z.literal('model_matches_manifest') }).describe("the coding agent's model files have their manifest's checksums"),
  z.strictObject({ probe: z.literal('code_parses'), file: z.string() }).describe('a compiled file under dist/ parses'),
  z.strictObject({ probe: z.literal('package_installed'), package: z.string() }).describe('node_modules holds the package'),
  z.strictObject({ probe: z.literal('config_valid') }).describe("the stack's configuration file validates"),
  z.strictObject({ probe: z.literal('log_quota_below_threshold') }).describe("the immutable log uses less of its quota than detectors.logQuota.percent (its own usage figure)"),
  z.strictObject({ probe: z.literal('queues_below_threshold') }).describe("every durable consumer of the ACL policy's streams has at most detectors.queueBacklog.maxPending messages pending"),
]);
export type Probe = z.infer<typeof ProbeSchema>;
export const PROBE_NAMES = ProbeSchema.options.map((o) => o.shape.probe.value);

const FAULT_NAMES = Object.keys(FAULTS) as [FaultName, ...FaultName[]];

export const CardSchema = z.strictObject({
  id: z.string().regex(IDENTIFIER, 'a card id must be lower case letters, digits and "_", starting with a letter'),
  title: z.string().min(1),
  description: z.string().optional(),
  risk: z.enum(RISKS),
  /** What the fault hits: a kernel, or a managed process (with the kernel it belongs to, if any). */
  target: z.union([z.strictObject({ kernel }), z.strictObject({ process: processName, kernel: kernel.optional() })]),
  injection: z.strictObject({
    fault: z.enum(FAULT_NAMES, { error: (i) => (i.input === undefined ? undefined : `unknown fault ${JSON.stringify(i.input)}; known: ${FAULT_NAMES.join(', ')}`) }),
    params: z.record(z.string(), z.unknown()).default({}),
  }),
  /** Must hold before the drill injects (else it is not run) and again at gate 4. */
  steadyState: z.array(ProbeSchema).min(1),
  /** Gate 3: what "the target is ready again" means for this card. */
  recovered: z.array(ProbeSchema).min(1),
  expect: z.strictObject({
    /** Evidence kinds that count as the fault detected (gate 1). */
    evidence: z.array(z.string().min(1)).min(1),
    /** The remedy gate 2 expects started: a playbook name, or `fix:<fixer>` for a coding-agent fix. */
    remedy: z.string().regex(/^(fix:)?[a-z][a-z0-9_]*$/, 'a playbook name, or fix:<fixer>'),
    /** The expected signature id, when the card pins one (else the incident's signature is recorded). */
    signature: z.string().optional(),
  }),
  timeouts: z
    .strictObject({ detected: duration.default('30s'), incident: duration.default('60s'), recovered: duration.default('90s'), steady_state: duration.default('60s') })
    .default({ detected: '30s', incident: '60s', recovered: '90s', steady_state: '60s' }),
  /**
   * What the injection may touch. Files are `state:<path>` (under the state directory),
   * `project:<path>` (the project's own tree: its build output, node_modules) or `config:` (the
   * stack's configuration file, wherever `--config` puts it); processes are managed process names.
   * Anything else is refused when the card is validated (src/chaos/cards/blast-radius.ts).
   */
  blastRadius: z.strictObject({
    files: z.array(z.string().regex(/^((state|project):[^\s]+|config:)$/, 'state:<path>, project:<path> or config:')).default([]),
    processes: z.array(processName).default([]),
  }),
});

export type CardSource = z.input<typeof CardSchema>;
export type ChaosCard = z.output<typeof CardSchema> & { file: string };

/** Gate timeouts in ms. */
export function gateTimeouts(card: Pick<ChaosCard, 'timeouts'>): Record<GateName, number> {
  const t = card.timeouts;
  return { detected: parseDuration(t.detected), incident: parseDuration(t.incident), recovered: parseDuration(t.recovered), steady_state: parseDuration(t.steady_state) };
}

/** The kernel a card's drill is declared against (evidence about it is tagged with the drill). */
export function cardKernel(card: Pick<ChaosCard, 'target'>): string | null {
  return 'kernel' in card.target ? (card.target.kernel ?? null) : null;
}

/** The target's key for the one-drill-at-a-time lock: `kernel:<name>` or `process:<name>`. */
export function targetKey(card: Pick<ChaosCard, 'target'>): string {
  return 'process' in card.target ? `process:${card.target.process}` : `kernel:${card.target.kernel}`;
}

export function cardJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(CardSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return { ...schema, title: 'Layer 1 chaos failure card', description: 'One failure card (see docs/chaos.md)' };
}
