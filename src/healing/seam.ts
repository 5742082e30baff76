/**
 * The one seam where "kernel K is unwell, evidence E" enters Layer 1. Everything that notices a
 * failure (the trigger monitor's process watch, liveness probes and detectors, events on the bus)
 * calls `reportEvidence`. Here, in order:
 *  1. evidence about the target of a declared chaos drill is tagged with the drill's id
 *     (`data.drill_id`), and otherwise takes the path a real fault takes (when the store is too slow
 *     to say in time, the tag is added after step 5);
 *  2. the evidence is recorded in the store — always, matched or not, never dropped. The record is
 *     keyed on the evidence id, so the second replica reporting the same fault finds it there;
 *  3. lifecycle evidence (exited, liveness_failed, not_ready) goes to the control plane, which
 *     restarts the process;
 *  4. evidence marked as the consequence of a kernel's outage (`data.consequenceOf`) stops here:
 *     recorded, not dispatched (one fault, one remedy);
 *  5. new evidence opens the incident of its signature (./incidents.ts), or is attached to the one
 *     open; a process death no playbook names goes to the dispatcher as before, which starts the matching playbook (or folds it into the one running). What was done
 *     is added to the record. The knowledge base counts the occurrence.
 * The store may be the thing that is down: recording waits at most `detectors.store.timeoutMs`,
 * and dispatch goes ahead without it (Temporal folds duplicates by workflow id); the record is then
 * tried again in the background until the store takes it (`recordLate`).
 */
import type { Client } from '@temporalio/client';
import type { Collection, Db } from 'mongodb';
import type { LoadedConfig } from '../config/load';
import type { KernelUnwell } from '../domain/kernels';
import { CONTROL_PLANE_WORKFLOW_ID, kernelUnwellSignal } from '../../contracts/control-plane';
import { activeDrill, type DrillDeclaration } from '../chaos/drills';
import { within } from '../deadline';
import { dispatch, type DispatchResult } from './dispatcher';
import { errorTypeOf, fromKernelUnwell, OBSERVED_KINDS, REPAIRED_KINDS, toKernelUnwell, type Evidence } from './evidence';
import { EVIDENCE_COLLECTION } from '../clients/collections';
import { KnowledgeBase } from '../knowledge/kb';
import { openIncident, opensIncident, type IncidentStart } from './incidents';


export interface SeamDeps {
  config: LoadedConfig;
  db: Db;
  temporal: Client;
  /** Where the playbooks are (default playbooks/). */
  playbookDir?: string;
}

export interface SeamReport {
  /** False when the other replica recorded this evidence first; null when the store did not answer. */
  recordedFirst: boolean | null;
  /** The control plane was signalled (lifecycle evidence only). */
  controlPlane: 'signalled' | 'not_running' | 'not_lifecycle';
  /**
   * `repaired`: the evidence says the fault is already repaired (REPAIRED_KINDS): nothing to dispatch.
   * `consequence`: the evidence follows from a kernel's own outage, which its own evidence remedies.
   * `observed`: an external server's outage (OBSERVED_KINDS): the operator's, nothing to dispatch.
   */
  dispatch: DispatchResult | IncidentStart | { outcome: 'duplicate' | 'disabled' | 'repaired' | 'observed' } | { outcome: 'consequence'; of: string };
}

export type StoredEvidence = Omit<Evidence, 'id'> & { _id: string; firstSeen: Date; observers: string[]; dispatch?: unknown };

export async function reportEvidence(deps: SeamDeps, evidence: Evidence): Promise<SeamReport> {
  const { config, db, temporal } = deps;
  const storeMs = config.detectors.store.timeoutMs;
  const coll = db.collection<StoredEvidence>(EVIDENCE_COLLECTION);

  let e = evidence;
  const target = { kernel: e.kernel, process: e.process };
  // Tagged, not diverted: a drill's evidence takes the real fault's path (incident, remedy), and
  // the drill finds it by its id (activities/chaos.ts). `undefined`: the store did not say in time.
  const drill = e.kernel || e.process ? await within(activeDrill(db, target).catch(() => null), storeMs) : null;
  if (drill) e = { ...e, data: { ...e.data, drill: drill.card, drill_id: drill._id } };

  // Idempotent: keyed on the evidence id, which both replicas compute alike.
  const { id, ...rest } = e;
  const recorded = await within(
    coll
      .updateOne({ _id: id }, { $setOnInsert: { ...rest, firstSeen: new Date(e.at) }, $addToSet: { observers: e.observer } }, { upsert: true })
      .then((r) => r.upsertedCount === 1)
      .catch(() => undefined),
    storeMs,
  );
  const recordedFirst = recorded === undefined ? null : recorded;


  let controlPlane: SeamReport['controlPlane'] = 'not_lifecycle';
  const unwell = toKernelUnwell(e);
  if (unwell) {
    try {
      await temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID).signal(kernelUnwellSignal, unwell);
      controlPlane = 'signalled';
    } catch (err) {
      // No control plane yet (before the first boot, or it is lost): the evidence stays recorded,
      // and the dispatcher below may start the playbook that brings it back.
      if ((err as Error).name !== 'WorkflowNotFoundError') throw err;
      controlPlane = 'not_running';
    }
  }

  // Seen before: dispatched already, unless the first report never got that far (its observer died
  // or its dispatch failed). When the store cannot say, it counts as dispatched.
  const dispatchedBefore = async (): Promise<boolean> =>
    (await within(coll.findOne({ _id: id }).then((d) => d?.dispatch !== undefined, () => true), storeMs)) ?? true;

  let result: SeamReport['dispatch'];
  const consequenceOf = typeof e.data.consequenceOf === 'string' ? e.data.consequenceOf : null;
  if (!config.detectors.dispatch) result = { outcome: 'disabled' };
  // A consequence of a kernel's own outage (the embedded bus unreachable while the message_bus
  // kernel's process is down or restarting): recorded, never a second remedy for the same fault.
  // The kernel's own evidence (exited, liveness_failed) starts the one remedy.
  else if (consequenceOf) {
    result = { outcome: 'consequence', of: consequenceOf };
    // Idempotent: both replicas set the same outcome on the one record.
    await within(coll.updateOne({ _id: e.id }, { $set: { dispatch: { ...result, at: new Date() } } }).catch(() => undefined), storeMs);
  } else if (REPAIRED_KINDS.includes(e.kind) || OBSERVED_KINDS.includes(e.kind)) {
    result = { outcome: REPAIRED_KINDS.includes(e.kind) ? 'repaired' : 'observed' };
    await within(
      coll.updateOne({ _id: e.id }, { $set: { dispatch: { ...result, at: new Date() } } }).catch(() => undefined),
      storeMs,
    );
  } else if (recordedFirst === false && (await dispatchedBefore())) result = { outcome: 'duplicate' };
  else {
    // Signalling the incident, or dispatching, again is safe: the incident open for this signature,
    // or the run going for this playbook and kernel, folds it in.
    result = opensIncident(config, e, deps.playbookDir) ? await openIncident(deps, e) : await dispatch(deps, e);
    await within(
      coll.updateOne({ _id: e.id }, { $set: { dispatch: { ...result, at: new Date() } } }).catch(() => undefined),
      storeMs,
    );
  }
  // After the dispatch: counting the occurrence is not on the remedy's path.
  if (recordedFirst !== false) {
    // An occurrence for the knowledge base: idempotent on the evidence id, so observed also when the
    // record did not answer in time (then it cannot say whether the other replica was first).
    const kb = new KnowledgeBase(db, config.incidents.knowledge);
    await within(
      kb.observe({ signature: e.signature, template: e.template, kernel: e.kernel, errorType: errorTypeOf(e.kind), text: e.text, at: e.at, evidenceId: e.id }).catch(() => undefined),
      storeMs,
    );
  }
  // Never dropped: a record the store did not take in time is tried again in the background, and
  // tagged once it is there (tagged before, the update would find no record and the tag would be lost).
  if (recordedFirst === null) void tagLate(db, e, drill, recordedFirst, recordLate(coll, e, result));
  else await tagLate(db, e, drill, recordedFirst, Promise.resolve(true));
  return { recordedFirst, controlPlane, dispatch: result };
}

/** How long a record the store did not take in time is tried again, and how often. */
const LATE_RECORD_MS = 180_000;
const LATE_RECORD_EVERY_MS = 1_000;

/**
 * The record of evidence the store did not take in time (a stopped or slow store is itself a
 * fault this seam reports), tried again until it lands or LATE_RECORD_MS pass. The first try may
 * never land, even once the store is back: when the driver's heartbeat to a stopped server times
 * out, it interrupts the operations in flight, and fails the later ones when server selection
 * times out, unsent. Idempotent: the same upsert as the first, keyed on the evidence id, with this
 * replica's dispatch outcome (never 'duplicate': that needs a record seen first). Never throws; not
 * awaited, so no detector waits on it. A drill's tag that could not be looked up in time is added
 * by `tagLate` once this record has landed.
 */
export async function recordLate(coll: Collection<StoredEvidence>, e: Evidence, dispatched: SeamReport['dispatch'] | undefined, budgetMs = LATE_RECORD_MS): Promise<boolean> {
  const { id, ...rest } = e;
  const deadline = Date.now() + budgetMs;
  while (Date.now() < deadline) {
    const landed = await within(
      coll
        .updateOne(
          { _id: id },
          {
            $setOnInsert: { ...rest, firstSeen: new Date(e.at) },
            $addToSet: { observers: e.observer },
            ...(dispatched ? { $set: { dispatch: { ...dispatched, at: new Date() } } } : {}),
          },
          { upsert: true },
        )
        .then(() => true, () => false),
      LATE_RECORD_EVERY_MS * 10,
    );
    if (landed) return true;
    await new Promise((r) => setTimeout(r, LATE_RECORD_EVERY_MS));
  }
  return false;
}

/** How long a drill's tag may still be looked up after the remedy's path was taken. */
const LATE_TAG_MS = 15_000;

/**
 * The active drill on the target, asked again each second for up to LATE_TAG_MS while the store
 * fails the lookup (a driver whose heartbeat timed out fails it at once, unsent); null when none.
 */
async function lookUpDrill(db: Db, target: Parameters<typeof activeDrill>[1]): Promise<DrillDeclaration | null> {
  const deadline = Date.now() + LATE_TAG_MS;
  while (Date.now() < deadline) {
    const found = await within(activeDrill(db, target).catch(() => undefined), deadline - Date.now());
    if (found !== undefined) return found;
    await new Promise((r) => setTimeout(r, 1_000));
  }
  return null;
}

/**
 * The drill's tag on a record that may lack it: when the lookup above timed out (a store slow
 * under a drill's load), or when the other replica recorded the evidence first without it. After
 * the dispatch, so a slow store delays no remedy. `recorded` settles when the record exists (or
 * false when it never landed): the drill is looked up meanwhile, while it is still active, and the
 * tag set after. Never throws. Idempotent: sets the tag only where missing.
 */
async function tagLate(
  db: Db,
  e: Evidence,
  drill: DrillDeclaration | null | undefined,
  recordedFirst: boolean | null,
  recorded: Promise<boolean>,
): Promise<void> {
  if (drill === null || (drill && recordedFirst === true)) return;
  const found = drill ?? (await lookUpDrill(db, { kernel: e.kernel, process: e.process }));
  if (!found || !(await recorded)) return;
  await within(
    db.collection<StoredEvidence>(EVIDENCE_COLLECTION).updateOne({ _id: e.id, 'data.drill_id': { $exists: false } }, { $set: { 'data.drill': found.card, 'data.drill_id': found._id } }).catch(() => undefined),
    LATE_TAG_MS,
  );
}

/**
 * Lifecycle evidence from the process watch and liveness probes (the kernels issue's seam). `text`
 * is what it came from (see `fromKernelUnwell`): the detail when absent, none (the fixed text) when null.
 */
export async function reportUnwell(deps: SeamDeps, u: KernelUnwell, text?: string | null): Promise<SeamReport> {
  return reportEvidence(deps, fromKernelUnwell(u, {}, text));
}
