/**
 * How `layer1 kb` shows knowledge-base entries: their JSON (the names are a contract: later
 * versions add fields, never rename them), the list's table and the detail of one. Pure.
 */
import { formatDuration, formatTime, table } from '../incidents/format';
import type { KnowledgeEntry } from './types';

/** The contract's fields first, in this order; the entry's other fields (examples, manualOnly) after. */
export function kbEntryJson(e: KnowledgeEntry): Record<string, unknown> {
  const { signature, template, kernel, errorType, occurrences, remedy, successes, failures, confidence, autoApply, mtthKnownMs, mtthNewMs, firstSeen, lastSeen, ...extras } = e;
  return { signature, template, kernel, errorType, occurrences, remedy, successes, failures, confidence, autoApply, mtthKnownMs, mtthNewMs, firstSeen, lastSeen, ...extras };
}

export const formatRemedyOf = (e: KnowledgeEntry): string => (e.remedy ? `${e.remedy.kind} ${e.remedy.name}` : '-');
/** `on`, `off` (not yet earned), or `manual` (an operator turned it off). */
export const formatAutoApply = (e: KnowledgeEntry): string => (e.manualOnly ? 'manual' : e.autoApply ? 'on' : 'off');

export function kbTable(entries: KnowledgeEntry[]): string[] {
  return table(
    ['SIGNATURE', 'KERNEL', 'SEEN', 'REMEDY', 'OK/FAIL', 'CONFIDENCE', 'AUTO', 'MTTH KNOWN', 'MTTH NEW', 'LAST SEEN'],
    entries.map((e) => [
      e.signature,
      e.kernel ?? '-',
      String(e.occurrences),
      formatRemedyOf(e),
      `${e.successes}/${e.failures}`,
      e.confidence.toFixed(2),
      formatAutoApply(e),
      formatDuration(e.mtthKnownMs),
      formatDuration(e.mtthNewMs),
      formatTime(e.lastSeen),
    ]),
  );
}

export function kbDetail(e: KnowledgeEntry): string[] {
  const params = e.remedy && Object.keys(e.remedy.params ?? {}).length ? ` ${JSON.stringify(e.remedy.params)}` : '';
  return [
    `signature ${e.signature}`,
    `template ${e.template || '-'}`,
    `kernel ${e.kernel ?? '-'}, error type ${e.errorType || '-'}`,
    `seen ${e.occurrences} time${e.occurrences === 1 ? '' : 's'}, first ${formatTime(e.firstSeen)}, last ${formatTime(e.lastSeen)}`,
    `remedy ${formatRemedyOf(e)}${params}${e.remedy?.changeSet ? ` (change set ${e.remedy.changeSet}: its diff in \`layer1 incidents show\`, undone by \`layer1 incidents rollback\`)` : ''}`,
    `verified ${e.successes} success${e.successes === 1 ? '' : 'es'}, ${e.failures} failure${e.failures === 1 ? '' : 's'}; confidence ${e.confidence.toFixed(3)}`,
    `auto-apply ${formatAutoApply(e)}${e.manualOnly ? ' (turned off: `layer1 kb set SIG --auto-apply on` turns it back on)' : ''}`,
    `mean time to heal: known ${formatDuration(e.mtthKnownMs)}, new ${formatDuration(e.mtthNewMs)}`,
    ...(e.examples.length ? ['examples:', ...e.examples.map((x) => `  ${x.length > 160 ? `${x.slice(0, 159)}…` : x}`)] : []),
  ];
}
