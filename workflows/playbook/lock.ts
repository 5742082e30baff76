/**
 * One run per kernel at a time: the kernel's lock is a compare-and-set document in the store
 * (activities/kernel-locks.ts), taken by a local activity when the run begins. A run that has to
 * wait is told by the releasing run's `lockGranted` signal, and re-checks every LOCK_RECHECK_MS
 * meanwhile, so a holder whose run ended without releasing (terminated) is taken over.
 */
import { condition, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { LockOwner } from '../../activities/kernel-locks';
import type { PlaybookActivities } from '../../activities/playbooks';
import { lockGrantedSignal } from '../../contracts/playbook';
import { localRecordActivity } from '../policies';

/** How often a run waiting for the lock checks it again, besides the `lockGranted` signal. */
export const LOCK_RECHECK_MS = 15_000;

const local = proxyLocalActivities<PlaybookActivities>(localRecordActivity);

export type LockState = 'none' | 'granted' | 'refused';

export interface RunStart {
  /** The lock's state after the begin (`none` when the run locks nothing). */
  lock: { state: LockState | 'queued' };
  /** The log's head when the run began (null when the log did not answer). */
  logSeq: number | null;
}

/** The run's owner id for the lock. */
export function lockOwner(): LockOwner {
  const { workflowId, runId } = workflowInfo();
  return { workflowId, runId };
}

/**
 * The run's first local activity: the kernel's lock (when `kernel` is given) and the log's head.
 * A signal that arrives before the activity's answer sets the state as well.
 */
export async function beginRun(kernel: string | null, mode: 'wait' | 'refuse'): Promise<RunStart> {
  // An object, so TypeScript does not narrow it across the awaits the signals interleave with.
  const lock: RunStart['lock'] = { state: 'none' };
  setHandler(lockGrantedSignal, () => {
    lock.state = 'granted';
  });
  const begun = await local.beginPlaybookRun({ lock: kernel ? { kernel, owner: lockOwner(), mode } : null });
  const answer = begun.lock?.state;
  if (answer === 'granted' || answer === 'refused') lock.state = answer;
  else if (answer === 'queued' && lock.state === 'none') lock.state = 'queued';
  return { lock, logSeq: begun.logSeq };
}

/** Waits for a queued lock: told by the releasing run's signal, re-checked meanwhile. */
export async function awaitLock(kernel: string, mode: 'wait' | 'refuse', lock: RunStart['lock']): Promise<void> {
  while (!(await condition(() => lock.state === 'granted', LOCK_RECHECK_MS))) {
    const again = await local.acquireKernelLock(kernel, lockOwner(), mode);
    if (again.state === 'granted') lock.state = 'granted';
  }
}
