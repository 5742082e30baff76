/**
 * The clarity entry of an incident: what was seen, what was decided and why, and the outcome, in
 * the order of the seed's "Message Bus ACL Violation" scenario. Pure: built from the incident.
 */
import type { ClarityEntry, Incident } from '../contracts/incident';
import type { KnowledgeEntry } from '../src/knowledge/types';

export function clarityOf(inc: Incident, entry: KnowledgeEntry | null): ClarityEntry {
  const e = inc.evidence.first;
  const d = inc.diagnostics;
  const v = inc.verification;
  const remedy = inc.remedy;
  const conf = entry ? `confidence ${entry.confidence.toFixed(3)} (${entry.successes} verified, ${entry.failures} failed), auto-apply ${entry.autoApply ? 'on' : 'off'}` : 'no entry';
  const seen = `${e.kind} on ${e.kernel ?? e.process ?? 'the stack'}: ${e.detail}`;
  const decided = remedy ? `${remedy.kind} ${remedy.name}${inc.autoApplied ? ' (auto-applied from the knowledge base)' : ' (chosen by the coding agent)'}` : 'no remedy';
  const outcome = inc.state === 'closed' ? `closed: healed in ${inc.timeToHealMs ?? '?'} ms, verified` : `${inc.state}: ${inc.errors[inc.errors.length - 1] ?? 'not verified'}`;
  const steps = [
    `${e.kind} seen by ${e.observer}: ${e.text.split('\n')[0]}`,
    `The healing seam recorded the evidence${['exited', 'liveness_failed', 'not_ready'].includes(e.kind) ? ' and signalled the control plane' : ''}; incident ${inc.id} opened (${inc.evidenceCount} report${inc.evidenceCount === 1 ? '' : 's'} attached)`,
    `Error recognition: template "${inc.template}"`,
    d
      ? `Diagnostics: ${d.logLines.length} log line(s) around the event; ${d.heartbeats.length} control-plane record(s); resources of ${Object.keys(d.resources).filter((k) => k !== 'disk').length} process(es) and the disk`
      : 'Diagnostics: not collected',
    `Signature: ${inc.signature}`,
    `Knowledge base checked: ${inc.known ? 'KNOWN' : 'NEW'} signature`,
    inc.autoApplied ? 'Auto-applied the verified remedy: the coding agent was not needed' : 'Dispatched to the coding agent with the diagnostics',
    remedy ? `Remedy: ${decided}; why: ${remedy.reason ?? '-'}` : `No remedy: ${inc.errors[0] ?? 'none known'}`,
    remedy ? `${remedy.kind === 'playbook' ? 'Playbook' : 'Fix'} ${remedy.name} ran (${remedy.runId ?? '-'}): ${remedy.outcome ?? '-'}` : 'Nothing ran',
    v ? `Verification ${v.ok ? 'passed' : 'failed'}: ${v.checks.map((c) => `${c.name} ${c.ok ? 'ok' : 'FAILED'}`).join(', ')}` : 'Verification: not run',
    inc.state === 'closed' ? `Incident closed at ${inc.closedAt}; time to heal ${inc.timeToHealMs ?? '?'} ms` : `Incident ${inc.state} after ${inc.attempts} attempt(s); a backlog item is opened`,
    `Knowledge base updated: ${conf}`,
    entry?.autoApply ? `Next time: auto-applied without the coding agent (${entry.remedy?.name ?? '-'})` : `Next time: the coding agent again, until the remedy's confidence reaches the threshold`,
  ];
  return { seen, decided, why: remedy?.reason ?? inc.errors[0] ?? '', outcome, steps };
}
