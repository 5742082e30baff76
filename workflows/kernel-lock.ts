/**
 * One playbook run per kernel at a time: a lock workflow per kernel (`kernel-lock-<kernel>`), the
 * mutex pattern of Temporal's samples. A playbook run asks for the lock with the `acquire` signal
 * (sent with signal-with-start by an activity, so the lock exists on first use); the lock answers
 * by signalling the requester `lockGranted`, or `lockRefused` when the requester asked not to wait
 * and another run holds it. `release` hands it to the next in line. Long-lived: it continues-as-new
 * with its queue when Temporal suggests it.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  getExternalWorkflowHandle,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';

export interface LockRequest {
  /** Workflow id of the run that wants the lock. */
  requester: string;
  mode: 'wait' | 'refuse';
}

export interface LockState {
  holder: string | null;
  queue: string[];
}

export const acquireLockSignal = defineSignal<[LockRequest]>('acquire');
export const releaseLockSignal = defineSignal<[{ requester: string }]>('release');
export const lockGrantedSignal = defineSignal<[{ lock: string }]>('lockGranted');
export const lockRefusedSignal = defineSignal<[{ lock: string; holder: string }]>('lockRefused');
export const getLockStateQuery = defineQuery<LockState>('getLockState');

export function kernelLockId(kernel: string): string {
  return `kernel-lock-${kernel}`;
}

export async function kernelLockWorkflow(initial?: LockState): Promise<void> {
  const state: LockState = initial ?? { holder: null, queue: [] };
  const lock = workflowInfo().workflowId;
  const pending: Array<Promise<void>> = [];
  const tell = (requester: string, granted: boolean): void => {
    const handle = getExternalWorkflowHandle(requester);
    // A requester that ended meanwhile cannot be told; the lock must not fail for that.
    pending.push(
      (granted ? handle.signal(lockGrantedSignal, { lock }) : handle.signal(lockRefusedSignal, { lock, holder: state.holder ?? '' })).catch(
        () => undefined,
      ),
    );
  };
  const grantNext = (): void => {
    while (state.holder === null && state.queue.length > 0) {
      state.holder = state.queue.shift()!;
      tell(state.holder, true);
    }
  };

  setHandler(getLockStateQuery, () => state);
  setHandler(acquireLockSignal, ({ requester, mode }) => {
    if (state.holder === requester || state.queue.includes(requester)) return; // a retried request
    if (state.holder !== null && mode === 'refuse') {
      tell(requester, false);
      return;
    }
    state.queue.push(requester);
    grantNext();
  });
  setHandler(releaseLockSignal, ({ requester }) => {
    if (state.holder === requester) state.holder = null;
    else state.queue = state.queue.filter((r) => r !== requester);
    grantNext();
  });
  grantNext();

  await condition(() => workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await Promise.all(pending);
  await continueAsNew<typeof kernelLockWorkflow>(state);
}
