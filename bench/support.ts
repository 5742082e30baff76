/** Small helpers shared by the benchmarks: percentiles and a table printer. */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type LoadedConfig } from '../src/config/load';
import { startServices, startWorkers, stopAll } from '../src/stack/stack';
import { REPO_ROOT } from '../src/stack/tools';

/**
 * The benchmarks' stack config: `--config PATH` on the command line (say, a copy with other ports,
 * so two benchmarks can run side by side), else bench/layer1.bench.yaml.
 */
export function benchConfig(argv: readonly string[] = process.argv): LoadedConfig {
  const i = argv.indexOf('--config');
  if (i >= 0 && !argv[i + 1]) throw new Error('--config needs a file');
  const file = i >= 0 ? path.resolve(argv[i + 1]!) : path.join(REPO_ROOT, 'bench', 'layer1.bench.yaml');
  return loadConfig(file, {});
}

/** A benchmark starts from nothing: leftovers stopped, state removed, servers and workers started. */
export async function freshStack(config: LoadedConfig, log: (m: string) => void = () => undefined): Promise<void> {
  await stopAll(config, log);
  rmSync(config.stateDir, { recursive: true, force: true });
  await startServices(config, log);
  await startWorkers(config, log);
}

/** The value after `--name` on the command line, if any. */
export function argOf(name: string, argv: readonly string[] = process.argv): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i > 0 ? argv[i + 1] : undefined;
}

/** Progress on stderr, so stdout holds only the figures. */
export const progress = (m: string): void => {
  process.stderr.write(`• ${m}\n`);
};

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function ms(n: number): string {
  return `${n.toFixed(0)} ms`;
}

export function printTable(rows: Array<Record<string, string | number>>): void {
  if (rows.length === 0) return;
  const cols = Object.keys(rows[0]);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(width[i])).join('  ');
  console.log(line(cols));
  console.log(line(width.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(cols.map((c) => String(r[c]))));
}
