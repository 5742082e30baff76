/**
 * Waiting for the incidents of earlier faults to be over before a drill: a drill's evidence with
 * the same signature as an incident still open is attached to that incident (one incident per
 * fault), so the drill would measure the earlier incident's progress instead of its own.
 */
import type { Db } from 'mongodb';
import { INCIDENTS_COLLECTION } from '../../src/clients/collections';
import { INCIDENT_STATE_FILTERS } from '../../src/incidents/format';

/**
 * Resolves once no incident is open, diagnosing, remedying or verifying, or after `timeoutMs`
 * (then with how many still are: the caller says so and goes on).
 */
export async function incidentsSettled(db: Db, timeoutMs: number): Promise<number> {
  const busy = () => db.collection(INCIDENTS_COLLECTION).countDocuments({ state: { $in: INCIDENT_STATE_FILTERS.open } });
  const deadline = Date.now() + timeoutMs;
  let n = await busy();
  while (n > 0 && Date.now() < deadline) {
    // Each count scans the incidents on FerretDB: not more often than this.
    await new Promise((r) => setTimeout(r, 3_000));
    n = await busy();
  }
  return n;
}
