/**
 * The configuration part of a detector: its key under `detectors:` in temporal.config.yaml and the
 * zod shape of that section (period and thresholds, each with its default and description).
 *
 * This file imports zod only, and so do the `*.config.ts` files that use it: the config schema
 * (src/config/schema.ts) derives `detectors:` from them without importing any Node-side detector
 * code, which imports the loaded config's type and would close an import cycle.
 */
import type { z } from 'zod';
import { ms } from '../../config/fields';

export interface DetectorConfig<K extends string = string, S extends z.ZodRawShape = z.ZodRawShape> {
  /** The section's key under `detectors:`, e.g. `cpu`. */
  key: K;
  /** What the section configures (the JSON Schema's description of it). */
  describe: string;
  shape: S;
}

/** The validated section a detector receives, defaults filled. */
export type DetectorSettings<C extends DetectorConfig> = z.output<z.ZodObject<C['shape'], z.core.$strict>>;

export function detectorConfig<const K extends string, S extends z.ZodRawShape>(c: DetectorConfig<K, S>): DetectorConfig<K, S> {
  return c;
}

export { ms } from '../../config/fields';

/** The `everyMs` key of a detector that runs on a period: how often, and its current default. */
export const everyMs = (def: number) => ms(def, 200).describe('How often the detector runs');
