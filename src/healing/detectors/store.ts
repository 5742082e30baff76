/**
 * Dependencies: the store and the bus must answer within `detectors.store.timeoutMs`;
 * `detectors.store.failures` misses in a row make one `dependency_unreachable`. The finding names
 * the managed process behind the dependency, so a playbook can resume or restart it.
 */
import { withDeadline } from '../../deadline';
import { storeConfig } from './store.config';
import { defineDetector, type Finding } from './types';

/** null when `p` settles in time, else why not (its error, or the deadline). */
async function answers(p: Promise<unknown>, ms: number): Promise<string | null> {
  return withDeadline(p, ms).then(
    () => null,
    (err: unknown) => (err as Error).message,
  );
}

export const dependencies = defineDetector({
  name: 'dependencies',
  config: storeConfig,
  kinds: ['dependency_unreachable'],
  /** Misses in a row, per dependency. */
  createState: () => new Map<'store' | 'bus', number>(),
  async check({ config, db, bus }, { timeoutMs, failures }, misses) {
    const probes: Array<{ dependency: 'store' | 'bus'; process: string; embedded: boolean; run: () => Promise<unknown> }> = [
      { dependency: 'store', process: 'store', embedded: config.store.embedded, run: () => db.command({ ping: 1 }) },
      { dependency: 'bus', process: 'bus', embedded: config.bus.embedded, run: () => bus.flush() },
    ];
    const out: Array<Finding<'dependency_unreachable'>> = [];
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
          text: `the ${p.dependency} did not answer: ${error}`,
          data: {
            dependency: p.dependency,
            misses: n,
            ...(p.embedded ? { process: p.process } : {}),
            // The embedded bus IS the message_bus kernel's process: its outage is that kernel's
            // evidence (process watch, liveness probe), which starts its one remedy
            // (message_bus_restart_drain); what this probe sees is a consequence (see the seam).
            ...(p.dependency === 'bus' && p.embedded ? { consequenceOf: 'message_bus' } : {}),
          },
        });
      }),
    );
    return out;
  },
});
