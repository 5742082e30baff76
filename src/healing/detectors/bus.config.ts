/** Configuration of the message bus's detectors (./bus.ts). Imports zod only: see ./define.ts. */
import { z } from 'zod';
import { detectorConfig, everyMs, ms } from './define';

export const aclViolationsConfig = detectorConfig({
  key: 'aclViolations',
  describe: "acl_violations: refused publishes and subscribes in the embedded bus's own log; on an external bus, those Layer 1's own connections were refused (logs/bus-violations.log)",
  shape: { everyMs: everyMs(500) },
});

export const queueBacklogConfig = detectorConfig({
  key: 'queueBacklog',
  describe: 'bus_consumers: every durable consumer the ACL policy names exists and has no backlog',
  shape: {
    maxPending: z.number().int().min(1).default(1000).describe('Pending messages on one durable consumer'),
    everyMs: everyMs(2000),
  },
});

export const busConfigDriftConfig = detectorConfig({
  key: 'busConfigDrift',
  describe: 'bus_config_drift: the rendered nats.conf is what the ACL policy renders now; on an external bus, the rules the cluster enforces are the policy\'s (real publishes as every user)',
  shape: {
    everyMs: everyMs(2000),
    externalEveryMs: ms(60_000, 5_000).describe('On an external bus: how often the rules the cluster enforces are checked, by an allowed and a forbidden publish as every ACL user (at least everyMs)'),
  },
});
