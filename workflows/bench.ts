/**
 * The floor later issues compare against: a bare workflow of N no-op activities in sequence.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { BenchActivities } from '../activities/bench';
import type { NoopActivitiesWorkflow } from '../contracts/bench';

const { noop } = proxyActivities<BenchActivities>({ startToCloseTimeout: '10 seconds' });

export const noopActivitiesWorkflow: NoopActivitiesWorkflow = async (count: number): Promise<number> => {
  for (let i = 0; i < count; i++) await noop(i);
  return count;
};
