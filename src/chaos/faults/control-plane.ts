/** Control-plane faults: the control-plane workflow terminated. */
import { CONTROL_PLANE_WORKFLOW_ID } from '../../../contracts/control-plane';
import { FaultError, type FaultContext, type Injected } from './types';

/**
 * Terminates the control-plane workflow (`layer1-control-plane`) with a reason.
 *
 * restore: nothing; bringing it back is the control_plane_failover playbook's job (and `layer1 up`'s).
 */
export async function terminateControlPlane(
  ctx: FaultContext,
  options: { reason?: string } = {},
): Promise<Injected<{ workflowId: string; runId: string }>> {
  if (!ctx.temporal) throw new FaultError('terminateControlPlane needs a Temporal client (ctx.temporal)');
  const handle = ctx.temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
  const desc = await handle.describe();
  if (desc.status.name !== 'RUNNING') throw new FaultError(`${CONTROL_PLANE_WORKFLOW_ID} is not running (${desc.status.name})`);
  const reason = options.reason ?? 'chaos: terminateControlPlane';
  await handle.terminate(reason);
  return {
    detail: `terminated ${CONTROL_PLANE_WORKFLOW_ID} (run ${desc.runId}): ${reason}`,
    workflowId: CONTROL_PLANE_WORKFLOW_ID,
    runId: desc.runId,
    restore: async () => undefined,
  };
}
