/**
 * Latency, from the liveness probes: a kernel process whose successful probes take
 * `detectors.latency.thresholdMs` or more `samples` times in a row has a latency spike (reported
 * once per run of slow probes). It has no period of its own: the trigger monitor hands it each
 * successful probe's round trip, on the probes' period.
 *
 * A spike is one process's: a probe counts as slow only when it is also `relative` times the
 * median of the other processes' latest probes (when at least two were probed in the last
 * minute). When every process answers slowly, the machine is busy, and replacing one process (the
 * remedy) would only take it away from its clients: a CI run on 2 cores saw the bus restarted
 * for probes of 195 ms while earlier incidents' project checks held both cores.
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

export interface LatencyState {
  slow: Map<string, number>;
  latest: Map<string, { ms: number; at: number }>;
}

/** How recent another process's probe must be to say how fast the machine answers now. */
const PEER_WINDOW_MS = 60_000;

/** The median of the other processes' recent probes; null with fewer than two. */
function peersMedian(latest: LatencyState['latest'], p: ProbeSample): number | null {
  const peers = [...latest].filter(([proc, s]) => proc !== p.process && p.at - s.at <= PEER_WINDOW_MS).map(([, s]) => s.ms).sort((a, b) => a - b);
  if (peers.length < 2) return null;
  const mid = Math.floor(peers.length / 2);
  return peers.length % 2 ? peers[mid] : Math.round((peers[mid - 1] + peers[mid]) / 2);
}

export const latencySpikes = {
  name: 'latency',
  config: latencyConfig,
  kinds: ['latency_spike'] as const,
  /** Slow probes in a row, per process and pid; the latest probe of each process. */
  createState: (): LatencyState => ({ slow: new Map(), latest: new Map() }),
  /** A finding on the `samples`-th slow probe in a row; null otherwise. */
  observe({ slow, latest }: LatencyState, { thresholdMs, samples, relative }: DetectorSettings<typeof latencyConfig>, p: ProbeSample): Finding<'latency_spike'> | null {
    const key = `${p.process}:${p.pid}`;
    latest.set(p.process, { ms: p.ms, at: p.at });
    const others = peersMedian(latest, p);
    if (p.ms < thresholdMs || (relative > 0 && others !== null && p.ms < relative * others)) {
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
      detail: `${n} liveness probes of ${p.process} in a row took ${thresholdMs} ms or more (last ${p.ms} ms${others === null ? '' : `; the other processes' median ${others} ms`})`,
      data: { latencyMs: p.ms, thresholdMs, ...(others === null ? {} : { othersMedianMs: others }) },
    };
  },
};
