/** Configuration of the immutable log's detectors (./immutable-log.ts). Imports zod only: see ./define.ts. */
import { z } from 'zod';
import { detectorConfig, everyMs, ms } from './define';

export const logIntegrityConfig = detectorConfig({
  key: 'logIntegrity',
  describe: "log_integrity: an incremental verify of the immutable log's hash chain, with a rolling re-check of its sealed segments",
  shape: {
    everyMs: ms(10000, 200).describe("How often the immutable log's new entries are verified and the next sealed segments re-checked"),
    sweepSegmentsPerRound: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(4)
      .describe(
        'Sealed or archived segments re-checked (SHA-256 against the manifest) per round: each is re-read at least once every ceil(segments / this) rounds',
      ),
  },
});

export const logQuotaConfig = detectorConfig({
  key: 'logQuota',
  describe: "log_quota: the immutable log's usage against its quota",
  shape: {
    percent: z.number().min(1).max(100).default(90).describe('Alert when the log uses this share of its quota'),
    everyMs: everyMs(2000),
  },
});
