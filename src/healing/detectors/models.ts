/** Model checksums: every file of the coding agent's model manifest has its recorded SHA-256. */
import { corruptModels } from '../../coding-agent/models';
import { modelChecksumsConfig } from './models.config';
import { defineDetector } from './types';

export const modelChecksums = defineDetector({
  name: 'model_checksums',
  config: modelChecksumsConfig,
  kinds: ['model_corruption'],
  createState: () => undefined,
  async check({ config }) {
    return corruptModels(config.stateDir).map((m) => ({
      kind: 'model_corruption' as const,
      kernel: 'coding_agent',
      key: `${m.file}:${m.actual ?? 'missing'}`,
      detail: `${m.file} ${m.actual === null ? 'is missing' : `has SHA-256 ${m.actual.slice(0, 12)}…, the manifest says ${m.expected.slice(0, 12)}…`}`,
      data: { file: m.file, expectedSha256: m.expected, actualSha256: m.actual ?? '' },
    }));
  },
});
