/**
 * Where the config file is and what else the loader reads (the environment variables that override
 * settings): light, so that the validated-config cache (./cache.ts) can key on them without loading
 * the loader, the YAML parser or the schema.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export const DEFAULT_CONFIG_FILE = 'temporal.config.yaml';

/** The environment variables that override settings (load.ts says how). */
export const CONFIG_ENV_NAMES = ['TEMPORAL_ADDRESS', 'MONGODB_URI', 'NATS_URL', 'LAYER1_STATE_DIR'] as const;
export type ConfigEnvName = (typeof CONFIG_ENV_NAMES)[number];

/**
 * Finds the config file: an explicit path, else `LAYER1_CONFIG`, else temporal.config.yaml in the
 * current directory or the nearest parent that has one.
 */
export function resolveConfigFile(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return path.resolve(explicit);
  if (env.LAYER1_CONFIG) return path.resolve(env.LAYER1_CONFIG);
  let dir = process.cwd();
  for (;;) {
    const candidate = path.join(dir, DEFAULT_CONFIG_FILE);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(DEFAULT_CONFIG_FILE);
    dir = parent;
  }
}
