/** Contract of the preflight workflow (workflows/preflight.ts). */
import { defineQuery } from '@temporalio/workflow';
import type { CheckResult } from '../src/domain/checks';

export const PREFLIGHT_WORKFLOW = 'preflightWorkflow';
export type PreflightWorkflow = () => Promise<PreflightReport>;

/** One id per run: preflight is run on demand, and each run keeps its own history. */
export function preflightWorkflowId(at: Date): string {
  return `preflight-${at.toISOString().replace(/[:.]/g, '-')}`;
}

export interface PreflightReport {
  workflowId: string;
  ok: boolean;
  checks: CheckResult[];
  startedAt: string;
  finishedAt: string | null;
}

export const getPreflightReportQuery = defineQuery<PreflightReport>('getPreflightReport');
