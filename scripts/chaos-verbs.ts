/**
 * `layer1 chaos`: failure cards and drills. This file creates the command and its verbs that need
 * no server — `chaos list` and `chaos validate` — then lets scripts/chaos-run-verbs.ts add the
 * drill's (run, ledger, coverage, schedule).
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ExitCode } from '../src/errors';
import type { CardLoadResult } from '../src/chaos/cards/loader';
import { DEFAULT_CARD_DIR } from '../src/chaos/cards/default-dir';
import { registerChaosRunVerbs } from './chaos-run-verbs';

/** A path as the user would type it: relative to the current directory when inside it. */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** Loads the named files and directories (all their cards), or every card under `dir`. */
async function load(files: string[], dir: string): Promise<{ result: CardLoadResult; fileCount: number }> {
  const { cardFiles, loadCardFiles } = await import('../src/chaos/cards/loader');
  const targets = (files.length > 0 ? files : [dir]).flatMap((f) => (isDirectory(f) ? cardFiles(f) : [f]));
  return { result: loadCardFiles(targets.map(shown)), fileCount: targets.length };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function registerList(chaos: Command): void {
  chaos
    .command('list')
    .description('List the valid failure cards: id, title, risk, target, fault, remedy, file')
    .option('--json', 'print a JSON array of {id, title, risk, target, fault, remedy, file}')
    .option('--dir <dir>', 'card directory', DEFAULT_CARD_DIR)
    .action(async (opts: { json?: boolean; dir: string }) => {
      const { result } = await load([], opts.dir);
      const rows = result.cards.map((c) => ({
        id: c.id,
        title: c.title,
        risk: c.risk,
        target: c.target,
        fault: c.injection.fault,
        remedy: c.expect.remedy,
        file: c.file,
      }));
      if (opts.json) console.log(JSON.stringify(rows));
      else {
        const width = Math.max(0, ...rows.map((r) => r.id.length));
        const fault = Math.max(0, ...rows.map((r) => r.fault.length));
        for (const r of rows) {
          const target = 'process' in r.target ? `process ${r.target.process}` : `kernel ${r.target.kernel}`;
          console.log(`${r.id.padEnd(width)}  ${r.risk.padEnd(6)}  ${r.fault.padEnd(fault)}  → ${r.remedy}  (${target})  ${r.file}`);
          console.log(`${' '.repeat(width)}  ${r.title}`);
        }
        if (rows.length === 0) console.log(`no failure cards in ${shown(opts.dir)}`);
      }
      if (result.problems.length > 0) {
        process.stderr.write(`${plural(result.problems.length, 'problem')} keep some cards out: run \`layer1 chaos validate\`\n`);
        process.exitCode = ExitCode.CONFIG;
      }
    });
}

function registerValidate(chaos: Command): void {
  chaos
    .command('validate')
    .description('Validate failure cards (default: every card under chaos/cards/); prints FILE:LINE:COL: message per problem, exit 3 on any')
    .argument('[files...]', 'card files or directories')
    .option('--json', 'print {ok, cards, problems} as JSON')
    .option('--dir <dir>', 'card directory used when no file is given', DEFAULT_CARD_DIR)
    .action(async (files: string[], opts: { json?: boolean; dir: string }) => {
      const { result, fileCount } = await load(files, opts.dir);
      const ok = result.problems.length === 0;
      if (opts.json) {
        console.log(JSON.stringify({ ok, cards: result.cards.map((c) => c.id), problems: result.problems }));
      } else if (ok) {
        console.log(`✓ ${plural(result.cards.length, 'failure card')} in ${plural(fileCount, 'file')}: valid`);
      } else {
        const { formatProblem } = await import('../src/config/load');
        for (const p of result.problems) console.log(formatProblem(p));
        process.stderr.write(`✗ ${plural(result.problems.length, 'problem')}; ${plural(result.cards.length, 'card')} valid\n`);
      }
      if (!ok) process.exitCode = ExitCode.CONFIG;
    });
}

export function registerChaosVerbs(program: Command): void {
  const chaos = program.command('chaos').description('Failure cards and drills');
  registerList(chaos);
  registerValidate(chaos);
  registerChaosRunVerbs(chaos);
}
