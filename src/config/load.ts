/**
 * Loads temporal.config.yaml once: parse YAML, apply environment overrides, validate, and report
 * every problem at once with its path, line and column — before anything starts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, type Config } from './schema';
import { DEFAULT_CONFIG_FILE, resolveConfigFile, type ConfigEnvName } from './file';

export interface ConfigProblem {
  /** Dotted path into the document, e.g. `temporal.address`. Empty for the document itself. */
  path: string;
  message: string;
  file: string;
  line?: number;
  col?: number;
}

/** Every problem found in a config file, reported together. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(
      `invalid configuration in ${file}:\n` +
        sortProblems(problems)
          .map((p) => `  ${formatProblem(p)}`)
          .join('\n'),
    );
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line ? `${p.file}:${p.line}:${p.col ?? 1}` : p.file;
  return `${where}: ${p.message}${p.path ? ` → at ${p.path}` : ''}`;
}

/** A validated configuration plus where it came from. All paths are absolute. */
export interface LoadedConfig extends Config {
  configFile: string;
  /** The directory relative paths are taken from. */
  rootDir: string;
}

export { DEFAULT_CONFIG_FILE, resolveConfigFile };

/** Which environment variables override which settings. External servers are assumed when set. */
const ENV_OVERRIDES: Array<{ env: ConfigEnvName; apply: (raw: Record<string, any>, value: string) => void }> = [
  {
    env: 'TEMPORAL_ADDRESS',
    apply: (raw, v) => {
      raw.temporal = { ...(raw.temporal ?? {}), address: v };
    },
  },
  {
    env: 'MONGODB_URI',
    apply: (raw, v) => {
      // A MongoDB URI from the environment means a real MongoDB: do not start FerretDB.
      raw.store = { ...(raw.store ?? {}), uri: v, embedded: false };
    },
  },
  {
    env: 'NATS_URL',
    apply: (raw, v) => {
      raw.bus = { ...(raw.bus ?? {}), url: v };
    },
  },
  {
    env: 'LAYER1_STATE_DIR',
    apply: (raw, v) => {
      raw.stateDir = v;
    },
  },
];

export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const configFile = resolveConfigFile(file, env);
  if (!existsSync(configFile)) {
    throw new ConfigError(configFile, [
      { path: '', file: configFile, message: 'config file not found (pass --config FILE or set LAYER1_CONFIG)' },
    ]);
  }
  return parseConfig(readFileSync(configFile, 'utf8'), configFile, env);
}

export function parseConfig(text: string, configFile: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: ConfigProblem[] = [];
  for (const err of [...doc.errors, ...doc.warnings]) {
    const pos = lineCounter.linePos(err.pos[0]);
    problems.push({ path: '', file: configFile, line: pos.line, col: pos.col, message: err.message.split('\n')[0] });
  }
  if (problems.length > 0) throw new ConfigError(configFile, problems);

  const raw = (doc.toJS() ?? {}) as unknown;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(configFile, [{ path: '', file: configFile, line: 1, col: 1, message: 'expected a mapping at the top level' }]);
  }
  const withEnv = raw as Record<string, any>;
  for (const { env: name, apply } of ENV_OVERRIDES) {
    const value = env[name];
    if (value !== undefined && value !== '') apply(withEnv, value);
  }

  const result = ConfigSchema.safeParse(withEnv);
  if (!result.success) {
    throw new ConfigError(configFile, zodProblems(result.error, doc, lineCounter, configFile, env));
  }
  const rootDir = path.dirname(configFile);
  const config = result.data;
  return {
    ...config,
    stateDir: path.resolve(rootDir, config.stateDir),
    configFile,
    rootDir,
  };
}

function zodProblems(
  error: z.ZodError,
  doc: Document,
  lineCounter: LineCounter,
  file: string,
  env: NodeJS.ProcessEnv,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    const segments = issue.path.map((s) => (typeof s === 'symbol' ? String(s) : s));
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const keyNode = findKeyNode(doc, segments, key);
        problems.push({
          path: [...segments, key].join('.'),
          file,
          ...position(keyNode, lineCounter),
          message: `unknown key "${key}"`,
        });
      }
      continue;
    }
    const node = doc.getIn(segments, true) as Node | undefined;
    const fromEnv = envSource(segments.join('.'), env);
    problems.push({
      path: segments.join('.'),
      file,
      ...position(node ?? findKeyNode(doc, segments.slice(0, -1), String(segments.at(-1))), lineCounter),
      message: fromEnv ? `${issue.message} (from environment variable ${fromEnv})` : issue.message,
    });
  }
  return problems;
}

/**
 * A problem found after validation (an unreachable server, a busy port), pointed at the line of
 * the setting that caused it when the file has one.
 */
export function configProblem(config: LoadedConfig, dottedPath: string, message: string): ConfigProblem {
  let pos: { line?: number; col?: number } = {};
  try {
    const lineCounter = new LineCounter();
    const doc = parseDocument(readFileSync(config.configFile, 'utf8'), { lineCounter });
    const segments = dottedPath.split('.');
    const node =
      findKeyNode(doc, segments.slice(0, -1), segments[segments.length - 1]) ?? findKeyNode(doc, [], segments[0]);
    pos = position(node, lineCounter);
  } catch {
    // The file was valid a moment ago; without a position the message still names the path.
  }
  return { path: dottedPath, file: config.configFile, message, ...pos };
}

/** Sorts problems by position, so they read top to bottom like the file. */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}

function envSource(dotted: string, env: NodeJS.ProcessEnv): string | undefined {
  const map: Record<string, string> = {
    'temporal.address': 'TEMPORAL_ADDRESS',
    'store.uri': 'MONGODB_URI',
    'bus.url': 'NATS_URL',
    stateDir: 'LAYER1_STATE_DIR',
  };
  const name = map[dotted];
  return name && env[name] ? name : undefined;
}

/** The key node of `key` in the mapping at `parentPath`: where an unknown or misplaced key is. */
export function findKeyNode(doc: Document, parentPath: Array<string | number>, key: string): Node | undefined {
  const parent = parentPath.length === 0 ? doc.contents : doc.getIn(parentPath, true);
  if (!isMap(parent)) return undefined;
  for (const pair of parent.items) {
    if (isScalar(pair.key) && String(pair.key.value) === key) return pair.key;
  }
  return undefined;
}

/** The 1-based line and column a YAML node starts at. */
export function position(node: Node | undefined, lineCounter: LineCounter): { line?: number; col?: number } {
  if (!node?.range) return {};
  const pos = lineCounter.linePos(node.range[0]);
  return { line: pos.line, col: pos.col };
}
