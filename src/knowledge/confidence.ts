/**
 * How sure the knowledge base is that a signature's remedy heals it: the Wilson score lower bound
 * of its verified success rate. With few trials the bound stays low — one lucky success gives about
 * 0.38 at the default z (1.2816, one-sided 90%), two give 0.55 — so a remedy becomes automatic only
 * after it has healed more than once (config `incidents.knowledge`).
 */
import type { LoadedConfig } from '../config/load';
import type { KnowledgeEntry } from './types';

export type KnowledgeSettings = LoadedConfig['incidents']['knowledge'];

/** The config's defaults (src/config/schema.ts), for callers without a loaded config. */
export const DEFAULT_KNOWLEDGE_SETTINGS: KnowledgeSettings = { autoApplyConfidence: 0.5, minSuccesses: 2, z: 1.2816, examples: 5 };

/**
 * Wilson lower bound of `successes / (successes + failures)` with normal quantile `z`; 0 with no trials.
 */
export function wilsonLowerBound(successes: number, failures: number, z: number): number {
  const n = successes + failures;
  if (n <= 0 || successes <= 0) return 0;
  const p = successes / n;
  const z2 = z * z;
  const centre = p + z2 / (2 * n);
  const margin = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  const bound = (centre - margin) / (1 + z2 / n);
  // Rounding must not leave a probability outside [0, 1].
  return Math.min(1, Math.max(0, bound));
}

/** Confidence of an entry's remedy from its counters. */
export function confidenceOf(entry: Pick<KnowledgeEntry, 'successes' | 'failures'>, settings: Pick<KnowledgeSettings, 'z'>): number {
  return wilsonLowerBound(entry.successes, entry.failures, settings.z);
}

/**
 * Whether the entry's remedy is applied without the coding agent: confidence at or above
 * `autoApplyConfidence`, at least `minSuccesses` verified successes, a remedy to apply, and no
 * operator's `--auto-apply off`. The confidence is recomputed from the counters, never trusted.
 */
export function autoApplyOf(
  entry: Pick<KnowledgeEntry, 'successes' | 'failures' | 'manualOnly'> & { remedy?: KnowledgeEntry['remedy'] },
  settings: Pick<KnowledgeSettings, 'z' | 'autoApplyConfidence' | 'minSuccesses'>,
): boolean {
  if (entry.manualOnly) return false;
  if (entry.remedy === null) return false;
  return entry.successes >= settings.minSuccesses && confidenceOf(entry, settings) >= settings.autoApplyConfidence;
}
