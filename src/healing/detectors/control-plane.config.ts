/** Configuration of the control-plane detector (./control-plane.ts). Imports zod only: see ./define.ts. */
import { detectorConfig, everyMs, ms } from './define';

export const controlPlaneConfig = detectorConfig({
  key: 'controlPlane',
  describe: 'control_plane: the control-plane workflow runs, answers, and no kernel is stuck in a transition',
  shape: {
    deadlockMs: ms(30000, 500).describe('A kernel in a lifecycle transition longer than this is stuck'),
    queryTimeoutMs: ms(5000, 100).describe('The control plane must answer its status query within this'),
    everyMs: everyMs(1000),
  },
});
