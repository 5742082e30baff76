/**
 * What every action activity shares: who runs it ({@link ActionMeta}), the clients it gets
 * ({@link ActionDeps}), the catalogue of failure types, the idempotency key, and {@link action}, the
 * wrapper that checks params and output against the action's schemas and turns domain errors into
 * typed ApplicationFailures.
 */
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Db } from 'mongodb';
import { z } from 'zod';
import type { LoadedConfig } from '../../src/config/load';
import { ConfigError } from '../../src/config/load';
import type { ProcessManager } from '../../src/process/manager';
import { ACTIONS, type ActionName, type ActionOutputOf, type ActionParamsOf } from '../../src/playbooks/actions';
import { PathEscapeError } from '../../src/playbooks/paths';
import { ChecksumMismatchError, SnapshotNotFoundError } from '../../src/snapshots/store';
import type { VerificationCheck } from '../../src/verification/loop';
import { ImmutableLogRequestError } from '../../kernels/immutable-log/client';
import { BusReloadError } from '../../kernels/message-bus/errors';
import { heartbeatWhile } from './context';

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
  /** wait_control_plane_answers: its status query went unanswered (in time) until the step's timeout. */
  CONTROL_PLANE_UNRESPONSIVE: 'ControlPlaneUnresponsive',
  /** The control plane refused the update, or the update failed. */
  KERNEL_UPDATE_FAILED: 'KernelUpdateFailed',
  /** kill_process: the process manager knows no process of that name. */
  UNKNOWN_PROCESS: 'UnknownProcess',
  /** kill_process: the process still ran after SIGTERM, its grace, and SIGKILL. */
  PROCESS_SURVIVED: 'ProcessSurvived',
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
  /** wait_consumers_delivered with `require`: a consumer is missing, has no reader, or its backlog was not delivered in time (retryable). */
  CONSUMERS_NOT_DELIVERED: 'ConsumersNotDelivered',
  /** drain_queue: the consumer has a reader (or a kernel must keep reading it) and allowReader is not set. */
  CONSUMER_HAS_READER: 'ConsumerHasReader',
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
  ActionErrorType.CONSUMER_HAS_READER,
];

/** Each action's parameters and output, from its zod schemas in src/playbooks/actions.ts. */
export type ActionParams = { [N in ActionName]: ActionParamsOf<N> };
export type ActionOutputs = { [N in ActionName]: ActionOutputOf<N> };

export type ActionActivity<N extends ActionName> = (params: ActionParams[N], meta: ActionMeta) => Promise<ActionOutputs[N]>;
export type ActionActivities = { [N in ActionName]: ActionActivity<N> };

/** What a group factory returns: the activities of some of the actions. */
export type ActionGroup<N extends ActionName> = Pick<ActionActivities, N>;

export function idempotencyKey(meta: Pick<ActionMeta, 'workflowId' | 'runId' | 'stepId'>): string {
  // The run id too: the dispatcher reuses a workflow id for each new incident of a playbook and
  // kernel, and a new run must act again rather than find the last run's effects.
  return `${meta.workflowId}:${meta.runId}:${meta.stepId}`;
}

/**
 * Wraps an implementation: params checked against the action's schema (defaults applied), output
 * checked against its output schema, domain errors turned into typed ApplicationFailures.
 */
export function action<N extends ActionName>(name: N, impl: ActionActivity<N>): ActionActivity<N> {
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

export function failure(type: ActionErrorType, message: string, details?: Record<string, unknown>, nonRetryable = true): ApplicationFailure {
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
