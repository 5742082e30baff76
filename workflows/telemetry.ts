/**
 * The scheduled telemetry run (Temporal Schedule `layer1-telemetry`, every 60 s by default): the
 * telemetry document published on `telemetry.layer1.metrics` and kept in the store, then the
 * store's documents older than `telemetry.keepMs` removed (the store has no TTL indexes).
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { TelemetryRunReport, TelemetryWorkflow } from '../contracts/schedules';
import type { ScheduleActivities } from '../activities/schedules';
import { telemetryActivity } from './policies';

const telemetry = proxyActivities<ScheduleActivities>(telemetryActivity);

export const telemetryWorkflow: TelemetryWorkflow = async (): Promise<TelemetryRunReport> => {
  const published = await telemetry.publishTelemetry({ id: workflowInfo().workflowId });
  const pruned = await telemetry.pruneTelemetry({ now: new Date().toISOString() });
  return { ...published, pruned };
};
