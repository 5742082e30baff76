/**
 * The CLI's config loader: a config validated once is kept as JSON in a per-user temporary
 * directory, keyed by the file's path and text, the overriding environment variables and the build
 * of the schema, so a later `layer1` run with the same inputs skips the YAML parser and the schema
 * (about 150 ms of loading on the 2-core machine, half of `layer1 status`'s budget). Anything the
 * loader would report (a missing or invalid file) is never cached: it goes to the loader.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LoadedConfig } from './load';
import { CONFIG_ENV_NAMES, resolveConfigFile } from './file';

export function configCacheDir(): string {
  return path.join(os.tmpdir(), `layer1-config-cache-${process.getuid?.() ?? 'user'}`);
}

/** Same as load.ts's `loadConfig`, from the cache when the inputs are the same. */
export async function loadConfigCached(explicit?: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const file = resolveConfigFile(explicit, env);
  let text: string;
  let schemaBuild: number;
  try {
    text = readFileSync(file, 'utf8');
    // Every build writes the schema anew: a rebuilt schema (a kernel added, a default changed) misses.
    schemaBuild = statSync(path.join(__dirname, 'schema.js')).mtimeMs;
  } catch {
    return (await import('./load')).loadConfig(explicit, env);
  }
  const key = createHash('sha256')
    .update(JSON.stringify([file, text, CONFIG_ENV_NAMES.map((n) => env[n] ?? null), schemaBuild]))
    .digest('hex');
  const cached = path.join(configCacheDir(), `${key}.json`);
  try {
    return JSON.parse(readFileSync(cached, 'utf8')) as LoadedConfig;
  } catch {
    // Not cached yet (or unreadable): load it.
  }
  const config = (await import('./load')).parseConfig(text, file, env);
  try {
    mkdirSync(configCacheDir(), { recursive: true, mode: 0o700 });
    const tmp = `${cached}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(config), { mode: 0o600 });
    renameSync(tmp, cached);
  } catch {
    // A cache that cannot be written only costs the next run the load.
  }
  return config;
}
