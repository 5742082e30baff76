/** What every fault injector shares: its context, its result, its error, and the catalogue of injectors. */
import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import type { LoadedConfig } from '../../config/load';
import type { ProcessManager } from '../../process/manager';

export interface FaultContext {
  config: LoadedConfig;
  pm: ProcessManager;
  db?: Db;
  temporal?: Client;
  /**
   * Called with what would undo the next act, BEFORE the act (a chaos drill stores it in the store),
   * so a process other than the one that injected can roll the fault back: the drill's worker may
   * be killed between the act and its `restore()` (src/chaos/harness/rollback.ts applies these).
   */
  journal?: (undo: Undo) => Promise<void>;
}

/**
 * What undoes one act of an injector, as plain data. Each is applied only while the act's effect
 * is still there (the system may have repaired it already), so applying one twice is harmless.
 */
export type Undo =
  /** Put `original` back at `offset` while the byte there is still `flipped`. */
  | { kind: 'unflip'; file: string; offset: number; original: number; flipped: number }
  /** Write `original` (base64) back while the file's SHA-256 is still `brokenSha256`. */
  | { kind: 'write_back'; file: string; original: string; brokenSha256: string }
  /** Move `moved` back to `dir` while `dir` is missing; then remove `moved`. */
  | { kind: 'move_back'; dir: string; moved: string }
  /** SIGCONT `pid` (if it is still the process started at `ticks`). */
  | { kind: 'resume'; pid: number; ticks: number | null; process: string }
  /** Stop the managed process `name` (a process the fault started). */
  | { kind: 'stop_process'; name: string }
  /** Render nats.conf from the policy and reload the bus if the file differs. */
  | { kind: 'rerender_bus' }
  /** Reload the bus from nats.conf as it is (what the bus enforces may differ from the file). */
  | { kind: 'reload_bus' };

/** What every injector returns, plus its own facts. */
export type Injected<T extends object = object> = T & {
  /** One line saying what was done, for test output and drill reports. */
  detail: string;
  /** Undoes what is still undone; idempotent. */
  restore: () => Promise<void>;
};

/** The fault could not be injected (its target is missing, or not in the state it needs). */
export class FaultError extends Error {
  override name = 'FaultError';
}

/** One line per injector, for docs and drill listings. */
export const FAULTS = {
  killProcess: 'signal a managed process (SIGKILL by default); the control plane restarts it',
  stallProcess: 'SIGSTOP a managed process for a while, then SIGCONT: alive but unresponsive',
  throttleProcess: 'alternate SIGSTOP and SIGCONT on a managed process: real latency without an outage',
  corruptSealedLogEntry: "flip one byte inside an entry's payload in a sealed segment of the immutable log",
  fillLogQuota: "append bulky entries to the immutable log until its usage reaches a percentage of its quota",
  growLogArchives: "append incompressible entries and archive them until the log's archives exceed a size",
  floodStream: 'publish a burst of messages to a JetStream subject, leaving a backlog on its durable consumers',
  deleteConsumer: 'delete a durable JetStream consumer (default LAYER1_EVENTS/self_healing_triggers)',
  forbiddenPublish: "connect to the bus as a kernel user and publish where its ACL forbids: a permissions violation",
  enforcedAclDrift: "make the bus enforce a kernel user without one of its allowed publishes (edit nats.conf, reload, put the file back unreloaded), then publish there as that user: refused",
  tamperBusConfig: "edit the rendered nats.conf so control_plane may no longer publish system.control, and reload it",
  corruptModelFile: "flip one byte of the coding agent's model file (models/fixers.json)",
  syntaxErrorInCode: 'insert a line that does not parse into a compiled file under dist/ (the immutable log server), and kill the process that loads it',
  missingPackage: 'move a package out of node_modules (diff, which the coding agent loads), and kill the process that requires it',
  invalidConfigValue: "set workers.codingAgent.replicas in the stack's config file to a value that does not validate, and kill the coding agent",
  startRunaway: 'start a managed process that burns a CPU core or holds `mb` MB of resident memory (default: 150 MB over detectors.memory.rssMb)',
  terminateControlPlane: 'terminate the control-plane workflow (layer1-control-plane)',
  hideSnapshots: 'move every snapshot out of snapshots/ so none is fresh',
  crashLoop: 'kill -9 a managed process repeatedly, each time after the control plane restarted it',
} as const;

export type FaultName = keyof typeof FAULTS;

export const MiB = 1024 * 1024;
