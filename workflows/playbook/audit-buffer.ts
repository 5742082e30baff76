/**
 * The run's audit entries, buffered in the workflow and appended to the immutable log in batches
 * by a local activity: at a step boundary once the oldest entry is AUDIT_FLUSH_AGE_MS old, before
 * any long wait (approval gate, kernel lock), and with the run's end (finishPlaybookRun). So the
 * log costs the run no server round trip, and is never far behind it.
 */
import { proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { AuditEntry, AuditFlush, PlaybookActivities } from '../../activities/playbooks';
import { localAuditActivity } from '../policies';

/** At a step boundary, buffered entries are flushed once the oldest is this old (workflow time). */
export const AUDIT_FLUSH_AGE_MS = 2_000;

const local = proxyLocalActivities<PlaybookActivities>(localAuditActivity);

export class AuditBuffer {
  private readonly entries: AuditEntry[] = [];
  private readonly run: AuditFlush['run'];
  /** A log seq no flush attempt of this run can precede: bounds the search for an earlier attempt's entries. */
  afterSeq: number | null = null;

  constructor(playbook: string, kernel: string | null) {
    const { workflowId, runId } = workflowInfo();
    this.run = { workflowId, runId, playbook, kernel };
  }

  add(kind: string, data: Record<string, unknown>, key: string): void {
    this.entries.push({ key, kind, data: { playbook: this.run.playbook, run: this.run.workflowId, ...data }, at: Date.now() });
  }

  async flush(): Promise<void> {
    if (this.entries.length === 0) return;
    const entries = this.entries.slice();
    try {
      const r = await local.flushPlaybookAudit({ run: this.run, entries, afterSeq: this.afterSeq });
      this.entries.splice(0, entries.length);
      this.afterSeq = r.seq;
    } catch {
      // The log may be what this run repairs: the entries stay buffered (in order) for the next
      // flush, and the run's end lists what still did not land in the report's auditErrors.
    }
  }

  /** A step boundary: flush when the oldest entry is old enough, so the log is never far behind. */
  async flushIfOld(): Promise<void> {
    if (this.entries.length > 0 && Date.now() - this.entries[0].at >= AUDIT_FLUSH_AGE_MS) await this.flush();
  }

  /** What the run's end appends: everything still buffered. The buffer is empty after. */
  drain(): AuditFlush {
    return { run: this.run, entries: this.entries.splice(0), afterSeq: this.afterSeq };
  }
}
