/**
 * The tables of the docs that list what a registry holds — the kernels, the actions — generated
 * from the registries themselves (`npm run docs` rewrites them; a unit test fails when one is out
 * of date), so a kernel or an action added in code is in the docs without anyone counting.
 *
 * A generated table sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`.
 */
import { parseConfig } from '../config/load';
import { KERNEL_NAMES } from '../domain/kernels';
import { describeActions } from '../playbooks/format';
import { KERNELS } from '../../kernels/registry';
import { FAULTS, type FaultName } from '../chaos/faults/types';
import { FAULT_PARAMS } from '../chaos/cards/fault-params';
import { FAULT_REACH } from '../chaos/cards/blast-radius';
import { loadCards } from '../chaos/cards/loader';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Every kernel from its manifest; processes as the default configuration names them. */
export function kernelsTable(): string {
  const config = parseConfig('', '/dev/null/temporal.config.yaml', {});
  const rows = KERNEL_NAMES.map((k) => {
    const { manifest: m, processes } = KERNELS[k];
    return `| \`${k}\` | ${m.phase} | ${m.critical ? 'yes' : 'no (degraded mode)'} | ${processes(config).map((p) => `\`${p}\``).join(', ')} | ${m.busUser ? `\`${m.busUser}\`` : '—'} | ${cell(m.title)} |`;
  });
  return ['| kernel | boot phase | critical by default | processes | bus user | what it is |', '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

/** Every action primitive: its parameters (required ones starred) and whether it is risky. */
export function actionsTable(): string {
  const rows = describeActions().map((a) => {
    const params = a.params.map((p) => `\`${p.name}\`${p.required ? '*' : ''}`).join(', ') || '—';
    return `| \`${a.name}\` | ${a.risky ? 'yes' : 'no'} | ${params} | ${cell(a.description)} |`;
  });
  return ['| action | risky | parameters (* required) | what it does |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** Every fault injector: its parameters (required ones starred) and what its card's blast radius must hold. */
export function faultsTable(): string {
  const rows = (Object.keys(FAULTS) as FaultName[]).map((f) => {
    const shape = FAULT_PARAMS[f].shape as Record<string, { safeParse: (v: unknown) => { success: boolean } }>;
    const required = Object.keys(shape).filter((k) => !shape[k].safeParse(undefined).success);
    const params = Object.keys(shape).map((k) => `\`${k}\`${required.includes(k) ? '*' : ''}`).join(', ') || '—';
    const reach = FAULT_REACH[f](Object.fromEntries(required.map((k) => [k, `<${k}>`])));
    const touches = [...reach.files.map((x) => `\`${x.entry}\``), ...reach.processes.map((x) => `process \`${x.name}\``)].join(', ') || 'nothing on disk';
    return `| \`${f}\` | ${params} | ${touches} | ${cell(FAULTS[f])} |`;
  });
  return ['| fault | parameters (* required) | its blast radius must hold | what it does |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The shipped failure cards (`chaos/cards/`), as the loader validates them. */
export function cardsTable(): string {
  const rows = loadCards().cards.map((c) => {
    const target = 'process' in c.target ? `process \`${c.target.process}\`` : `kernel \`${c.target.kernel}\``;
    const params = Object.entries(c.injection.params).map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ');
    const fault = `\`${c.injection.fault}\`${params ? ` (${cell(params)})` : ''}`;
    return `| \`${c.id}\` | ${c.risk} | ${target} | ${fault} | ${c.expect.evidence.map((e) => `\`${e}\``).join(', ')} | \`${c.expect.remedy}\` | ${c.timeouts.recovered} |`;
  });
  return ['| card | risk | target | injection | expected evidence (any) | remedy | recovered within |', '| --- | --- | --- | --- | --- | --- | --- |', ...rows].join('\n');
}

export const TABLES: Record<string, () => string> = { kernels: kernelsTable, actions: actionsTable, faults: faultsTable, cards: cardsTable };

/**
 * The text with each generated region's table rebuilt. Regions name a table of TABLES; an
 * unknown name or an unclosed region is an error, not silence.
 */
export function regenerate(text: string, file: string): string {
  return text.replace(/<!-- generated:([a-z-]+) -->\n[\s\S]*?<!-- \/generated:([a-z-]+) -->/g, (_m, open: string, close: string) => {
    if (open !== close) throw new Error(`${file}: region generated:${open} is closed by generated:${close}`);
    const table = TABLES[open];
    if (!table) throw new Error(`${file}: no generated table named "${open}" (known: ${Object.keys(TABLES).join(', ')})`);
    return `<!-- generated:${open} -->\n${table()}\n<!-- /generated:${open} -->`;
  });
}

/** The docs that carry generated tables. */
export const GENERATED_DOCS = ['docs/architecture.md', 'docs/actions.md', 'docs/chaos.md'];
