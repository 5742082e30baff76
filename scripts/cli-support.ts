/** What every verb shares: how it finds its config and how it reports progress. */
import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../src/config/load';

/** Progress goes to stderr, so `--json` output on stdout stays machine-readable. */
export const progress = (message: string): void => {
  process.stderr.write(`• ${message}\n`);
};

export function configOf(cmd: Command): LoadedConfig {
  return loadConfig(cmd.optsWithGlobals<{ config?: string }>().config);
}
