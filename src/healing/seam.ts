/**
 * The one seam where "kernel K is unwell, evidence E" enters Layer 1. Everything that notices a
 * failure (the trigger monitor's process watch and liveness probes, events on the bus) calls
 * `reportUnwell`; incidents and playbook dispatch will sit behind it. Evidence is always
 * recorded, never dropped, and then handed to the control plane when one is running.
 */
import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import type { KernelUnwell } from '../domain/kernels';
import { CONTROL_PLANE_WORKFLOW_ID, kernelUnwellSignal } from '../../workflows/control-plane';

export const EVIDENCE_COLLECTION = 'evidence';

export interface SeamDeps {
  db: Db;
  temporal: Client;
}

export type SeamOutcome = 'signalled' | 'recorded';

export async function reportUnwell({ db, temporal }: SeamDeps, e: KernelUnwell): Promise<SeamOutcome> {
  // Idempotent: both healing replicas may see the same death; the id folds them into one record.
  const id = `${e.process}:${e.pid ?? 'none'}:${e.reason}`;
  await db.collection<{ _id: string }>(EVIDENCE_COLLECTION).updateOne(
    { _id: id },
    { $setOnInsert: { ...e, firstSeen: new Date(e.at) }, $addToSet: { observers: e.observer } },
    { upsert: true },
  );
  try {
    await temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID).signal(kernelUnwellSignal, e);
    return 'signalled';
  } catch (err) {
    // No control plane yet (before the first boot): the evidence stays recorded for whoever looks.
    if ((err as Error).name === 'WorkflowNotFoundError') return 'recorded';
    throw err;
  }
}
