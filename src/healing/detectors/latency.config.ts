/** Configuration of the latency detector (./latency.ts). Imports zod only: see ./define.ts. */
import { z } from 'zod';
import { detectorConfig, ms } from './define';

export const latencyConfig = detectorConfig({
  key: 'latency',
  describe: "latency: the round trip of each kernel's successful liveness probes (it runs with the probes, on their period)",
  shape: {
    thresholdMs: ms(250, 1).describe('A liveness probe slower than this is a slow sample'),
    samples: z.number().int().min(1).default(3).describe('Slow samples in a row that make a latency spike'),
    relative: z.number().min(0).default(2).describe("A slow sample must also be this many times the median of the other processes' latest probes (with two or more probed in the last minute): when all answer slowly the machine is busy, not one process degraded. 0: the threshold alone"),
  },
});
