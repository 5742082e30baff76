/** Configuration of the resource detectors (./resources.ts). Imports zod only: see ./define.ts. */
import { z } from 'zod';
import { detectorConfig, everyMs, ms } from './define';

export const cpuConfig = detectorConfig({
  key: 'cpu',
  describe: 'cpu_pressure: CPU use of each managed process over a window',
  shape: {
    percent: z.number().min(1).max(800).default(90).describe('CPU use of one managed process, in % of one core'),
    windowMs: ms(5000, 500).describe('Averaged over this window'),
    everyMs: z.number().int().min(200).optional().describe('How often the detector samples; by default windowMs / 5, at least 250'),
  },
});

export const memoryConfig = detectorConfig({
  key: 'memory',
  describe: 'memory_pressure: resident memory of each managed process',
  shape: {
    rssMb: z.number().int().min(1).default(1536).describe('Resident memory of one managed process'),
    everyMs: everyMs(1000),
  },
});

export const diskConfig = detectorConfig({
  key: 'disk',
  describe: "disk_pressure: free space on the state directory's file system, and the size of the log archives",
  shape: {
    minFreeMb: z.number().int().min(0).default(256).describe("Free space required on the state directory's file system"),
    archivesMaxMb: z.number().int().min(1).default(2048).describe('Size allowed to the log archives'),
    everyMs: everyMs(5000),
  },
});
