/**
 * Declared chaos drills. A drill says, before it injects its fault, which kernel it targets, with
 * which failure card, until when. Evidence about that kernel seen meanwhile is signed
 * `chaos_<card>` by the seam, so the drill's own playbook (micro_chaos_*) runs rather than the
 * repair for a real fault, and the ledger can tell drills from incidents.
 *
 * FerretDB v1 has no TTL indexes: expired declarations are simply ignored (and removed by
 * `endDrill`, or by a later drill of the same id).
 */
import type { Db } from 'mongodb';
import { DRILLS_COLLECTION } from '../clients/collections';
import type { KernelName } from '../domain/kernels';


export interface DrillDeclaration {
  _id: string;
  kernel: KernelName;
  card: string;
  startedAt: Date;
  until: Date;
}

/** Declares a drill. Idempotent: keyed on the drill id. */
export async function declareDrill(db: Db, d: { id: string; kernel: KernelName; card: string; durationMs: number }): Promise<DrillDeclaration> {
  const doc: DrillDeclaration = { _id: d.id, kernel: d.kernel, card: d.card, startedAt: new Date(), until: new Date(Date.now() + d.durationMs) };
  await db.collection<DrillDeclaration>(DRILLS_COLLECTION).replaceOne({ _id: d.id }, doc, { upsert: true });
  return doc;
}

export async function endDrill(db: Db, id: string): Promise<void> {
  await db.collection<DrillDeclaration>(DRILLS_COLLECTION).deleteOne({ _id: id });
}

/** The drill running against `kernel` now, if any (the latest declared). */
export async function activeDrill(db: Db, kernel: KernelName): Promise<DrillDeclaration | null> {
  const [d] = await db
    .collection<DrillDeclaration>(DRILLS_COLLECTION)
    .find({ kernel, until: { $gt: new Date() } })
    .sort({ startedAt: -1 })
    .limit(1)
    .toArray();
  return d ?? null;
}
