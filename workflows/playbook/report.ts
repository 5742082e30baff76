/** The run's report: its initial shape, and the evidence folded into it. */
import { setHandler, workflowInfo } from '@temporalio/workflow';
import { evidenceSignal, type FoldedEvidence, type PlaybookReport, type PlaybookRunInput } from '../../contracts/playbook';

export function newReport(input: PlaybookRunInput, kernel: string | null): PlaybookReport {
  return {
    workflowId: workflowInfo().workflowId,
    playbook: input.playbook.name,
    kernel,
    dryRun: input.dryRun ?? false,
    params: input.params,
    outcome: 'running',
    steps: input.playbook.steps.map((s) => ({
      id: s.id,
      action: s.action,
      status: 'pending',
      params: null,
      output: null,
      error: null,
      startedAt: null,
      finishedAt: null,
      approval: null,
      prompt: null,
    })),
    compensations: [],
    auditErrors: [],
    evidence: [],
    startedAt: new Date().toISOString(),
    finishedAt: null,
  };
}

/** One entry per evidence id; a repeat (the other replica, a repeated probe failure) counts. */
function fold(report: PlaybookReport, e: unknown): void {
  if (!e || typeof e !== 'object') return;
  const ev = e as Partial<FoldedEvidence>;
  const id = String(ev.id ?? '');
  const known = report.evidence.find((x) => x.id === id);
  if (known) {
    known.count++;
    return;
  }
  report.evidence.push({
    id,
    kind: String(ev.kind ?? ''),
    signature: String(ev.signature ?? ''),
    detail: String(ev.detail ?? ''),
    observer: String(ev.observer ?? ''),
    at: typeof ev.at === 'number' ? ev.at : 0,
    count: 1,
  });
}

/**
 * Folds the starting evidence, and every `evidence` signal after it, into the report. The
 * dispatcher's signal-with-start delivers the starting evidence again: it is counted once.
 */
export function foldEvidence(report: PlaybookReport, starting: unknown): void {
  if (starting) fold(report, starting);
  let startSignalSeen = !starting;
  setHandler(evidenceSignal, (e) => {
    if (!startSignalSeen && (e as { id?: unknown } | null)?.id === (starting as { id?: unknown }).id) {
      startSignalSeen = true;
      return;
    }
    fold(report, e);
  });
}
