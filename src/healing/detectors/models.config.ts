/** Configuration of the model-checksum detector (./models.ts). Imports zod only: see ./define.ts. */
import { detectorConfig, everyMs } from './define';

export const modelChecksumsConfig = detectorConfig({
  key: 'modelChecksums',
  describe: "model_checksums: each coding-agent model file has the SHA-256 of its manifest",
  shape: { everyMs: everyMs(2000) },
});
