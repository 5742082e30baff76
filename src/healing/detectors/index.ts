/**
 * Every periodic detector the trigger monitor runs (./types.ts says what a detector is).
 *
 * Adding a detector: its file here (the definition: `defineDetector`) and its `*.config.ts` (its
 * `detectors:` section, zod only), then one line in this list, one in ./configs.ts, and its row in
 * docs/self-healing.md's detector table; `npm run schema` regenerates the JSON Schema. A unit test
 * (test/unit/detectors.test.ts) fails when the list, the configs and the table disagree.
 */
import { aclViolations, busConfigDrift, busConsumers } from './bus';
import { controlPlane } from './control-plane';
import { logIntegrity, logQuota } from './immutable-log';
import { modelChecksums } from './models';
import { cpuPressure, diskPressure, memoryPressure } from './resources';
import { staleSnapshots } from './snapshots';
import { dependencies } from './store';
import type { AnyDetector } from './types';

export const DETECTORS: readonly AnyDetector[] = [
  aclViolations,
  busConsumers,
  busConfigDrift,
  logIntegrity,
  logQuota,
  cpuPressure,
  memoryPressure,
  diskPressure,
  modelChecksums,
  staleSnapshots,
  dependencies,
  controlPlane,
];

export { latencySpikes } from './latency';
export { DetectorLoop } from './loop';
export type { AnyDetector, Detector, DetectorContext, Finding } from './types';
