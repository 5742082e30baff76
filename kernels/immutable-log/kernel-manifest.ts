/** The immutable log kernel: our hash-chained log behind a loopback HTTP API. */
import { z } from 'zod';
import { port } from '../../src/config/fields';
import { defineKernel } from '../manifest';

export const immutableLogManifest = defineKernel({
  name: 'immutable_log',
  title: 'the hash-chained audit log, reached over a loopback HTTP API',
  phase: 3,
  critical: true,
  config: {
    port: port.default(4280).describe('Loopback port of the log API'),
    quotaMb: z.number().int().min(1).default(1024),
    segmentKb: z.number().int().min(1).default(1024),
    minFreeDiskMb: z.number().int().min(0).default(256).describe('Readiness: free space required in the log directory'),
  },
  busUser: 'immutable_log',
  tests: ['test/unit/immutable-log.test.ts', 'test/unit/log-integrity-detector.test.ts'],
});
