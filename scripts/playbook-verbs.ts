/**
 * Playbook verbs that need no server: `playbook list`, `playbook validate`, and `actions`.
 *
 * The `playbook` command is shared: verbs from other files add their subcommands to the command
 * {@link playbookCommand} returns (it creates it on first use), so registration order does not
 * matter:
 *
 *   playbookCommand(program).command('run <name>').description('…').action(…)
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ExitCode } from '../src/errors';
import type { ActionDescription } from '../src/playbooks/format';
import type { LoadResult } from '../src/playbooks/loader';
import { DEFAULT_PLAYBOOK_DIR } from '../src/playbooks/default-dir';
import { helpFacts } from './help-facts';

/** The `playbook` command of `program`, created with its description on first use. */
export function playbookCommand(program: Command): Command {
  return (
    program.commands.find((c) => c.name() === 'playbook') ??
    program.command('playbook').description('Playbooks: YAML recipes of action primitives, run as durable workflows')
  );
}

/** A path as the user would type it: relative to the current directory when inside it. */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** Loads the named files and directories (all their playbook files), or every file under `dir`. */
async function load(files: string[], dir: string): Promise<{ result: LoadResult; fileCount: number }> {
  const { loadPlaybookFiles, playbookFiles } = await import('../src/playbooks/loader');
  const targets = (files.length > 0 ? files : [dir]).flatMap((f) => (isDirectory(f) ? playbookFiles(f) : [f]));
  return { result: loadPlaybookFiles(targets.map(shown)), fileCount: targets.length };
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function printActions(actions: ActionDescription[]): void {
  for (const a of actions) {
    console.log(`${a.name}${a.risky ? '  [risky]' : ''}`);
    console.log(`    ${a.description}`);
    const width = Math.max(0, ...a.params.map((p) => p.name.length));
    if (a.params.length === 0) console.log('    params: none');
    else console.log('    params:');
    for (const p of a.params) {
      const notes = [p.required ? 'required' : p.default !== undefined ? `default ${JSON.stringify(p.default)}` : 'optional', p.description]
        .filter(Boolean)
        .join('; ');
      console.log(`      ${p.name.padEnd(width)}  ${p.type}  (${notes})`);
    }
    console.log(`    output: ${a.output.map((o) => `${o.name}: ${o.type}`).join(', ')}`);
    console.log(`    idempotent: ${a.idempotency}`);
  }
}

export function registerPlaybookVerbs(program: Command): void {
  const playbook = playbookCommand(program);

  playbook
    .command('list')
    .description('List the valid playbooks: name, file, description, trigger, step count')
    .option('--json', 'print a JSON array of {name, file, description, trigger, steps, parameters, concurrency}')
    .option('--dir <dir>', 'playbook directory', DEFAULT_PLAYBOOK_DIR)
    .action(async (opts: { json?: boolean; dir: string }) => {
      const { result } = await load([], opts.dir);
      const rows = result.playbooks.map((p) => ({
        name: p.name,
        file: p.file,
        description: p.description,
        trigger: p.trigger,
        steps: p.steps.length,
        parameters: p.parameters,
        concurrency: p.concurrency,
      }));
      if (opts.json) console.log(JSON.stringify(rows));
      else {
        const width = Math.max(0, ...rows.map((r) => r.name.length));
        for (const r of rows) {
          const signatures = r.trigger.signatures.length ? ` [${r.trigger.signatures.join(', ')}]` : '';
          console.log(`${r.name.padEnd(width)}  ${plural(r.steps, 'step').padEnd(8)}  ${r.trigger.kernel} on ${r.trigger.events.join(', ')}${signatures}  ${r.file}`);
          if (r.description) console.log(`${' '.repeat(width)}  ${r.description}`);
        }
        if (rows.length === 0) console.log(`no playbooks in ${shown(opts.dir)}`);
      }
      if (result.problems.length > 0) {
        process.stderr.write(`${plural(result.problems.length, 'problem')} keep some playbooks out: run \`layer1 playbook validate\`\n`);
        process.exitCode = ExitCode.FAILURE;
      }
    });

  playbook
    .command('validate')
    .description('Validate playbook files (default: every file under playbooks/); prints FILE:LINE:COL: message per problem, exit 1 on any')
    .argument('[files...]', 'playbook files or directories')
    .option('--json', 'print {ok, files, playbooks, problems} as JSON')
    .option('--dir <dir>', 'playbook directory used when no file is given', DEFAULT_PLAYBOOK_DIR)
    .action(async (files: string[], opts: { json?: boolean; dir: string }) => {
      const { result, fileCount } = await load(files, opts.dir);
      const ok = result.problems.length === 0;
      if (opts.json) {
        console.log(JSON.stringify({ ok, files: fileCount, playbooks: result.playbooks.map((p) => p.name), problems: result.problems }));
      } else if (ok) {
        console.log(`✓ ${plural(result.playbooks.length, 'playbook')} in ${plural(fileCount, 'file')}: valid`);
      } else {
        const { formatProblem } = await import('../src/config/load');
        for (const p of result.problems) console.log(formatProblem(p));
        process.stderr.write(`✗ ${plural(result.problems.length, 'problem')}; ${plural(result.playbooks.length, 'playbook')} valid\n`);
      }
      if (!ok) process.exitCode = ExitCode.FAILURE;
    });

  program
    .command('actions')
    .description(`The ${helpFacts().actions} action primitives a playbook step may use, with their parameters and output`)
    .option('--json', 'print a JSON array of {name, description, risky, idempotency, params, output, defaultTimeoutMs}')
    .action(async (opts: { json?: boolean }) => {
      const { describeActions } = await import('../src/playbooks/format');
      const actions = describeActions();
      if (opts.json) console.log(JSON.stringify(actions));
      else printActions(actions);
    });
}
