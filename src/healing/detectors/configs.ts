/**
 * The configuration part of every detector, in the order of the `detectors:` section. The config
 * schema (src/config/schema.ts) derives that section from this list; ./index.ts lists the
 * detectors themselves. Zod only, all the way down (./define.ts says why).
 */
import { aclViolationsConfig, busConfigDriftConfig, queueBacklogConfig } from './bus.config';
import { controlPlaneConfig } from './control-plane.config';
import { logIntegrityConfig, logQuotaConfig } from './immutable-log.config';
import { latencyConfig } from './latency.config';
import { modelChecksumsConfig } from './models.config';
import { cpuConfig, diskConfig, memoryConfig } from './resources.config';
import { snapshotsConfig } from './snapshots.config';
import { storeConfig } from './store.config';

export const DETECTOR_CONFIGS = [
  latencyConfig,
  cpuConfig,
  memoryConfig,
  logIntegrityConfig,
  logQuotaConfig,
  queueBacklogConfig,
  diskConfig,
  snapshotsConfig,
  controlPlaneConfig,
  storeConfig,
  aclViolationsConfig,
  busConfigDriftConfig,
  modelChecksumsConfig,
] as const;
