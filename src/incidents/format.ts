/**
 * How `layer1 incidents` shows incidents: their JSON (the names are a contract: later versions add
 * fields, never rename them), the list's table, the detail of one, and finding one by id prefix.
 * Pure: the CLI reads the documents, this formats them.
 */
import type { Incident, IncidentState } from '../../contracts/incident';

/** A stored incident: `_id` is its id; a document written early may lack fields. */
export type IncidentDoc = { _id: string } & Partial<Omit<Incident, 'openedAt' | 'closedAt'>> & {
  openedAt?: string | Date | null;
  closedAt?: string | Date | null;
};

/** `--state` values and the states each selects: `open` is every state before the outcome. */
export const INCIDENT_STATE_FILTERS: Record<'open' | 'closed' | 'reopened', IncidentState[]> = {
  open: ['open', 'diagnosing', 'remedying', 'verifying'],
  closed: ['closed'],
  reopened: ['reopened'],
};
export type IncidentStateFilter = keyof typeof INCIDENT_STATE_FILTERS;
export const isIncidentStateFilter = (s: string): s is IncidentStateFilter => Object.hasOwn(INCIDENT_STATE_FILTERS, s);

/** The contract's fields, in the order `--json` prints them; other stored fields follow. */
const CONTRACT_FIELDS = [
  'id',
  'signature',
  'kernel',
  'state',
  'openedAt',
  'closedAt',
  'evidenceCount',
  'known',
  'autoApplied',
  'remedy',
  'diagnostics',
  'verification',
  'timeToHealMs',
  'clarity',
] as const;

const iso = (d: string | Date | null | undefined): string | null => (d instanceof Date ? d.toISOString() : (d ?? null));

export interface IncidentJson {
  id: string;
  signature: string | null;
  kernel: string | null;
  state: IncidentState | null;
  openedAt: string | null;
  closedAt: string | null;
  evidenceCount: number;
  known: boolean;
  autoApplied: boolean;
  remedy: (Record<string, unknown> & { kind: string; name: string; runId: string | null }) | null;
  diagnostics: (Record<string, unknown> & { logLines: string[]; heartbeats: unknown[]; resources: Record<string, unknown> }) | null;
  verification:
    | (Record<string, unknown> & {
        ok: boolean;
        checks: Array<Record<string, unknown> & { name: string; ok: boolean; command: string; exitCode: number | null; output: string }>;
      })
    | null;
  timeToHealMs: number | null;
  clarity: Incident['clarity'];
  [extra: string]: unknown;
}

/** An incident as `layer1 incidents --json` prints it: every contract field present, extras after. */
export function incidentJson(doc: IncidentDoc): IncidentJson {
  const { _id, ...rest } = doc;
  const r = doc.remedy;
  const d = doc.diagnostics;
  const v = doc.verification;
  const json: IncidentJson = {
    id: doc.id ?? _id,
    signature: doc.signature ?? null,
    kernel: doc.kernel ?? null,
    state: doc.state ?? null,
    openedAt: iso(doc.openedAt),
    closedAt: iso(doc.closedAt),
    evidenceCount: doc.evidenceCount ?? 0,
    known: doc.known ?? false,
    autoApplied: doc.autoApplied ?? false,
    remedy: r ? { ...r, kind: r.kind, name: r.name, runId: r.runId ?? null } : null,
    diagnostics: d ? { ...d, logLines: d.logLines ?? [], heartbeats: d.heartbeats ?? [], resources: d.resources ?? {} } : null,
    verification: v
      ? {
          ...v,
          ok: v.ok,
          checks: (v.checks ?? []).map((c) => ({ ...c, name: c.name, ok: c.ok, command: c.command ?? '', exitCode: c.exitCode ?? null, output: c.output ?? '' })),
        }
      : null,
    timeToHealMs: doc.timeToHealMs ?? null,
    clarity: doc.clarity ?? null,
  };
  for (const [k, value] of Object.entries(rest)) {
    if (!(CONTRACT_FIELDS as readonly string[]).includes(k)) json[k] = value instanceof Date ? value.toISOString() : value;
  }
  return json;
}

/** 850 ms, 12.3 s, 4 min 05 s, 2 h 10 min; `-` for none. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** `2026-12-06T04:17:01Z`: the ISO time to the second. */
export const formatTime = (t: string | null): string => (t ? t.replace(/\.\d+Z$/, 'Z') : '-');

export const formatRemedy = (r: IncidentJson['remedy']): string => (r ? `${r.kind} ${r.name}` : '-');

/** Lines of a table whose columns are as wide as their widest cell. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

export function incidentsTable(incidents: IncidentJson[]): string[] {
  return table(
    ['ID', 'STATE', 'SIGNATURE', 'KERNEL', 'OPENED', 'TIME TO HEAL', 'REMEDY'],
    incidents.map((i) => [i.id, i.state ?? '?', i.signature ?? '-', i.kernel ?? '-', formatTime(i.openedAt), formatDuration(i.timeToHealMs), formatRemedy(i.remedy)]),
  );
}

/** A value on one line, cut to `max` characters. */
function brief(value: unknown, max = 80): string {
  const s = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Log lines shown in the detail (the last ones: nearest the event's end). */
const LOG_LINES_SHOWN = 10;
/** Output lines shown of a failed check (its end, where errors are). */
const OUTPUT_LINES_SHOWN = 5;

/**
 * One incident as a person reads it: the seed's steps numbered, then diagnostics, remedy,
 * verification (each check's command and exit code) and time to heal.
 */
export function incidentDetail(i: IncidentJson): string[] {
  const out: string[] = [];
  out.push(`incident ${i.id}  ${i.state ?? '?'}${i.kernel ? `  kernel ${i.kernel}` : ''}`);
  out.push(`signature ${i.signature ?? '-'}${typeof i.template === 'string' && i.template ? `  (${i.template})` : ''}`);
  out.push(
    `opened ${formatTime(i.openedAt)}, ${i.closedAt ? `closed ${formatTime(i.closedAt)}` : 'not closed'}; ${i.evidenceCount} evidence; ` +
      `${i.known ? `known${i.autoApplied ? ', remedy auto-applied' : ''}` : 'new'}${typeof i.attempts === 'number' ? `; ${i.attempts} attempt${i.attempts === 1 ? '' : 's'}` : ''}`,
  );
  const c = i.clarity;
  if (c?.steps?.length) {
    out.push('', 'steps:');
    const w = String(c.steps.length).length;
    c.steps.forEach((s, n) => out.push(`  ${String(n + 1).padStart(w)}. ${s}`));
  }
  out.push('', 'diagnostics:');
  if (!i.diagnostics) out.push('  none collected');
  else {
    const { logLines, heartbeats, resources } = i.diagnostics;
    out.push(`  log lines: ${logLines.length}${logLines.length > LOG_LINES_SHOWN ? ` (last ${LOG_LINES_SHOWN})` : ''}`);
    for (const l of logLines.slice(-LOG_LINES_SHOWN)) out.push(`    ${brief(l, 160)}`);
    out.push(`  heartbeats: ${heartbeats.length}${heartbeats.length ? `, last ${brief(heartbeats[heartbeats.length - 1])}` : ''}`);
    const keys = Object.keys(resources);
    out.push(`  resources: ${keys.length ? '' : 'none'}`.trimEnd());
    for (const k of keys) out.push(`    ${k}: ${brief(resources[k])}`);
  }
  out.push('', 'remedy:');
  if (!i.remedy) out.push('  none');
  else {
    const r = i.remedy;
    out.push(`  ${r.kind} ${r.name}${r.runId ? ` (${r.runId})` : ''}${r.chosenBy ? `, chosen by ${String(r.chosenBy).replace('_', ' ')}` : ''}`);
    if (r.reason) out.push(`  why: ${String(r.reason)}`);
    if (r.outcome) out.push(`  outcome: ${String(r.outcome)}`);
  }
  out.push('', `verification: ${i.verification ? (i.verification.ok ? 'passed' : 'failed') : 'not run'}`);
  for (const ch of i.verification?.checks ?? []) {
    out.push(`  ${ch.ok ? '✓' : '✗'} ${ch.name.padEnd(9)} ${ch.command ? `\`${ch.command}\`` : '-'}  exit ${ch.exitCode ?? '-'}${typeof ch.ms === 'number' ? `  ${formatDuration(ch.ms)}` : ''}`);
    if (!ch.ok && ch.output) for (const l of ch.output.trimEnd().split('\n').slice(-OUTPUT_LINES_SHOWN)) out.push(`      ${brief(l, 160)}`);
  }
  out.push('', `time to heal: ${formatDuration(i.timeToHealMs)}`);
  if (c) {
    out.push('', 'clarity:', `  seen: ${c.seen}`, `  decided: ${c.decided}`, `  why: ${c.why}`, `  outcome: ${c.outcome}`);
  }
  return out;
}

/** The regular expression the store matches candidate ids with: the prefix, with or without `inc-`. */
export function incidentIdPattern(prefix: string): string {
  const escaped = prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return prefix.startsWith('inc-') ? `^${escaped}` : `^(inc-)?${escaped}`;
}

/**
 * Which incident `input` names among `ids`: the exact id, else the one id it is a prefix of (with
 * or without `inc-`).
 */
export function resolveIncidentId(input: string, ids: string[]): { id: string } | { error: 'none' | 'ambiguous'; matches: string[] } {
  if (ids.includes(input)) return { id: input };
  if (ids.includes(`inc-${input}`)) return { id: `inc-${input}` };
  const matches = [...new Set(ids.filter((id) => id.startsWith(input) || id.startsWith(`inc-${input}`)))].sort();
  if (matches.length === 1) return { id: matches[0] };
  return { error: matches.length === 0 ? 'none' : 'ambiguous', matches };
}
