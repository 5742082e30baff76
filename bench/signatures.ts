/**
 * bench/signatures — grouping accuracy and throughput of the signature engine against Drain3.
 *
 *   npm run build && npm run bench:signatures [-- DATASETS_DIR] [--json]
 *
 * DATASETS_DIR (or env LAYER1_DATASETS) holds one folder per system with a `*_structured*.csv`
 * (columns `Content` and `EventTemplate`); default ../shared/datasets/loghub-2k-corrected from the
 * repository root. Every dataset runs with the same, default configuration. Drain3 runs with its
 * defaults in the project's virtualenv ($LAYER1_CACHE_DIR/venv, default ~/.cache/layer1/venv); when
 * that is missing its columns read "n/a".
 *
 * GA and FGA follow the Loghub benchmarks: a predicted group is correct when it holds exactly the
 * messages of one ground-truth template; GA is the share of messages in correct groups, FGA the F1
 * of correct groups over predicted and true groups. Our groups are the final ones: each id issued
 * while streaming is resolved through the engine's alias map, as the ids stay resolvable.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignatureEngine } from '../src/signatures';

interface Dataset {
  name: string;
  contents: string[];
  truth: string[];
}

interface Scores {
  ga: number;
  fga: number;
  /** Messages per second. */
  rate: number;
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');
/**
 * Timed repetitions of our engine per dataset, each with a fresh engine (so each run learns from
 * scratch); the fastest counts, as the first runs measure V8's compiler more than the engine.
 */
const RUNS = 10;

/** RFC 4180 CSV: quoted fields may hold commas, doubled quotes and newlines. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else {
          quoted = false;
        }
      } else {
        field += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += ch;
    }
  }
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function loadDatasets(root: string): Dataset[] {
  if (!existsSync(root)) throw new Error(`datasets not found at ${root} (pass a path or set LAYER1_DATASETS)`);
  const datasets: Dataset[] = [];
  for (const name of readdirSync(root).sort()) {
    const dir = path.join(root, name);
    let files: string[];
    try {
      files = readdirSync(dir).filter((f) => /_structured.*\.csv$/.test(f));
    } catch {
      continue; // a file such as LICENSE
    }
    if (files.length === 0) continue;
    const [header, ...rows] = parseCsv(readFileSync(path.join(dir, files[0]), 'utf8')).filter((r) => r.length > 1);
    const content = header.indexOf('Content');
    const template = header.indexOf('EventTemplate');
    if (content < 0 || template < 0) throw new Error(`${files[0]}: no Content/EventTemplate columns`);
    datasets.push({ name, contents: rows.map((r) => r[content]), truth: rows.map((r) => r[template]) });
  }
  return datasets;
}

/** GA and FGA of predicted group labels against true templates (Loghub definitions). */
export function groupingAccuracy(predicted: readonly (string | number)[], truth: readonly string[]): { ga: number; fga: number } {
  const truthSize = new Map<string, number>();
  for (const t of truth) truthSize.set(t, (truthSize.get(t) ?? 0) + 1);
  const groups = new Map<string | number, number[]>();
  predicted.forEach((p, i) => {
    const members = groups.get(p);
    if (members) members.push(i);
    else groups.set(p, [i]);
  });
  let correctMessages = 0;
  let correctGroups = 0;
  for (const members of groups.values()) {
    const t = truth[members[0]];
    if (members.every((i) => truth[i] === t) && truthSize.get(t) === members.length) {
      correctMessages += members.length;
      correctGroups++;
    }
  }
  const precision = correctGroups / groups.size;
  const recall = correctGroups / truthSize.size;
  const fga = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { ga: correctMessages / truth.length, fga };
}

function runOurs(dataset: Dataset): Scores {
  let best = Infinity;
  let issued: string[] = [];
  let engine = new SignatureEngine();
  for (let run = 0; run < RUNS; run++) {
    engine = new SignatureEngine();
    const ids = new Array<string>(dataset.contents.length);
    const start = process.hrtime.bigint();
    for (let i = 0; i < dataset.contents.length; i++) ids[i] = engine.sign({ message: dataset.contents[i] }).signature;
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
    issued = ids;
  }
  const final = issued.map((id) => engine.resolve(id)?.signature ?? id);
  return { ...groupingAccuracy(final, dataset.truth), rate: dataset.contents.length / best };
}

function drainPython(): string | undefined {
  const cache = process.env.LAYER1_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'layer1');
  const python = path.join(cache, 'venv', 'bin', 'python');
  return existsSync(python) ? python : undefined;
}

function runDrain3(python: string, dataset: Dataset): Scores {
  const script = path.join(REPO_ROOT, 'bench', 'drain3_parse.py');
  // Drain3 reads one message a line, so a newline inside a message (none in Loghub) would shift the rest.
  const input = dataset.contents.map((c) => c.replace(/[\r\n]+/g, ' ')).join('\n') + '\n';
  const result = spawnSync(python, [script], { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`drain3 failed on ${dataset.name}: ${result.stderr}`);
  const { clusters, seconds } = JSON.parse(result.stdout) as { clusters: number[]; seconds: number };
  return { ...groupingAccuracy(clusters, dataset.truth), rate: dataset.contents.length / seconds };
}

function fmt(n: number | undefined, digits = 3): string {
  return n === undefined ? 'n/a' : n.toFixed(digits);
}

function main(): void {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const root = path.resolve(
    args.find((a) => !a.startsWith('--')) ??
      process.env.LAYER1_DATASETS ??
      path.join(REPO_ROOT, '..', 'shared', 'datasets', 'loghub-2k-corrected'),
  );
  const datasets = loadDatasets(root);
  const python = drainPython();
  const rows = datasets.map((d) => ({ name: d.name, ours: runOurs(d), drain3: python ? runDrain3(python, d) : undefined }));
  if (json) {
    console.log(JSON.stringify({ datasets: root, rows }, null, 2));
    return;
  }
  const header = ['Dataset', 'GA', 'FGA', 'msg/s', 'Drain3 GA', 'Drain3 FGA', 'Drain3 msg/s'];
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  console.log(`datasets: ${root}${python ? '' : ' (Drain3 not found: run with its virtualenv to compare)'}`);
  console.log(line(header));
  console.log(line(header.map(() => '---')));
  for (const r of rows) {
    console.log(
      line([r.name, fmt(r.ours.ga), fmt(r.ours.fga), Math.round(r.ours.rate).toLocaleString('en-US'), fmt(r.drain3?.ga), fmt(r.drain3?.fga), r.drain3 ? Math.round(r.drain3.rate).toLocaleString('en-US') : 'n/a']),
    );
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const total = datasets.reduce((n, d) => n + d.contents.length, 0);
  // Overall throughput: all messages over all time, not the mean of per-dataset rates.
  const overall = (pick: (r: (typeof rows)[number]) => Scores | undefined): number | undefined => {
    const secs = rows.map((r, i) => {
      const s = pick(r);
      return s ? datasets[i].contents.length / s.rate : NaN;
    });
    const sum = secs.reduce((a, b) => a + b, 0);
    return Number.isNaN(sum) ? undefined : total / sum;
  };
  const drainRows = rows.map((r) => r.drain3).filter((s): s is Scores => s !== undefined);
  const drainRate = overall((r) => r.drain3);
  console.log(
    line([
      '**mean**',
      fmt(mean(rows.map((r) => r.ours.ga))),
      fmt(mean(rows.map((r) => r.ours.fga))),
      Math.round(overall((r) => r.ours) ?? 0).toLocaleString('en-US'),
      drainRows.length ? fmt(mean(drainRows.map((s) => s.ga))) : 'n/a',
      drainRows.length ? fmt(mean(drainRows.map((s) => s.fga))) : 'n/a',
      drainRate === undefined ? 'n/a' : Math.round(drainRate).toLocaleString('en-US'),
    ]),
  );
}

main();
