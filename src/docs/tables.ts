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

export const TABLES: Record<string, () => string> = { kernels: kernelsTable, actions: actionsTable };

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
export const GENERATED_DOCS = ['docs/architecture.md', 'docs/actions.md'];
