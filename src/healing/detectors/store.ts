/**
 * Dependencies: the store and the bus must answer within `detectors.store.timeoutMs`;
 * `detectors.store.failures` misses in a row make one `dependency_unreachable`. The finding names
 * the managed process behind the dependency, so a playbook can resume or restart it.
 */
import { withDeadline } from '../../deadline';
import type { Detector, Finding } from './types';

/** null when `p` settles in time, else why not (its error, or the deadline). */
async function answers(p: Promise<unknown>, ms: number): Promise<string | null> {
  return withDeadline(p, ms).then(
    () => null,
    (err: unknown) => (err as Error).message,
  );
}

const misses = new Map<string, number>();

export const dependencies: Detector = {
  name: 'dependencies',
  everyMs: () => 1_000,
  async check({ config, db, bus }): Promise<Finding[]> {
    const { timeoutMs, failures } = config.detectors.store;
    const probes: Array<{ dependency: 'store' | 'bus'; process: string; embedded: boolean; run: () => Promise<unknown> }> = [
      { dependency: 'store', process: 'store', embedded: config.store.embedded, run: () => db.command({ ping: 1 }) },
      { dependency: 'bus', process: 'bus', embedded: config.bus.embedded, run: () => bus.flush() },
    ];
    const out: Finding[] = [];
    await Promise.all(
      probes.map(async (p) => {
        const error = await answers(p.run(), timeoutMs);
        const n = error === null ? 0 : (misses.get(p.dependency) ?? 0) + 1;
        misses.set(p.dependency, n);
        if (n < failures) return;
        out.push({
          kind: 'dependency_unreachable',
          kernel: null,
          // Only an embedded dependency is a process of ours that a playbook may signal.
          process: p.embedded ? p.process : null,
          key: p.dependency,
          detail: `the ${p.dependency} did not answer ${n} times in a row: ${error}`,
          data: { dependency: p.dependency, misses: n, ...(p.embedded ? { process: p.process } : {}) },
        });
      }),
    );
    return out;
  },
};
