/** The backlog action: open_backlog_item, work for people that a playbook cannot do itself. */
import { openBacklogItem } from '../../src/backlog/store';
import { action, idempotencyKey, type ActionDeps, type ActionGroup } from './shared';

export function backlogActions({ db }: ActionDeps): ActionGroup<'open_backlog_item'> {
  return {
    open_backlog_item: action('open_backlog_item', async ({ title, detail, severity }, meta) => {
      // Idempotent: upsert keyed on the run and step (insert-only fields).
      return openBacklogItem(db, {
        _id: idempotencyKey(meta),
        title,
        detail,
        severity,
        source: { playbook: meta.playbook, kernel: meta.kernel, workflowId: meta.workflowId, runId: meta.runId, stepId: meta.stepId },
      });
    }),
  };
}
