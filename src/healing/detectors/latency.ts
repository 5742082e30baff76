/**
 * Latency, from the liveness probes: a kernel process whose successful probes take
 * `detectors.latency.thresholdMs` or more `samples` times in a row has a latency spike (reported
 * once per run of slow probes). It has no period of its own: the trigger monitor hands it each
 * successful probe's round trip, on the probes' period.
 */
import type { KernelName } from '../../domain/kernels';
import type { DetectorSettings } from './define';
import { latencyConfig } from './latency.config';
import type { Finding } from './types';

export interface ProbeSample {
  kernel: KernelName;
  process: string;
  pid: number;
  /** The probe's round trip. */
  ms: number;
  at: number;
}

export const latencySpikes = {
  name: 'latency',
  config: latencyConfig,
  kinds: ['latency_spike'] as const,
  /** Slow probes in a row, per process and pid. */
  createState: () => new Map<string, number>(),
  /** A finding on the `samples`-th slow probe in a row; null otherwise. */
  observe(slow: Map<string, number>, { thresholdMs, samples }: DetectorSettings<typeof latencyConfig>, p: ProbeSample): Finding<'latency_spike'> | null {
    const key = `${p.process}:${p.pid}`;
    if (p.ms < thresholdMs) {
      slow.delete(key);
      return null;
    }
    const n = (slow.get(key) ?? 0) + 1;
    slow.set(key, n);
    if (n !== samples) return null;
    return {
      kind: 'latency_spike',
      kernel: p.kernel,
      process: p.process,
      pid: p.pid,
      key: `${key}:${p.at}`,
      event: true,
      detail: `${n} liveness probes of ${p.process} in a row took ${thresholdMs} ms or more (last ${p.ms} ms)`,
      data: { latencyMs: p.ms, thresholdMs },
    };
  },
};
