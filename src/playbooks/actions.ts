/**
 * The action primitives a playbook step may name, each declared once: its parameters and output
 * as zod schemas (the loader checks a step's `with` against them; the JSON Schema for editors is
 * generated from them), what it does, and why running it twice does no harm. The implementations
 * are activities in activities/actions/ (one file per group), one activity per action, named like the action.
 *
 * Pure declarations: no I/O here, so the loader, the CLI and the docs can use them anywhere.
 */
import { z } from 'zod';

const kernel = z.enum(['message_bus', 'immutable_log', 'self_healing', 'coding_agent']).describe('A kernel name');
/** Paths are relative to the state directory; anything that escapes it is refused at run time. */
const statePath = z.string().min(1).describe('A path inside the state directory (relative to it)');
const subject = z.string().regex(/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$*>-]+)*$/, 'expected a NATS subject such as layer1.events.x');

export interface ActionSpec<P extends z.ZodObject = z.ZodObject, O extends z.ZodType = z.ZodType> {
  name: string;
  description: string;
  params: P;
  output: O;
  /** Why a retry, or a replay after a crash, does no harm. */
  idempotency: string;
  /** Changes what runs (stop, kill, purge, restore): a natural place for an approval gate. */
  risky: boolean;
}

/** Keeps each action's own schema types, so activities get typed params and outputs from them. */
function action<P extends z.ZodObject, O extends z.ZodType>(spec: ActionSpec<P, O>): ActionSpec<P, O> {
  return spec;
}

export const ACTIONS = {
  restart_kernel: action({
    name: 'restart_kernel',
    description: 'Stop and start every process of a kernel through the control plane, then wait until its self-test passes',
    params: z.strictObject({ kernel, reason: z.string().default('playbook') }),
    output: z.object({ kernel: z.string(), state: z.string(), restarts: z.number(), pids: z.record(z.string(), z.number().nullable()) }),
    idempotency: 'The end state is the same however often it runs: the kernel running fresh and ready.',
    risky: true,
  }),
  set_kernel_state: action({
    name: 'set_kernel_state',
    description: 'Start or stop a kernel through the control plane (start waits until its self-test passes)',
    params: z.strictObject({ kernel, state: z.enum(['running', 'stopped']) }),
    output: z.object({ kernel: z.string(), state: z.string(), pids: z.record(z.string(), z.number().nullable()) }),
    idempotency: 'Starting a running kernel or stopping a stopped one is a no-op.',
    risky: true,
  }),
  wait_control_plane_answers: action({
    name: 'wait_control_plane_answers',
    description: 'Query the control plane workflow until it answers its status query within queryTimeoutMs (heartbeats while waiting)',
    params: z.strictObject({
      timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
      /** One answer slower than this does not count: a control plane that answers late is the deadlock. */
      queryTimeoutMs: z.number().int().min(50).max(60_000).default(3_000),
    }),
    output: z.object({ runId: z.string(), answerMs: z.number(), attempts: z.number(), kernels: z.number() }),
    idempotency: 'Read-only: a query changes nothing.',
    risky: false,
  }),
  wait_kernel_ready: action({
    name: 'wait_kernel_ready',
    description: 'Run the kernel self-test until it passes or the timeout expires (heartbeats while waiting)',
    params: z.strictObject({
      kernel,
      timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
      /** Fail the step (KernelNotReady, retried by the step's policy) instead of returning `ready: false`. */
      require: z.boolean().default(false),
    }),
    output: z.object({ kernel: z.string(), ready: z.boolean(), attempts: z.number(), checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })) }),
    idempotency: 'Read-only apart from the log readiness probe entry.',
    risky: false,
  }),
  drain_queue: action({
    name: 'drain_queue',
    description:
      "Work off a durable consumer's backlog with nobody to read it: fetch, archive each message to a file, and ack. The messages are DISCARDED from the consumer's point of view (they reach no reader, only the archive); it refuses a consumer a reader is attached to, or one a kernel must keep reading (mustBeLive in the ACL policy), unless allowReader",
    params: z.strictObject({
      stream: z.string().min(1),
      consumer: z.string().min(1),
      maxMessages: z.number().int().min(1).max(1_000_000).default(10_000),
      archive: statePath.default('archive/drained'),
      /** Says, in the playbook, that the messages are discarded into the archive (reported in the output). */
      discard: z.boolean().optional().describe('default false'),
      /** Drain even while a reader is attached, or a consumer the policy says a kernel reads: taking its messages away from it. */
      allowReader: z.boolean().optional().describe('default false'),
    }),
    output: z.object({
      drained: z.number(),
      remaining: z.number(),
      archiveFile: z.string(),
      /** Whether the run said it discards (the `discard` parameter). */
      discarded: z.boolean().optional(),
      /** Stream sequences of the first and last message archived by this call (null when none). */
      firstSeq: z.number().nullable().optional(),
      lastSeq: z.number().nullable().optional(),
      pendingBefore: z.number().optional(),
    }),
    idempotency: 'Messages are acked only after they are archived (keyed by stream sequence), so a retry archives each at most once and continues.',
    risky: false,
  }),
  wait_consumers_delivered: action({
    name: 'wait_consumers_delivered',
    description:
      "Wait until every durable consumer of the ACL policy exists, and those a kernel reads (mustBeLive) have their reader attached and their backlog delivered to it and acknowledged by it (pending 0, nothing awaiting an ack) — never acknowledging anything itself",
    params: z.strictObject({
      timeoutMs: z.number().int().min(100).max(600_000).default(60_000),
      /** Fail the step (ConsumersNotDelivered) instead of returning `ok: false`. */
      require: z.boolean().default(true),
    }),
    output: z.object({
      ok: z.boolean(),
      consumers: z.array(
        z.object({
          consumer: z.string(),
          present: z.boolean(),
          reader: z.boolean(),
          pendingBefore: z.number().nullable(),
          pending: z.number().nullable(),
          ackPending: z.number().nullable(),
          /** How many messages the server delivered to the reader while this waited. */
          deliveredWhileWaiting: z.number(),
        }),
      ),
    }),
    idempotency: 'Read-only: it reads consumer info and waits; the readers acknowledge their own messages.',
    risky: false,
  }),
  purge_queue: action({
    name: 'purge_queue',
    description: 'Archive every message of a stream (or one subject of it) to a file, then purge them',
    params: z.strictObject({ stream: z.string().min(1), subject: subject.optional(), archive: statePath.default('archive/purged') }),
    output: z.object({ archived: z.number(), purged: z.number(), archiveFile: z.string() }),
    idempotency: 'The archive is written and fsynced before the purge, which only removes messages up to the archived sequence.',
    risky: true,
  }),
  verify_log_chain: action({
    name: 'verify_log_chain',
    description: "Verify the immutable log's hash chain (incremental or full)",
    params: z.strictObject({
      full: z.boolean().default(false),
      /** Fail the step (LogChainBroken) instead of returning `ok: false`: a repair that did not work fails its run. */
      require: z.boolean().default(false),
    }),
    output: z.object({ ok: z.boolean(), checked: z.number(), firstBadSeq: z.number().nullable(), segment: z.string().nullable(), reason: z.string().nullable() }),
    idempotency: 'Read-only.',
    risky: false,
  }),
  restore_from_snapshot: action({
    name: 'restore_from_snapshot',
    description: "Restore a file from the newest (or a named) snapshot, checking its SHA-256 before and after; the bus's nats.conf is then reloaded by the bus",
    params: z.strictObject({
      path: statePath,
      snapshot: z.string().optional(),
      /**
       * Make the bus load the restored file (SIGHUP, waiting for the new load time). Default: true
       * for `bus/nats.conf`, whose restore undoes nothing until the bus loads it, else false.
       */
      reloadBus: z.boolean().optional(),
    }),
    output: z.object({ path: z.string(), snapshot: z.string(), sha256: z.string(), restored: z.boolean(), configLoadTime: z.string().optional() }),
    idempotency: 'When the file already has the snapshot checksum nothing is written; otherwise it is replaced atomically (write, fsync, rename).',
    risky: true,
  }),
  rebuild_log_index: action({
    name: 'rebuild_log_index',
    description: "Rebuild the immutable log's index (sequence → offset) from its segments",
    params: z.strictObject({}),
    output: z.object({ entries: z.number(), segments: z.number() }),
    idempotency: 'The index is derived from the segments: rebuilding it twice yields the same files.',
    risky: false,
  }),
  archive_log_segments: action({
    name: 'archive_log_segments',
    description: 'Compress sealed log segments into the archive, keeping the newest ones uncompressed',
    params: z.strictObject({ keep: z.number().int().min(0).default(2) }),
    output: z.object({ archived: z.number(), bytesSaved: z.number() }),
    idempotency: 'A segment already archived is skipped; an interrupted archive is finished when the log next opens.',
    risky: false,
  }),
  cleanup_archives: action({
    name: 'cleanup_archives',
    description: 'Delete old compressed log archives beyond a count or an age (their checksums stay in the manifest)',
    params: z.strictObject({ maxArchives: z.number().int().min(0).optional(), maxAgeMs: z.number().int().min(0).optional() }),
    output: z.object({ removed: z.number(), bytesFreed: z.number() }),
    idempotency: 'Deleting what is already deleted removes nothing.',
    risky: true,
  }),
  apply_bus_acl: action({
    name: 'apply_bus_acl',
    description:
      "Re-render the bus configuration from the ACL policy, reload the bus without dropping its streams, and make the policy's streams and durable consumers exist (with bus.replicas); on an external cluster, render its authorization block and ensure the streams, without a reload (the cluster's operator installs the block)",
    params: z.strictObject({}),
    output: z.object({
      changed: z.boolean(),
      hash: z.string(),
      /** When the embedded bus loaded the render; null on an external cluster, which Layer 1 does not reload. */
      configLoadTime: z.string().nullable(),
      /** Streams and consumers this call created or updated (`STREAM` or `STREAM/CONSUMER`). */
      ensured: z.array(z.string()),
      /** What was rendered and whether it was loaded. */
      detail: z.string(),
      /** The rendered file, relative to the state directory: bus/nats.conf, or bus/authorization.conf for an external bus. */
      file: z.string(),
    }),
    idempotency: 'Rendering is deterministic (passwords are kept), a reload of an unchanged config changes nothing, and streams and consumers already as the policy says are left alone.',
    risky: true,
  }),
  validate_bus_acl: action({
    name: 'validate_bus_acl',
    description:
      "Validate the ACL as the bus ENFORCES it, by real publishes as every user of the policy (one per pattern of its allow list must be delivered, one the policy forbids it must be refused), and that nats.conf (an external bus: authorization.conf) is the policy's render; with analyseLog, also read the bus's own log for the violations it refused (an external cluster's logs are its nodes': there, the refusals Layer 1's own connections received) and tell, for each, whether the policy allows it (the enforced ACL drifted) or forbids it",
    params: z.strictObject({
      analyseLog: z.boolean().default(false),
      /** Fail the step (AclInvalid) when the real publishes do not behave as the policy says. */
      require: z.boolean().default(false),
      /** How much of the end of the bus log to read, in KB. */
      logKb: z.number().int().min(1).max(65_536).default(1024),
      /** With analyseLog: only the violations of this user count for the verdict (the one that started the run); '' for all. */
      user: z.string().optional(),
      /** With analyseLog: only the violations on this subject count for the verdict; '' for all. */
      subject: z.string().optional(),
    }),
    output: z.object({
      ok: z.boolean(),
      detail: z.string(),
      violations: z.array(
        z.object({ user: z.string(), subject: z.string(), op: z.string(), count: z.number(), allowedByPolicy: z.boolean(), lastLine: z.string() }),
      ),
      /** `none` (no violation in the log, rules enforced), `policy_enforced` (all refused as the policy says), `acl_drift` (something the policy allows was refused, or the enforced rules differ from the policy now). */
      verdict: z.enum(['not_analysed', 'none', 'policy_enforced', 'acl_drift']),
      /** Per user: whether the bus enforces its rules as the policy says, and what it does not. */
      users: z.array(z.object({ user: z.string(), ok: z.boolean(), problems: z.array(z.string()) })).optional(),
      /** nats.conf on disk is what the policy renders. */
      configMatchesPolicy: z.boolean().optional(),
    }),
    idempotency: 'Publishes probes only: marked with the Layer1-Probe header, from connections named layer1-acl-probe-<user> (their refusals are not evidence), and deleted again from any stream that stored them.',
    risky: false,
  }),
  take_snapshot: action({
    name: 'take_snapshot',
    description: 'Copy files of the state directory into a timestamped snapshot with a SHA-256 manifest',
    params: z.strictObject({
      paths: z.array(statePath).min(1),
      label: z.string().regex(/^[a-z0-9_-]+$/).default('manual'),
      /** Leave out the paths that do not exist (e.g. bus/nats.conf, rendered only for the embedded bus) instead of failing. */
      skipMissing: z.boolean().optional(),
    }),
    output: z.object({ snapshot: z.string(), files: z.number(), bytes: z.number() }),
    idempotency: 'The snapshot id is derived from the run and step, so a retry completes the same snapshot rather than making another.',
    risky: false,
  }),
  kill_process: action({
    name: 'kill_process',
    description: 'Signal a runaway process that Layer 1 manages (by its process name, never by pid or program name)',
    params: z.strictObject({
      process: z.string().regex(/^[a-z0-9-]+$/),
      signal: z.enum(['SIGTERM', 'SIGKILL', 'SIGSTOP', 'SIGCONT']).default('SIGTERM'),
      /**
       * With SIGTERM: wait this long for the process to exit, then SIGKILL it and wait for it to be
       * gone (a process that ignores TERM, or is too busy to run its handler, is still stopped).
       * 0 sends the signal and returns.
       */
      graceMs: z.number().int().min(0).max(60_000).default(0),
    }),
    output: z.object({
      process: z.string(),
      pid: z.number().nullable(),
      signalled: z.boolean(),
      /** SIGKILL was sent after the grace period. */
      escalated: z.boolean().default(false),
      /** The targeted pid is no longer running (only checked with a grace period). */
      gone: z.boolean().nullable().default(null),
    }),
    idempotency: 'Signalling a process that is gone is a no-op; a retry signals the same pid only if it still runs.',
    risky: true,
  }),
  start_server: action({
    name: 'start_server',
    description: 'Start an embedded server (temporal, store, bus) again with the spec `layer1 up` uses, if its process is dead; a live one is left alone',
    params: z.strictObject({ server: z.enum(['temporal', 'store', 'bus']) }),
    output: z.object({ server: z.string(), outcome: z.enum(['started', 'already_running', 'claimed_elsewhere', 'not_embedded']), pid: z.number().nullable() }),
    idempotency: 'Starts only when the pid file names no live process, under an exclusive claim shared with the server supervisor: a retry, or the supervisor at the same moment, finds it running.',
    risky: true,
  }),
  publish_event: action({
    name: 'publish_event',
    description:
      'Publish an event on the bus (JetStream, with a message id so duplicates are dropped); bestEffort: when the bus does not take it within timeoutMs (it may be the thing being repaired), the event goes to the immutable log instead and the step still succeeds',
    params: z.strictObject({
      subject,
      payload: z.record(z.string(), z.unknown()).default({}),
      /** When the bus does not answer or refuses, append the event to the immutable log (kind `event.unpublished`) instead of failing. */
      bestEffort: z.boolean().optional().describe('default false'),
      /** How long the publish may wait for the bus's acknowledgement. */
      timeoutMs: z.number().int().min(100).max(60_000).optional().describe('default 5000'),
    }),
    output: z.object({
      stream: z.string().nullable(),
      seq: z.number().nullable(),
      duplicate: z.boolean(),
      /** bestEffort only: where the event went when the bus did not take it, and why. */
      fallback: z.object({ log: z.number(), reason: z.string() }).optional(),
    }),
    idempotency: 'The message id is the run and step id: JetStream drops a retried publish as a duplicate; the fallback is an append_audit entry keyed the same way.',
    risky: false,
  }),
  append_audit: action({
    name: 'append_audit',
    description: 'Append an entry to the immutable log (the audit trail)',
    params: z.strictObject({ kind: z.string().min(1), data: z.record(z.string(), z.unknown()).default({}) }),
    output: z.object({ seq: z.number(), hash: z.string() }),
    idempotency: 'Carries the run and step id; a retry finds the entry already appended and returns it.',
    risky: false,
  }),
  open_backlog_item: action({
    name: 'open_backlog_item',
    description: 'Open a backlog item for a human (or the coding agent) to follow up',
    params: z.strictObject({ title: z.string().min(1), detail: z.string().default(''), severity: z.enum(['low', 'medium', 'high']).default('medium') }),
    output: z.object({ id: z.string(), created: z.boolean() }),
    idempotency: 'Upsert keyed on the run and step id.',
    risky: false,
  }),
  apply_fix: action({
    name: 'apply_fix',
    description:
      "Ask one of the coding agent's fixers for a change set and apply it safely: staged in a scratch copy, verified there (tests, lint, types), promoted with a backup, its kernel restarted and ready (the change-set workflow); nothing to fix is a success with proposed: false",
    params: z.strictObject({
      // Only fixers that find the fault by reading the trees: the others read it from an incident's evidence text.
      fixer: z.enum(['model_restore']).describe("A fixer that finds the fault in the trees themselves (model_restore); the others need an incident's evidence"),
      kernel: kernel.nullable().default(null).describe('The kernel the fault is in: its declared tests run in the scratch copy'),
      timeoutMs: z.number().int().positive().default(600_000).describe('How long the change set (staging, checks, promotion, restart) may take'),
    }),
    output: z.object({ proposed: z.boolean(), changeSet: z.string().nullable(), state: z.string(), summary: z.string(), files: z.array(z.string()), kernelReady: z.boolean().nullable() }),
    idempotency: 'The change set id is the run and step: a retry joins the same change-set workflow by its id instead of proposing and applying again.',
    risky: true,
  }),
  run_verification: action({
    name: 'run_verification',
    description: 'Run the verification loop (targeted tests, lint, type check) over a change; a seam the coding agent fills',
    params: z.strictObject({ target: z.string().default('.'), checks: z.array(z.enum(['tests', 'lint', 'types'])).default(['tests', 'lint', 'types']) }),
    output: z.object({ ok: z.boolean(), results: z.array(z.object({ check: z.string(), ok: z.boolean(), detail: z.string() })) }),
    idempotency: 'Runs checks only; writes nothing but their report.',
    risky: false,
  }),
} as const satisfies Record<string, ActionSpec>;

export type ActionName = keyof typeof ACTIONS;
/** The parameters an action's activity receives (defaults applied). */
export type ActionParamsOf<N extends ActionName> = z.output<(typeof ACTIONS)[N]['params']>;
/** What an action's activity returns. */
export type ActionOutputOf<N extends ActionName> = z.output<(typeof ACTIONS)[N]['output']>;
export const ACTION_NAMES = Object.keys(ACTIONS) as ActionName[];

export function isActionName(name: unknown): name is ActionName {
  return typeof name === 'string' && name in ACTIONS;
}
