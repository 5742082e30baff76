/**
 * `layer1 kb [list]` — the knowledge base: per error signature, how often it was seen, the remedy
 * that healed it, its verified successes and failures, the confidence and whether it is applied
 * without the coding agent. `layer1 kb show SIG` — one entry. `layer1 kb set SIG --auto-apply
 * on|off` — an operator's switch (off: never applied automatically). `--json` prints entries with
 * the names of src/knowledge/types.ts (src/knowledge/format.ts).
 */
import { type Command, Option } from 'commander';
import { ExitCode, UserError } from '../src/errors';
import type { LoadedConfig } from '../src/config/load';
import type { KnowledgeBase } from '../src/knowledge/kb';
import type { KnowledgeEntry } from '../src/knowledge/types';
import { configOf, withStore } from './cli-support';

async function withKb<T>(config: LoadedConfig, fn: (kb: KnowledgeBase) => Promise<T>): Promise<T> {
  const { KnowledgeBase } = await import('../src/knowledge/kb');
  return withStore(config, (store) => fn(new KnowledgeBase(store.db, config.incidents.knowledge)));
}

async function printEntry(entry: KnowledgeEntry, json: boolean | undefined): Promise<void> {
  const { kbDetail, kbEntryJson } = await import('../src/knowledge/format');
  if (json) console.log(JSON.stringify(kbEntryJson(entry)));
  else for (const line of kbDetail(entry)) console.log(line);
}

export function registerKbVerbs(program: Command): void {
  const list = async (cmd: Command): Promise<void> => {
    const opts = cmd.optsWithGlobals<{ limit: number; json?: boolean }>();
    if (!Number.isInteger(opts.limit) || opts.limit < 1) throw new UserError('--limit expects a positive integer', ExitCode.USAGE);
    const config = await configOf(cmd);
    const entries = await withKb(config, (kb) => kb.list({ limit: opts.limit }));
    const { kbEntryJson, kbTable } = await import('../src/knowledge/format');
    if (opts.json) console.log(JSON.stringify(entries.map(kbEntryJson)));
    else if (entries.length === 0) console.log('the knowledge base is empty: no incident has been seen yet');
    else for (const line of kbTable(entries)) console.log(line);
  };

  const kb = program
    .command('kb')
    .description('The knowledge base, most recently seen first: per signature its remedy, successes/failures, confidence, auto-apply, mean times to heal (`kb` = `kb list`)')
    .option('-n, --limit <n>', 'how many entries', (v) => Number(v), 50)
    .option('--json', 'print JSON')
    .action(async (_opts: unknown, cmd: Command) => list(cmd));

  kb.command('list')
    .description('List the entries, most recently seen first')
    .option('--json', 'print a JSON array of entries')
    .action(async (_opts: unknown, cmd: Command) => list(cmd));

  kb.command('show <signature>')
    .description('Show one entry: template, examples, remedy, verified outcomes, confidence, auto-apply')
    .option('--json', 'print the entry as JSON')
    .action(async (signature: string, _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{ json?: boolean }>();
      const config = await configOf(cmd);
      const { UnknownSignatureError } = await import('../src/knowledge/errors');
      const entry = await withKb(config, (k) => k.get(signature));
      if (!entry) throw new UnknownSignatureError(signature);
      await printEntry(entry, opts.json);
    });

  kb.command('set <signature>')
    .description("Turn automatic application of a signature's remedy off (always ask the coding agent) or back on")
    .addOption(new Option('--auto-apply <on|off>', 'on: applied automatically once confidence allows; off: never').choices(['on', 'off']).makeOptionMandatory())
    .option('--json', 'print the entry as JSON')
    .action(async (signature: string, _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{ autoApply: 'on' | 'off'; json?: boolean }>();
      const config = await configOf(cmd);
      const entry = await withKb(config, (k) => k.setAutoApply(signature, opts.autoApply === 'on'));
      await printEntry(entry, opts.json);
    });
}
