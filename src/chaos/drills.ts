/**
 * Declared chaos drills. A drill says, before it injects its fault, which kernel or managed process
 * it targets, with which failure card, until when. Evidence about that target seen meanwhile is
 * tagged with the drill's id by the seam (`data.drill_id`) and takes the real fault's path: the
 * drill's gates find it by that tag, and the ledger can tell drills from incidents.
 *
 * FerretDB v1 has no TTL indexes: expired declarations are simply ignored (and removed by
 * `endDrill`, or by a later drill of the same id).
 */
import type { Db } from 'mongodb';
import { DRILLS_COLLECTION } from '../clients/collections';
import type { KernelName } from '../domain/kernels';


export interface DrillDeclaration {
  _id: string;
  kernel: KernelName | null;
  /** The managed process targeted, for a card that targets one (a runaway the drill starts). */
  process?: string | null;
  card: string;
  startedAt: Date;
  until: Date;
}

/** Declares a drill. Idempotent: keyed on the drill id. */
export async function declareDrill(db: Db, d: { id: string; kernel: KernelName | null; process?: string | null; card: string; durationMs: number }): Promise<DrillDeclaration> {
  const doc: DrillDeclaration = { _id: d.id, kernel: d.kernel, process: d.process ?? null, card: d.card, startedAt: new Date(), until: new Date(Date.now() + d.durationMs) };
  await db.collection<DrillDeclaration>(DRILLS_COLLECTION).replaceOne({ _id: d.id }, doc, { upsert: true });
  return doc;
}

export async function endDrill(db: Db, id: string): Promise<void> {
  await db.collection<DrillDeclaration>(DRILLS_COLLECTION).deleteOne({ _id: id });
}

/** The drill running against the kernel or the process now, if any (the latest declared). */
export async function activeDrill(db: Db, target: { kernel: KernelName | null; process: string | null }): Promise<DrillDeclaration | null> {
  const or = [...(target.kernel ? [{ kernel: target.kernel }] : []), ...(target.process ? [{ process: target.process }] : [])];
  if (or.length === 0) return null;
  const [d] = await db
    .collection<DrillDeclaration>(DRILLS_COLLECTION)
    .find({ $or: or, until: { $gt: new Date() } })
    .sort({ startedAt: -1 })
    .limit(1)
    .toArray();
  return d ?? null;
}
