/**
 * The preflight workflow: the walking skeleton through every layer. Its activities check the
 * configuration, Temporal, the store (write + read back), the bus (publish + consume), the ports
 * and the disk; the report is stored, returned, and answerable as a query while it runs.
 */
import { proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { getPreflightReportQuery, type PreflightReport, type PreflightWorkflow } from '../contracts/preflight';
import { OutcomeAttr, PhaseAttr } from '../contracts/search-attributes';
import type { PreflightActivities } from '../activities/preflight';
import { checkActivity, recordActivity } from './policies';

const checks = proxyActivities<PreflightActivities>(checkActivity);
const records = proxyActivities<PreflightActivities>(recordActivity);

export const preflightWorkflow: PreflightWorkflow = async (): Promise<PreflightReport> => {
  const report: PreflightReport = {
    workflowId: workflowInfo().workflowId,
    ok: false,
    checks: [],
    // Date is deterministic in workflow code: it is the time of the current workflow task.
    startedAt: new Date().toISOString(),
    finishedAt: null,
  };
  setHandler(getPreflightReportQuery, () => report);
  upsertSearchAttributes([{ key: PhaseAttr, value: 'preflight' }]);

  // Independent checks run side by side; each returns a result instead of throwing, so one
  // failure does not hide the others.
  report.checks = await Promise.all([
    checks.checkConfig(),
    checks.checkTemporal(),
    checks.checkStore(),
    checks.checkBus(),
    checks.checkDisk(),
    checks.checkPorts(),
  ]);
  report.ok = report.checks.every((c) => c.ok);
  report.finishedAt = new Date().toISOString();
  upsertSearchAttributes([{ key: OutcomeAttr, value: report.ok ? 'passed' : 'failed' }]);
  await records.recordPreflight(report);
  return report;
};
