/** Configuration of the snapshot-freshness detector (./snapshots.ts). Imports zod only: see ./define.ts. */
import { detectorConfig, everyMs, ms } from './define';

export const snapshotsConfig = detectorConfig({
  key: 'snapshots',
  describe: 'stale_snapshots: the newest snapshot is recent enough',
  shape: {
    maxAgeMs: ms(86_400_000, 1000).describe('The newest snapshot may be this old'),
    everyMs: everyMs(10000),
  },
});
