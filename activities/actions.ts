/**
 * The 18 action primitives of playbooks (declared in src/playbooks/actions.ts), one activity each,
 * named like the action. Every activity validates its params with the action's schema first, so bad
 * input fails at once and for good (`InvalidActionParams`); business failures are
 * `ApplicationFailure`s whose `type` comes from {@link ActionErrorType}.
 *
 * Idempotency: each side effect is keyed on `<workflowId>:<runId>:<stepId>` (the run and the step), so a
 * retry, or a replay after a worker crash, finds what the first attempt did and finishes it rather
 * than doing it twice. The line that makes each action idempotent says how.
 */
import { mkdir, open, readFile, truncate } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { asyncLocalStorage, type Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { headers as natsHeaders, PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Db } from 'mongodb';
import { z } from 'zod';
import type { LoadedConfig } from '../src/config/load';
import { ConfigError } from '../src/config/load';
import { connectBus } from '../src/clients/bus';
import type { ProcessManager } from '../src/process/manager';
import { ACTIONS, type ActionName, type ActionOutputOf, type ActionParamsOf } from '../src/playbooks/actions';
import { confinePath, PathEscapeError, relativeToState } from '../src/playbooks/paths';
import { ChecksumMismatchError, fsyncPath, SnapshotNotFoundError, SnapshotStore, snapshotIdOf } from '../src/snapshots/store';
import { openBacklogItem } from '../src/backlog/store';
import { runVerification, VerificationAbortedError, type VerificationCheck } from '../src/verification/loop';
import { immutableLogClient, KERNELS, type KernelContext } from '../kernels/registry';
import { ImmutableLogRequestError, type ImmutableLogClient } from '../kernels/immutable-log/client';
import type { JsonValue, LogEntry } from '../kernels/immutable-log/format';
import { BusReloadError } from '../kernels/message-bus/errors';
import { busReadiness, reloadBus } from '../kernels/message-bus/readiness';
import { renderBus } from '../kernels/message-bus/render';
import { ensureStreams, isNotFound } from '../kernels/message-bus/streams';
import { loadPolicy, policyFileOf } from '../kernels/message-bus/policy';
import { analyseViolations } from '../kernels/message-bus/violations';
import { CONTROL_PLANE_WORKFLOW_ID, getControlPlaneStatusQuery, kernelCommandSignal, type KernelCommand, type ControlPlaneInput, type ControlPlaneStatus, type KernelRecord, CONTROL_PLANE_WORKFLOW, type ControlPlaneWorkflow } from '../contracts/control-plane';

/** Who runs an action: the playbook run and step. `workflowId:runId:stepId` is every action's idempotency key. */
export interface ActionMeta {
  workflowId: string;
  runId: string;
  stepId: string;
  playbook: string;
  kernel: string | null;
}

export interface ActionDeps {
  config: LoadedConfig;
  db: Db;
  /** The worker's own bus connection (user `self_healing` in the healing worker): events are published as it. */
  bus: NatsConnection;
  temporal: Client;
  pm: ProcessManager;
  /** Commands of the verification loop, per check; the defaults run the repository's npm scripts. */
  verificationCommands?: Partial<Record<VerificationCheck, string>>;
}

/** The `type` of every ApplicationFailure an action throws. */
export const ActionErrorType = {
  /** The params do not match the action's schema (details: the zod issues). */
  INVALID_PARAMS: 'InvalidActionParams',
  /** A path leaves the state directory, by `..` or by a symlink. */
  PATH_ESCAPE: 'PathEscape',
  SNAPSHOT_NOT_FOUND: 'SnapshotNotFound',
  /** A snapshot's copy, or the restored copy, does not have the manifest's SHA-256. */
  CHECKSUM_MISMATCH: 'ChecksumMismatch',
  /** The kernel did not pass its self-test after a start or restart. */
  KERNEL_NOT_READY: 'KernelNotReady',
  /** Kernel actions go through the control plane so its state stays true; it is not running. */
  CONTROL_PLANE_NOT_RUNNING: 'ControlPlaneNotRunning',
  /** The control plane refused the update, or the update failed. */
  KERNEL_UPDATE_FAILED: 'KernelUpdateFailed',
  /** kill_process: the process manager knows no process of that name. */
  UNKNOWN_PROCESS: 'UnknownProcess',
  /** The stream or durable consumer does not exist. */
  STREAM_NOT_FOUND: 'StreamNotFound',
  /** The bus refused a publish (the worker's ACL user may not publish there). */
  PUBLISH_REFUSED: 'PublishRefused',
  /** The ACL policy does not load. */
  ACL_POLICY_INVALID: 'AclPolicyInvalid',
  /** The bus did not take the new configuration (retryable). */
  BUS_RELOAD_FAILED: 'BusReloadFailed',
  /** verify_log_chain with `require`: the chain does not verify (retryable: a repair may be under way). */
  LOG_CHAIN_BROKEN: 'LogChainBroken',
  /** validate_bus_acl with `require`: the real publishes did not behave as the policy says (retryable). */
  ACL_INVALID: 'AclInvalid',
  /** The immutable log answered with an error (retryable for a 5xx). */
  LOG_REQUEST_FAILED: 'ImmutableLogRequestFailed',
} as const;
export type ActionErrorType = (typeof ActionErrorType)[keyof typeof ActionErrorType];

/** For `nonRetryableErrorTypes` of a step's retry policy: retrying these cannot help. */
export const NON_RETRYABLE_ACTION_ERRORS: readonly ActionErrorType[] = [
  ActionErrorType.INVALID_PARAMS,
  ActionErrorType.PATH_ESCAPE,
  ActionErrorType.SNAPSHOT_NOT_FOUND,
  ActionErrorType.CHECKSUM_MISMATCH,
  ActionErrorType.KERNEL_NOT_READY,
  ActionErrorType.CONTROL_PLANE_NOT_RUNNING,
  ActionErrorType.KERNEL_UPDATE_FAILED,
  ActionErrorType.UNKNOWN_PROCESS,
  ActionErrorType.STREAM_NOT_FOUND,
  ActionErrorType.PUBLISH_REFUSED,
  ActionErrorType.ACL_POLICY_INVALID,
];

/** Each action's parameters and output, from its zod schemas in src/playbooks/actions.ts. */
export type ActionParams = { [N in ActionName]: ActionParamsOf<N> };
export type ActionOutputs = { [N in ActionName]: ActionOutputOf<N> };

export type ActionActivity<N extends ActionName> = (params: ActionParams[N], meta: ActionMeta) => Promise<ActionOutputs[N]>;
export type ActionActivities = { [N in ActionName]: ActionActivity<N> };

/** Where kill_process records the pid each step targets. */
export const ACTION_RECORDS_COLLECTION = 'action_records';
/** Header names on events published by publish_event. */
export const EVENT_HEADERS = { workflow: 'Layer1-Workflow', run: 'Layer1-Run', step: 'Layer1-Step', playbook: 'Layer1-Playbook' } as const;
/** The field of an audit entry's data that carries the run and step (so it is reserved). */
export const AUDIT_META_FIELD = 'meta';

/** How far back append_audit looks for its own entry when there is no activity context to bound it. */
const AUDIT_LOOKBACK_MS = 60 * 60_000;
const AUDIT_LOOKBACK_PAGES = 20;
const LOG_PAGE = 1_000;
const FETCH_BATCH = 256;
const NATS_NAME = /^[A-Za-z0-9_-]+$/;

export function idempotencyKey(meta: Pick<ActionMeta, 'workflowId' | 'runId' | 'stepId'>): string {
  // The run id too: the dispatcher reuses a workflow id for each new incident of a playbook and
  // kernel, and a new run must act again rather than find the last run's effects.
  return `${meta.workflowId}:${meta.runId}:${meta.stepId}`;
}

export function createActionActivities(deps: ActionDeps): ActionActivities {
  const { config, db, bus, temporal, pm } = deps;
  const kernelCtx: KernelContext = { config, pm, db, temporal };
  const log = (timeoutMs?: number): ImmutableLogClient => immutableLogClient(config, timeoutMs ?? 10_000);
  const snapshots = new SnapshotStore(config.stateDir);

  return {
    restart_kernel: action('restart_kernel', async ({ kernel, reason }, meta) => {
      // Idempotent: the request id is the run and step, so a retry waits for the same restart (or
      // gets its result) instead of restarting the kernel a second time.
      const rec = await controlPlaneCommand(config, temporal, { requestId: `${idempotencyKey(meta)}:restart_kernel`, op: 'restart', kernel, reason });
      requireReady(rec);
      return { kernel, state: rec.state, restarts: rec.restarts, pids: rec.pids };
    }),

    set_kernel_state: action('set_kernel_state', async ({ kernel, state }, meta) => {
      // Idempotent: one command per run and step; and starting a running kernel (or stopping a
      // stopped one) is a no-op in the control plane anyway.
      const op = state === 'running' ? 'start' : 'stop';
      const rec = await controlPlaneCommand(config, temporal, { requestId: `${idempotencyKey(meta)}:set_kernel_state:${state}`, op, kernel });
      if (state === 'running') requireReady(rec);
      return { kernel, state: rec.state, pids: rec.pids };
    }),

    wait_kernel_ready: action('wait_kernel_ready', async ({ kernel, timeoutMs, require }) => {
      const deadline = Date.now() + timeoutMs;
      let backoffMs = 100;
      for (let attempts = 1; ; attempts++) {
        // Read-only: the self-test's only write is the log's own probe entry.
        const checks = (await KERNELS[kernel].readiness(kernelCtx)).map(({ name, ok, detail }) => ({ name, ok, detail }));
        heartbeat({ attempts });
        if (checks.every((c) => c.ok)) return { kernel, ready: true, attempts, checks };
        if (Date.now() + backoffMs >= deadline) {
          if (!require) return { kernel, ready: false, attempts, checks };
          const failed = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
          // Retryable: the step's retry policy decides whether to give the kernel more time.
          throw failure(ActionErrorType.KERNEL_NOT_READY, `${kernel} is not ready after ${attempts} self-test attempts: ${failed.join('; ')}`, { kernel, checks }, false);
        }
        await sleepOrCancel(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 2_000);
      }
    }),

    drain_queue: action('drain_queue', async ({ stream, consumer, maxMessages, archive }) => {
      natsName('stream', stream);
      natsName('consumer', consumer);
      const file = confinePath(config.stateDir, path.join(archive, stream, `${consumer}.jsonl`));
      const archived = await openArchive(file);
      const nc = await connectBus(config, { name: 'layer1-action-drain', user: 'operator' });
      try {
        const js = jetstream(nc);
        const c = await js.consumers.get(stream, consumer).catch(notFound(`durable consumer ${stream}/${consumer}`));
        let drained = 0;
        while (drained < maxMessages) {
          await throwIfCancelled();
          const pending = (await c.info()).num_pending;
          if (pending === 0) break;
          const batch: JsMsg[] = [];
          for await (const m of await c.fetch({ max_messages: Math.min(FETCH_BATCH, maxMessages - drained, pending), expires: 2_000 })) {
            batch.push(m);
          }
          if (batch.length === 0) break;
          // Idempotent: a message whose stream sequence is already archived (a crash after the
          // fsync, before its ack) is acked without being written again.
          await appendArchive(file, archived, batch, consumer);
          // Acked only after the archive is fsynced: a crash before this redelivers, never loses.
          await Promise.all(batch.map((m) => m.ackAck()));
          drained += batch.length;
          heartbeat({ drained });
        }
        return { drained, remaining: (await c.info()).num_pending, archiveFile: relativeToState(config.stateDir, file) };
      } finally {
        await nc.close();
      }
    }),

    purge_queue: action('purge_queue', async ({ stream, subject, archive }, meta) => {
      natsName('stream', stream);
      const file = confinePath(config.stateDir, path.join(archive, stream, `${fileSafe(idempotencyKey(meta))}.jsonl`));
      const archived = await openArchive(file);
      const nc = await connectBus(config, { name: 'layer1-action-purge', user: 'operator' });
      try {
        const jsm = await jetstreamManager(nc);
        const info = await jsm.streams.info(stream, subject ? { subjects_filter: subject } : undefined).catch(notFound(`stream ${stream}`));
        const lastSeq = info.state.last_seq;
        const count = subject ? Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0) : info.state.messages;
        if (count > 0) {
          // An ordered consumer reads the stream without changing any durable consumer's state.
          const reader = await jetstream(nc).consumers.get(stream, subject ? { filter_subjects: [subject] } : {});
          for (let done = false; !done; ) {
            await throwIfCancelled();
            const batch: JsMsg[] = [];
            for await (const m of await reader.fetch({ max_messages: FETCH_BATCH, expires: 2_000 })) {
              // Messages published after the purge began are neither archived nor purged.
              if (m.seq > lastSeq) {
                done = true;
                break;
              }
              batch.push(m);
              // Stop at the last one rather than wait out the fetch's expiry.
              if (m.info.pending === 0 || m.seq === lastSeq) {
                done = true;
                break;
              }
            }
            if (batch.length === 0) break;
            await appendArchive(file, archived, batch, null);
            heartbeat({ archived: archived.size });
          }
        } else {
          await appendArchive(file, archived, [], null);
        }
        const upTo = Math.max(0, ...archived);
        // Idempotent: only what the fsynced archive holds is purged (sequences below upTo + 1), so a
        // retry purges nothing new, and nothing is ever purged that was not archived first.
        const res = upTo > 0 ? await jsm.streams.purge(stream, { ...(subject ? { filter: subject } : {}), seq: upTo + 1 }) : { purged: 0 };
        return { archived: archived.size, purged: res.purged, archiveFile: relativeToState(config.stateDir, file) };
      } finally {
        await nc.close();
      }
    }),

    verify_log_chain: action('verify_log_chain', async ({ full, require }) => {
      // Read-only.
      const res = await log(full ? 300_000 : 60_000).verify({ full });
      if (require && !res.ok) {
        throw failure(
          ActionErrorType.LOG_CHAIN_BROKEN,
          `the log chain does not verify: ${res.failure?.reason ?? 'unknown'} at seq ${res.failure?.seq ?? '?'} in ${res.failure?.segment ?? '?'}`,
          { failure: res.failure ?? null },
          false,
        );
      }
      return {
        ok: res.ok,
        checked: res.checked,
        firstBadSeq: res.failure?.seq ?? null,
        segment: res.failure?.segment ?? null,
        reason: res.failure?.reason ?? null,
      };
    }),

    restore_from_snapshot: action('restore_from_snapshot', async ({ path: file, snapshot }) => {
      // Idempotent: a file that already has the snapshot's checksum is not written (see SnapshotStore.restore).
      return snapshots.restore(file, snapshot);
    }),

    rebuild_log_index: action('rebuild_log_index', async () => {
      // Idempotent: the index is derived from the segments, so a second rebuild writes the same files.
      const res = await log(120_000).rebuildIndex();
      return { entries: res.entries, segments: res.segments };
    }),

    archive_log_segments: action('archive_log_segments', async ({ keep }) => {
      // Idempotent: the log skips segments already archived.
      const res = await log(300_000).archive(keep);
      return { archived: res.archived.length, bytesSaved: Math.max(0, res.bytesIn - res.bytesOut) };
    }),

    cleanup_archives: action('cleanup_archives', async ({ maxArchives, maxAgeMs }) => {
      // Idempotent: an archive already deleted is not found again, so a retry removes nothing more.
      const res = await log(60_000).cleanup({
        ...(maxArchives !== undefined ? { maxArchives } : {}),
        ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
      });
      return { removed: res.removed.length, bytesFreed: res.freedBytes };
    }),

    apply_bus_acl: action('apply_bus_acl', async () => {
      const rendered = renderBus(config);
      // Reload even when nothing changed: an attempt that rendered and then crashed before the
      // reload leaves `changed: false` for the retry, and reloading an unchanged config is harmless.
      const { configLoadTime } = await reloadBus(config, { render: false, pm });
      // The policy also names the streams and consumers (a deleted consumer comes back here).
      const report = await ensureStreams(config);
      const ensured = [
        ...report.streams.filter((x) => x.action !== 'unchanged').map((x) => x.stream),
        ...report.consumers.filter((x) => x.action !== 'unchanged').map((x) => `${x.stream}/${x.consumer}`),
      ];
      return { changed: rendered.changed, hash: rendered.hash, configLoadTime, ensured };
    }),

    validate_bus_acl: action('validate_bus_acl', async ({ analyseLog, logKb, require }) => {
      // Read-only but for probes on probe subjects, which the self-test cleans up after itself.
      const checks = await busReadiness(config);
      const acl = checks.find((c) => c.name === 'acl_loaded');
      const { ok, detail } = acl ? { ok: acl.ok, detail: acl.detail } : { ok: false, detail: 'the bus self-test has no acl_loaded check' };
      if (require && !ok) throw failure(ActionErrorType.ACL_INVALID, `the bus ACL does not behave as the policy says: ${detail}`, { detail }, false);
      if (!analyseLog) return { ok, detail, violations: [], verdict: 'not_analysed' as const };
      const violations = analyseViolations(pm.logPath('bus'), loadPolicy(policyFileOf(config)), logKb * 1024);
      const verdict = violations.length === 0 ? 'none' : violations.some((v) => v.allowedByPolicy) ? 'acl_drift' : 'policy_enforced';
      return { ok, detail, violations, verdict };
    }),

    take_snapshot: action('take_snapshot', async ({ paths, label }, meta) => {
      const key = idempotencyKey(meta);
      // Idempotent: the snapshot id is derived from the run and step, so a retry finds (or
      // finishes) the same snapshot instead of taking another.
      const { manifest } = await snapshots.take({ id: snapshotIdOf(key), label, paths, key });
      return { snapshot: manifest.id, files: manifest.files.length, bytes: manifest.files.reduce((a, f) => a + f.bytes, 0) };
    }),

    kill_process: action('kill_process', async ({ process: name, signal }, meta) => {
      const known = pm.list();
      if (!known.includes(name)) {
        throw failure(ActionErrorType.UNKNOWN_PROCESS, `no managed process named "${name}" (known: ${known.join(', ') || 'none'})`, {
          process: name,
          known,
        });
      }
      // Idempotent by nature: continuing a process that runs does nothing. No record either, so
      // resuming a stopped store does not wait on that store.
      if (signal === 'SIGCONT') {
        const pid = pm.pid(name);
        return { process: name, pid, signalled: pid !== null && pm.signal(name, signal) };
      }
      const records = db.collection<{ _id: string; process: string; pid: number | null; signal: string; at: Date }>(ACTION_RECORDS_COLLECTION);
      const _id = `${idempotencyKey(meta)}:kill_process`;
      // Idempotent: the pid this step targets is recorded (insert-only) before any signal, so a
      // retry signals that pid again only while it still runs, never a successor started meanwhile.
      await records.updateOne({ _id }, { $setOnInsert: { process: name, pid: pm.pid(name), signal, at: new Date() } }, { upsert: true });
      const target = (await records.findOne({ _id }))?.pid ?? null;
      if (target === null || pm.pid(name) !== target) return { process: name, pid: target, signalled: false };
      return { process: name, pid: target, signalled: pm.signal(name, signal) };
    }),

    publish_event: action('publish_event', async ({ subject, payload }, meta) => {
      const h = natsHeaders();
      h.set(EVENT_HEADERS.workflow, meta.workflowId);
      h.set(EVENT_HEADERS.run, meta.runId);
      h.set(EVENT_HEADERS.step, meta.stepId);
      h.set(EVENT_HEADERS.playbook, meta.playbook);
      const data = JSON.stringify(payload);
      try {
        // Idempotent: the message id is the run and step, so JetStream drops a retried publish as
        // a duplicate (within the stream's duplicate window) and answers with the first one's seq.
        const ack = await jetstream(bus).publish(subject, data, { msgID: idempotencyKey(meta), headers: h, timeout: 5_000 });
        return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        if (isPermissionViolation(err)) {
          throw failure(ActionErrorType.PUBLISH_REFUSED, `the bus refused a publish to ${subject}: ${(err as Error).message}`, { subject });
        }
        if (!isNoStream(err)) throw err;
      }
      // No stream captures the subject: a plain publish, which a retry may repeat (core NATS has no ids).
      bus.publish(subject, data, { headers: h });
      await bus.flush();
      return { stream: null, seq: null, duplicate: false };
    }),

    append_audit: action('append_audit', async ({ kind, data }, meta) => {
      if (AUDIT_META_FIELD in data) {
        throw failure(ActionErrorType.INVALID_PARAMS, `append_audit: data.${AUDIT_META_FIELD} is reserved for the run and step`, { field: AUDIT_META_FIELD });
      }
      const key = idempotencyKey(meta);
      const client = log();
      // Idempotent: the entry carries the run and step; a retry (even after an append whose answer
      // was lost) finds it in the log's tail and returns it instead of appending again. A first
      // attempt has nothing to find (the key is unique to this run and step), so it skips the look;
      // outside an activity (scripts, tests) it always looks.
      if ((activityContext()?.info.attempt ?? 2) > 1) {
        const existing = await findAuditEntry(client, kind, key);
        if (existing) return { seq: existing.seq, hash: existing.hash };
      }
      const res = await client.append(kind, toJson({ ...data, [AUDIT_META_FIELD]: { key, ...meta } }));
      return { seq: res.seq, hash: res.hash };
    }),

    open_backlog_item: action('open_backlog_item', async ({ title, detail, severity }, meta) => {
      // Idempotent: upsert keyed on the run and step (insert-only fields).
      return openBacklogItem(db, {
        _id: idempotencyKey(meta),
        title,
        detail,
        severity,
        source: { playbook: meta.playbook, kernel: meta.kernel, workflowId: meta.workflowId, runId: meta.runId, stepId: meta.stepId },
      });
    }),

    run_verification: action('run_verification', async ({ target, checks }) => {
      const ctx = activityContext();
      try {
        // Runs checks only: nothing is written but their report, so running it again is harmless.
        const report = await runVerification({
          target,
          checks,
          commands: deps.verificationCommands,
          signal: ctx?.cancellationSignal,
          onProgress: (check) => heartbeat({ check }),
        });
        return { ok: report.ok, results: report.results.map(({ check, ok, detail }) => ({ check, ok, detail })) };
      } catch (err) {
        // Cancelled: surface the SDK's cancellation, not our abort.
        if (err instanceof VerificationAbortedError && ctx) await ctx.cancelled;
        throw err;
      }
    }),
  };
}

/**
 * Wraps an implementation: params checked against the action's schema (defaults applied), output
 * checked against its output schema, domain errors turned into typed ApplicationFailures.
 */
function action<N extends ActionName>(name: N, impl: ActionActivity<N>): ActionActivity<N> {
  const spec = ACTIONS[name];
  return async (params, meta) => {
    const parsed = spec.params.safeParse(params);
    if (!parsed.success) {
      throw ApplicationFailure.create({
        type: ActionErrorType.INVALID_PARAMS,
        nonRetryable: true,
        message: `${name}: invalid params\n${z.prettifyError(parsed.error)}`,
        details: [parsed.error.issues],
      });
    }
    if (!meta || typeof meta.workflowId !== 'string' || !meta.workflowId || typeof meta.stepId !== 'string' || !meta.stepId) {
      throw ApplicationFailure.create({
        type: ActionErrorType.INVALID_PARAMS,
        nonRetryable: true,
        message: `${name}: meta needs a workflowId and a stepId (the idempotency key)`,
      });
    }
    try {
      const out = await heartbeatWhile(impl(parsed.data as ActionParams[N], meta));
      return spec.output.parse(out) as ActionOutputs[N];
    } catch (err) {
      throw asFailure(err);
    }
  };
}

function failure(type: ActionErrorType, message: string, details?: Record<string, unknown>, nonRetryable = true): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable, ...(details ? { details: [details] } : {}) });
}

/** Domain errors with a typed meaning become ApplicationFailures; anything else stays retryable as it is. */
function asFailure(err: unknown): unknown {
  if (err instanceof PathEscapeError) {
    return failure(ActionErrorType.PATH_ESCAPE, err.message, { requested: err.requested, reason: err.reason, resolved: err.resolved });
  }
  if (err instanceof SnapshotNotFoundError) return failure(ActionErrorType.SNAPSHOT_NOT_FOUND, err.message, { snapshot: err.snapshot, file: err.file });
  if (err instanceof ChecksumMismatchError) {
    return failure(ActionErrorType.CHECKSUM_MISMATCH, err.message, {
      snapshot: err.snapshot,
      file: err.file,
      stage: err.stage,
      expected: err.expected,
      actual: err.actual,
    });
  }
  if (err instanceof ConfigError) return failure(ActionErrorType.ACL_POLICY_INVALID, err.message);
  if (err instanceof BusReloadError) return failure(ActionErrorType.BUS_RELOAD_FAILED, err.message, undefined, false);
  if (err instanceof ImmutableLogRequestError) {
    return failure(ActionErrorType.LOG_REQUEST_FAILED, err.message, { status: err.status, remoteName: err.remoteName }, err.status < 500);
  }
  return err;
}

// ---- the control plane -------------------------------------------------------------------------


/**
 * Failover: the control plane's workflow was started once and is now closed (terminated, failed,
 * timed out). Its last state is read back by a query on the closed run — Temporal replays its
 * history to answer — and a new run starts from it, so restart counts, crash-loop windows and
 * operator decisions survive ("state snapshot and replay"). Idempotent: the workflow id is fixed
 * and an already running control plane (another step or replica got there first) is used as is.
 */
export async function failOverControlPlane(config: LoadedConfig, temporal: Client, was: string): Promise<WorkflowHandle> {
  const closed = temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
  let state: ControlPlaneStatus | undefined;
  try {
    state = await closed.query(getControlPlaneStatusQuery);
  } catch {
    // A history that cannot be replayed: start afresh; the next boot or restart fills it in.
    state = undefined;
  }
  if (state) {
    state.events.push({ at: new Date().toISOString(), kernel: 'self_healing', what: `control plane failed over: the previous run was ${was}` });
  }
  return temporal.workflow.start<ControlPlaneWorkflow>(CONTROL_PLANE_WORKFLOW, {
    taskQueue: config.temporal.taskQueues.healing,
    workflowId: CONTROL_PLANE_WORKFLOW_ID,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    args: [{ settings: config.controlPlane, ...(state ? { state } : {}) } satisfies ControlPlaneInput],
  });
}

/**
 * Runs a lifecycle command in the control plane: a `kernelCommand` signal, then the status query
 * polled (heartbeating) until the command's result is there. Signals rather than updates: see
 * `KernelCommand` in workflows/control-plane.ts. Idempotent: the request id is the run and step,
 * and the control plane runs a request id once, so a retry only waits for the same result.
 */
async function controlPlaneCommand(config: LoadedConfig, temporal: Client, command: KernelCommand): Promise<KernelRecord> {
  const notRunning = (cause?: unknown): ApplicationFailure =>
    failure(
      ActionErrorType.CONTROL_PLANE_NOT_RUNNING,
      `the control plane (workflow ${CONTROL_PLANE_WORKFLOW_ID}) is not running${cause ? `: ${(cause as Error).message}` : ''}; run \`layer1 up\``,
    );
  let handle: WorkflowHandle = temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
  try {
    const desc = await handle.describe();
    if (desc.status.name !== 'RUNNING') handle = await failOverControlPlane(config, temporal, desc.status.name);
    await handle.signal(kernelCommandSignal, command);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw notRunning(err);
    throw err;
  }
  for (;;) {
    heartbeat({ waitingFor: command.requestId });
    const status = await handle.query(getControlPlaneStatusQuery).catch(() => null);
    const result = status?.commands?.find((c) => c.requestId === command.requestId);
    if (result?.done) {
      if (result.error !== null || result.record === null) {
        // The control plane refused or failed it; the same request id gets the same outcome.
        throw failure(ActionErrorType.KERNEL_UPDATE_FAILED, `the control plane's ${command.op} of ${command.kernel} failed: ${result.error ?? 'no record'}`, { command });
      }
      return result.record;
    }
    await sleepOrCancel(250);
  }
}

function requireReady(rec: KernelRecord): void {
  if (rec.readySince !== null) return;
  const failed = rec.checks.filter((c) => !c.ok);
  throw failure(
    ActionErrorType.KERNEL_NOT_READY,
    `${rec.name} is ${rec.state}: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ') || 'its self-test did not pass'}`,
    { kernel: rec.name, state: rec.state, checks: rec.checks },
  );
}

// ---- activity context: heartbeats and cancellation (no-ops outside an activity, e.g. in scripts) --

function activityContext(): Context | undefined {
  return asyncLocalStorage.getStore();
}

function heartbeat(details?: unknown): void {
  activityContext()?.heartbeat(details);
}

/** Sleeps; inside an activity, rejects with the SDK's CancelledFailure once the activity is cancelled. */
async function sleepOrCancel(ms: number): Promise<void> {
  const ctx = activityContext();
  if (ctx) await ctx.sleep(ms);
  else await sleep(ms);
}

async function throwIfCancelled(): Promise<void> {
  const ctx = activityContext();
  if (ctx?.cancellationSignal.aborted) await ctx.cancelled;
}

/**
 * Heartbeats every second while `work` runs, so a long call (a restart awaited through the control
 * plane, a full log verify, a big snapshot) is not taken for a dead worker by the step's heartbeat timeout.
 */
async function heartbeatWhile<T>(work: Promise<T>): Promise<T> {
  const timer = setInterval(() => heartbeat(), 1_000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

// ---- the bus -----------------------------------------------------------------------------------

function natsName(what: string, name: string): void {
  if (!NATS_NAME.test(name)) {
    throw failure(ActionErrorType.INVALID_PARAMS, `${what} "${name}" is not a valid name (letters, digits, _ and -)`, { [what]: name });
  }
}

function notFound(what: string): (err: unknown) => never {
  return (err) => {
    if (isNotFound(err)) throw failure(ActionErrorType.STREAM_NOT_FOUND, `${what} does not exist`);
    throw err;
  };
}

function isPermissionViolation(err: unknown): boolean {
  for (let e = err as { cause?: unknown } | undefined; e; e = e.cause as typeof e) if (e instanceof PermissionViolationError) return true;
  return false;
}

/** What nats.js says when no stream captures a subject: nobody answers the publish. */
function isNoStream(err: unknown): boolean {
  for (let e = err as { cause?: unknown; name?: string; message?: string } | undefined; e; e = e.cause as typeof e) {
    if (e.name === 'NoRespondersError' || /no responders|jetstream is not enabled/i.test(e.message ?? '')) return true;
  }
  return false;
}

/** One archived message, a JSON line. */
interface ArchivedMessage {
  stream: string;
  consumer: string | null;
  seq: number;
  subject: string;
  time: string;
  headers: Record<string, string[]>;
  /** UTF-8 text, or base64 when the payload is not valid UTF-8. */
  data: string;
  encoding: 'utf8' | 'base64';
}

/**
 * Opens (creating it) an archive of JSON lines and returns the stream sequences it holds. A line
 * torn by a crash mid-write is cut off: its message was never acked or purged, so it comes again.
 */
async function openArchive(file: string): Promise<Set<number>> {
  await mkdir(path.dirname(file), { recursive: true });
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const complete = text.lastIndexOf('\n') + 1;
  if (complete < text.length) await truncate(file, Buffer.byteLength(text.slice(0, complete)));
  const seqs = new Set<number>();
  for (const line of text.slice(0, complete).split('\n')) if (line) seqs.add((JSON.parse(line) as ArchivedMessage).seq);
  return seqs;
}

/** Appends the messages not yet archived and fsyncs before returning: only then may they be acked or purged. */
async function appendArchive(file: string, archived: Set<number>, msgs: JsMsg[], consumer: string | null): Promise<void> {
  const fresh = msgs.filter((m) => !archived.has(m.seq));
  const fh = await open(file, 'a');
  try {
    if (fresh.length > 0) await fh.write(fresh.map((m) => JSON.stringify(archiveLine(m, consumer)) + '\n').join(''));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsyncPath(path.dirname(file));
  for (const m of fresh) archived.add(m.seq);
}

function archiveLine(m: JsMsg, consumer: string | null): ArchivedMessage {
  const text = Buffer.from(m.data).toString('utf8');
  const utf8 = Buffer.from(text, 'utf8').equals(Buffer.from(m.data));
  const headers: Record<string, string[]> = {};
  for (const [k, v] of m.headers ?? []) headers[k] = v;
  return {
    stream: m.info.stream,
    consumer,
    seq: m.seq,
    subject: m.subject,
    time: new Date(Math.floor(m.info.timestampNanos / 1e6)).toISOString(),
    headers,
    data: utf8 ? text : Buffer.from(m.data).toString('base64'),
    encoding: utf8 ? 'utf8' : 'base64',
  };
}

/** A key turned into a file name: readable, and unique by a hash suffix. */
function fileSafe(key: string): string {
  return `${key.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 80)}-${snapshotIdOf(key).slice(5, 17)}`;
}

// ---- the immutable log -------------------------------------------------------------------------

function toJson(value: unknown): JsonValue {
  return JSON.parse(JSON.stringify(value)) as JsonValue;
}

/**
 * The entry of `kind` carrying `key`, searched from the head back to when this activity was first
 * scheduled (an earlier entry cannot be one of its attempts), or an hour outside an activity.
 */
async function findAuditEntry(client: ImmutableLogClient, kind: string, key: string): Promise<LogEntry | null> {
  const scheduled = activityContext()?.info.scheduledTimestampMs;
  // A minute of slack for clock skew between the worker and the log.
  const since = scheduled ? scheduled - 60_000 : Date.now() - AUDIT_LOOKBACK_MS;
  let to = (await client.head()).seq;
  for (let page = 0; page < AUDIT_LOOKBACK_PAGES && to >= 1; page++) {
    const from = Math.max(1, to - LOG_PAGE + 1);
    const { entries } = await client.entries(from, to - from + 1);
    for (const e of [...entries].reverse()) {
      const m = e.data !== null && typeof e.data === 'object' && !Array.isArray(e.data) ? e.data[AUDIT_META_FIELD] : undefined;
      if (e.kind === kind && m !== null && typeof m === 'object' && !Array.isArray(m) && m.key === key) return e;
    }
    if (entries.length === 0 || Date.parse(entries[0].ts) < since) return null;
    to = from - 1;
  }
  return null;
}
