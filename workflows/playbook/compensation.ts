/** Compensations of the completed steps, in reverse; a failing one never stops the others. */
import { errorText } from '../../src/domain/errors';
import { actionMeta, actionOf, type RunContext } from './context';

export async function compensate(ctx: RunContext): Promise<void> {
  for (const c of [...ctx.compensations].reverse()) {
    try {
      await actionOf(c)(c.params, actionMeta(ctx, `compensate:${c.stepId}`));
      ctx.report.compensations.push({ stepId: c.stepId, action: c.action, params: c.params, ok: true, error: null });
    } catch (err) {
      ctx.report.compensations.push({ stepId: c.stepId, action: c.action, params: c.params, ok: false, error: errorText(err) });
    }
  }
}
