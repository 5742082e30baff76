/**
 * Activities the playbook workflow needs besides the actions: asking for a kernel's lock, and
 * storing the finished report.
 */
import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import type { LoadedConfig } from '../src/config/load';
import { acquireLockSignal, kernelLockId, type LockRequest } from '../workflows/kernel-lock';
import type { PlaybookReport } from '../workflows/playbook';

export interface PlaybookActivityDeps {
  config: LoadedConfig;
  db: Db;
  temporal: Client;
}

export const PLAYBOOK_RUNS_COLLECTION = 'playbook_runs';

export function createPlaybookActivities({ config, db, temporal }: PlaybookActivityDeps) {
  return {
    /**
     * Asks the kernel's lock workflow for the lock, starting it on first use. Idempotent: the lock
     * ignores a request from a run that already holds it or waits for it.
     */
    async requestKernelLock(kernel: string, requester: string, mode: LockRequest['mode']): Promise<void> {
      await temporal.workflow.signalWithStart('kernelLockWorkflow', {
        workflowId: kernelLockId(kernel),
        taskQueue: config.temporal.taskQueues.healing,
        args: [],
        signal: acquireLockSignal,
        signalArgs: [{ requester, mode }],
      });
    },

    /** Stores the report. Idempotent: replace keyed on the run's workflow id. */
    async recordPlaybookRun(report: PlaybookReport): Promise<void> {
      await db
        .collection<PlaybookReport & { _id: string }>(PLAYBOOK_RUNS_COLLECTION)
        .replaceOne({ _id: report.workflowId }, report, { upsert: true });
    },
  };
}

export type PlaybookActivities = ReturnType<typeof createPlaybookActivities> & {
  // The audit entry goes through the append_audit action, declared here for the workflow's proxy.
  append_audit(params: { kind: string; data: Record<string, unknown> }, meta: unknown): Promise<{ seq: number; hash: string }>;
};
