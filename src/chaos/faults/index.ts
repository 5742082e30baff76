/**
 * Fault injectors: real failures, injected into a running Layer 1 stack, for the integration tests
 * and benchmarks of the self-healing playbooks and for chaos drills (see drills.ts for declaring
 * one). Each acts only on the project's own processes (by their process-manager names, never by
 * searching for a program) and only on files inside the state directory.
 *
 * Every injector returns `{ detail, restore, ...facts }`. `restore()` is idempotent and undoes only
 * what is still undone, so it is safe to call after the system already healed itself (the usual
 * case: a test injects, waits for the playbook, then restores in `finally`). Where there is nothing
 * to undo (an append-only log cannot un-append, a killed process is the system's to restart),
 * `restore()` does nothing and says so in its comment.
 *
 * One file per target: processes.ts, log.ts (the immutable log), bus.ts, coding-agent.ts,
 * control-plane.ts, snapshots.ts; bytes.ts holds the byte flips two of them use, types.ts the
 * context, result and error every injector shares and the {@link FAULTS} catalogue.
 */
export { FAULTS, FaultError, type FaultContext, type FaultName, type Injected, type Undo } from './types';
export { crashLoop, killProcess, runawayScript, stallProcess, startRunaway, throttleProcess } from './processes';
export { flipByte, jsonStringByteOffset, pickPayloadByte } from './bytes';
export { corruptSealedLogEntry, fillLogQuota, growLogArchives } from './log';
export { deleteConsumer, enforcedAclDrift, floodStream, forbiddenPublish, tamperBusConfig, withoutPublishAllow } from './bus';
export { corruptModelFile } from './coding-agent';
export { invalidConfigValue, missingPackage, syntaxErrorInCode } from './code';
export { terminateControlPlane } from './control-plane';
export { hideSnapshots } from './snapshots';
