/** Every periodic detector the trigger monitor runs (./types.ts says what a detector is). */
import { aclViolations, busConfigDrift, busConsumers } from './bus';
import { controlPlane } from './control-plane';
import { logIntegrity, logQuota } from './immutable-log';
import { modelChecksums } from './models';
import { cpuPressure, diskPressure, memoryPressure } from './resources';
import { staleSnapshots } from './snapshots';
import { dependencies } from './store';
import type { Detector } from './types';

export const DETECTORS: readonly Detector[] = [
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

export type { Detector, DetectorContext, Finding } from './types';
