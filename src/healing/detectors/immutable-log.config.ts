/** Configuration of the immutable log's detectors (./immutable-log.ts). Imports zod only: see ./define.ts. */
import { z } from 'zod';
import { detectorConfig, everyMs, ms } from './define';

export const logIntegrityConfig = detectorConfig({
  key: 'logIntegrity',
  describe: "log_integrity: a full verify of the immutable log's hash chain",
  shape: { everyMs: ms(10000, 200).describe('How often the whole chain of the immutable log is verified') },
});

export const logQuotaConfig = detectorConfig({
  key: 'logQuota',
  describe: "log_quota: the immutable log's usage against its quota",
  shape: {
    percent: z.number().min(1).max(100).default(90).describe('Alert when the log uses this share of its quota'),
    everyMs: everyMs(2000),
  },
});
