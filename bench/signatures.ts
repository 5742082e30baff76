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
import { PassThrough, Readable } from 'node:stream';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseStream } from '../scripts/signatures';
import { DEFAULT_MINER_OPTIONS, SignatureEngine, type MinerOptions, type SignatureEngineOptions } from '../src/signatures';

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

/** GA of one configuration on one dataset: a single pass, ids resolved at the end. */
function gaWith(options: SignatureEngineOptions, contents: readonly string[], truth: readonly string[]): { ga: number; fga: number; groups: number } {
  const engine = new SignatureEngine(options);
  const issued = contents.map((message) => engine.sign({ message }).signature);
  const final = issued.map((id) => engine.resolve(id)?.signature ?? id);
  return { ...groupingAccuracy(final, truth), groups: new Set(final).size };
}

/**
 * GA of what `layer1 signatures parse` prints (one message a line in, its printed signature as the
 * group): the CLI's own code path, in process.
 */
async function gaThroughParse(contents: readonly string[], truth: readonly string[]): Promise<number> {
  const input = Readable.from([Buffer.from(contents.map((c) => c.replace(/[\r\n]+/g, ' ')).join('\n') + '\n')]);
  const output = new PassThrough();
  const chunks: Buffer[] = [];
  output.on('data', (b: Buffer) => chunks.push(b));
  await parseStream(input, output, new SignatureEngine());
  output.end();
  const printed = Buffer.concat(chunks)
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as { signature: string }).signature);
  return groupingAccuracy(printed, truth).ga;
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

/**
 * Every decision of the miner that a search could tune, as a grid. The engine's defaults are one
 * point of it; leave-one-dataset-out picks a point on ten datasets and scores it on the eleventh.
 */
function grid(sharedValues = DEFAULT_MINER_OPTIONS.sharedValues): Required<Omit<MinerOptions, 'cacheSize'>>[] {
  const points: Required<Omit<MinerOptions, 'cacheSize'>>[] = [];
  for (const similarity of [0.4, 0.5, 0.6, 0.7, 0.8])
    for (const variety of [2, 3, 4, 5, 6, 8, 10, 15])
      for (const identifiers of [false, true]) points.push({ similarity, variety, identifiers, sharedValues });
  return points;
}

const describe = (o: Omit<MinerOptions, 'cacheSize'>): string =>
  `similarity ${o.similarity}, variety ${o.variety}, identifiers ${o.identifiers ? 'on' : 'off'}, sharedValues ${o.sharedValues ? 'on' : 'off'}`;

interface LooRow {
  name: string;
  /** GA with the point chosen on the other datasets. */
  ga: number;
  chosen: string;
}

/**
 * Leave-one-dataset-out: for each dataset, the grid point with the best mean GA over the others
 * (the first in grid order on a tie) is scored on it. Also returns the point best over all of them.
 */
function leaveOneOut(
  datasets: Dataset[],
  sharedValues = DEFAULT_MINER_OPTIONS.sharedValues,
): { rows: LooRow[]; all: Required<Omit<MinerOptions, 'cacheSize'>>; allMean: number } {
  const points = grid(sharedValues);
  const table = points.map((p) => datasets.map((d) => gaWith(p, d.contents, d.truth).ga));
  const bestExcept = (skip: number): number => {
    let best = 0;
    let bestMean = -1;
    table.forEach((row, i) => {
      const mean = row.reduce((a, ga, j) => (j === skip ? a : a + ga), 0) / (row.length - (skip >= 0 ? 1 : 0));
      if (mean > bestMean + 1e-12) {
        best = i;
        bestMean = mean;
      }
    });
    return best;
  };
  const rows = datasets.map((d, j) => {
    const chosen = bestExcept(j);
    return { name: d.name, ga: table[chosen][j], chosen: describe(points[chosen]) };
  });
  const all = bestExcept(-1);
  return { rows, all: points[all], allMean: table[all].reduce((a, b) => a + b, 0) / datasets.length };
}

interface CorpusEntry {
  cause: string;
  message: string;
}

/** The labelled error corpus (bench/error-corpus/corpus.jsonl): one `{cause, message}` a line. */
function loadCorpus(file: string): CorpusEntry[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as CorpusEntry);
}

interface CorpusScores {
  messages: number;
  causes: number;
  ga: number;
  fga: number;
  /** Distinct final signatures per cause, averaged over causes. */
  groupsPerCause: number;
  /** Signatures that hold messages of more than one cause. */
  mergedSignatures: number;
  worst: { cause: string; groups: number }[];
}

/** Scores the engine on the corpus as `layer1 signatures parse` would see it: no source, input order. */
function scoreCorpus(corpus: CorpusEntry[], options: SignatureEngineOptions = {}): CorpusScores {
  const engine = new SignatureEngine(options);
  const issued = corpus.map((e) => engine.sign({ message: e.message }).signature);
  const final = issued.map((id) => engine.resolve(id)?.signature ?? id);
  const truth = corpus.map((e) => e.cause);
  const perCause = new Map<string, Set<string>>();
  const perSignature = new Map<string, Set<string>>();
  corpus.forEach((e, i) => {
    (perCause.get(e.cause) ?? perCause.set(e.cause, new Set()).get(e.cause)!).add(final[i]);
    (perSignature.get(final[i]) ?? perSignature.set(final[i], new Set()).get(final[i])!).add(e.cause);
  });
  const groups = [...perCause.values()].map((s) => s.size);
  return {
    messages: corpus.length,
    causes: perCause.size,
    ...groupingAccuracy(final, truth),
    groupsPerCause: groups.reduce((a, b) => a + b, 0) / groups.length,
    mergedSignatures: [...perSignature.values()].filter((s) => s.size > 1).length,
    worst: [...perCause.entries()]
      .map(([cause, s]) => ({ cause, groups: s.size }))
      .filter((w) => w.groups > 1)
      .sort((a, b) => b.groups - a.groups || (a.cause < b.cause ? -1 : 1)),
  };
}

function drainPython(): string | undefined {
  const cache = process.env.LAYER1_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'layer1');
  const python = path.join(cache, 'venv', 'bin', 'python');
  return existsSync(python) ? python : undefined;
}

function runDrain3(python: string, name: string, contents: readonly string[], truth: readonly string[]): Scores {
  const script = path.join(REPO_ROOT, 'bench', 'drain3_parse.py');
  // Drain3 reads one message a line, so a newline inside a message (none in Loghub) would shift the rest.
  const input = contents.map((c) => c.replace(/[\r\n]+/g, ' ')).join('\n') + '\n';
  const result = spawnSync(python, [script], { input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`drain3 failed on ${name}: ${result.stderr}`);
  const { clusters, seconds } = JSON.parse(result.stdout) as { clusters: number[]; seconds: number };
  return { ...groupingAccuracy(clusters, truth), rate: contents.length / seconds };
}

function fmt(n: number | undefined, digits = 3): string {
  return n === undefined ? 'n/a' : n.toFixed(digits);
}

const rate = (n: number): string => Math.round(n).toLocaleString('en-US');
const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const root = path.resolve(
    args.find((a) => !a.startsWith('--')) ??
      process.env.LAYER1_DATASETS ??
      path.join(REPO_ROOT, '..', 'shared', 'datasets', 'loghub-2k-corrected'),
  );
  const corpusFile = process.env.LAYER1_ERROR_CORPUS ?? path.join(REPO_ROOT, 'bench', 'error-corpus', 'corpus.jsonl');
  const datasets = loadDatasets(root);
  const python = drainPython();
  const rows: { name: string; ours: Scores; parse: number; drain3: Scores | undefined }[] = [];
  for (const d of datasets) {
    rows.push({
      name: d.name,
      ours: runOurs(d),
      parse: await gaThroughParse(d.contents, d.truth),
      drain3: python ? runDrain3(python, d.name, d.contents, d.truth) : undefined,
    });
  }
  const loo = leaveOneOut(datasets);
  // The one rule fixed outside the grid, measured without it the same way.
  const ablation = leaveOneOut(datasets, !DEFAULT_MINER_OPTIONS.sharedValues);
  const corpus = existsSync(corpusFile) ? loadCorpus(corpusFile) : undefined;
  const corpusScores = corpus ? scoreCorpus(corpus) : undefined;
  const corpusParse = corpus
    ? await gaThroughParse(
        corpus.map((e) => e.message),
        corpus.map((e) => e.cause),
      )
    : undefined;
  const corpusDrain =
    corpus && python
      ? runDrain3(
          python,
          'error corpus',
          corpus.map((e) => e.message),
          corpus.map((e) => e.cause),
        )
      : undefined;
  if (json) {
    console.log(JSON.stringify({ datasets: root, defaults: DEFAULT_MINER_OPTIONS, rows, loo, ablation, corpus: corpusScores, corpusParse, corpusDrain }, null, 2));
    return;
  }

  console.log(`datasets: ${root}${python ? '' : ' (Drain3 not found: run with its virtualenv to compare)'}`);
  console.log(`engine defaults: ${describe(DEFAULT_MINER_OPTIONS)}`);
  console.log('');
  console.log('All sets, engine defaults (GA/FGA deterministic; msg/s the fastest of 10 runs on one core):');
  const header = ['Dataset', 'GA', 'FGA', 'GA via parse', 'msg/s', 'Drain3 GA', 'Drain3 FGA', 'Drain3 msg/s'];
  console.log(line(header));
  console.log(line(header.map(() => '---')));
  for (const r of rows) {
    console.log(line([r.name, fmt(r.ours.ga), fmt(r.ours.fga), fmt(r.parse), rate(r.ours.rate), fmt(r.drain3?.ga), fmt(r.drain3?.fga), r.drain3 ? rate(r.drain3.rate) : 'n/a']));
  }
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
      fmt(mean(rows.map((r) => r.parse))),
      rate(overall((r) => r.ours) ?? 0),
      drainRows.length ? fmt(mean(drainRows.map((s) => s.ga))) : 'n/a',
      drainRows.length ? fmt(mean(drainRows.map((s) => s.fga))) : 'n/a',
      drainRate === undefined ? 'n/a' : rate(drainRate),
    ]),
  );

  console.log('');
  console.log(`Leave-one-dataset-out (${grid().length} grid points; each row: the point with the best mean GA on the other ${datasets.length - 1} sets, scored on this one):`);
  console.log(line(['Held out', 'LOO GA', 'chosen on the others']));
  console.log(line(['---', '---', '---']));
  for (const r of loo.rows) console.log(line([r.name, fmt(r.ga), r.chosen]));
  const looGas = loo.rows.map((r) => r.ga);
  console.log(line(['**mean**', fmt(mean(looGas)), `min ${fmt(Math.min(...looGas))}`]));
  console.log(`Best point on all ${datasets.length} sets: ${describe(loo.all)} (mean GA ${fmt(loo.allMean)})`);
  const ablationGas = ablation.rows.map((r) => r.ga);
  const worst = ablation.rows.reduce((a, b) => (b.ga < a.ga ? b : a));
  console.log(
    `Same search with sharedValues ${DEFAULT_MINER_OPTIONS.sharedValues ? 'off' : 'on'}: best on all sets ${fmt(ablation.allMean)}; ` +
      `leave-one-out mean ${fmt(mean(ablationGas))}, min ${fmt(worst.ga)} (${worst.name})`,
  );

  console.log('');
  if (!corpusScores) {
    console.log(`error corpus: ${corpusFile} not found (bench/error-corpus/produce.ts writes it)`);
    return;
  }
  console.log(`Error corpus (${corpusFile}): ${corpusScores.messages} messages, ${corpusScores.causes} causes, engine defaults, no source`);
  console.log(line(['', 'GA', 'FGA', 'GA via parse', 'groups per cause', 'signatures holding two causes']));
  console.log(line(['---', '---', '---', '---', '---', '---']));
  console.log(line(['ours', fmt(corpusScores.ga), fmt(corpusScores.fga), fmt(corpusParse), fmt(corpusScores.groupsPerCause, 2), String(corpusScores.mergedSignatures)]));
  if (corpusDrain) console.log(line(['Drain3', fmt(corpusDrain.ga), fmt(corpusDrain.fga), 'n/a', 'n/a', 'n/a']));
  if (corpusScores.worst.length) console.log(`causes split: ${corpusScores.worst.map((w) => `${w.cause} (${w.groups})`).join(', ')}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
