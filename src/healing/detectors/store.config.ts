/**
 * Configuration of the dependencies detector (./store.ts). Imports zod only: see ./define.ts.
 * The seam (../seam.ts) bounds its own store calls by the same `timeoutMs`.
 */
import { z } from 'zod';
import { detectorConfig, everyMs, ms } from './define';

export const storeConfig = detectorConfig({
  key: 'store',
  describe: 'dependencies: the store and the bus answer in time',
  shape: {
    timeoutMs: ms(1500, 100).describe('A store ping slower than this fails'),
    failures: z.number().int().min(1).default(2).describe('Failed pings in a row that make the store unreachable'),
    everyMs: everyMs(1000),
  },
});
