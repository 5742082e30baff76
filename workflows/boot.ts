/**
 * The boot workflow: 7 phases, each kernel waiting on its real self-test.
 *
 *   1 preflight → 2 message bus → 3 immutable log → 4 self-healing → 5 coding agent →
 *   6 snapshots and schedules (a hook, filled later) → 7 warmup and watchdogs
 *
 * Kernels of one phase start side by side. A critical kernel that never passes its self-test fails
 * the boot with a report naming the failed checks; an optional one sets degraded mode. Booting a
 * running system starts nothing (every start is a no-op for live processes) and verifies
 * readiness. The report is the result and a query, and is stored and published.
 */
import { ApplicationFailure, defineQuery, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { CheckResult } from '../src/domain/checks';
import { BOOT_PHASES, type KernelName } from '../src/domain/kernels';
import type { KernelActivities } from '../activities/kernels';
import type { PreflightActivities } from '../activities/preflight';
import { checkActivity, lifecycleActivity, recordActivity } from './policies';
import { waitKernelReady, type ReadinessPolicy } from './readiness';
import { KernelAttr, OutcomeAttr, PhaseAttr } from './search-attributes';

export interface BootKernelSettings {
  critical: boolean;
  readiness: ReadinessPolicy;
}

export interface BootInput {
  kernels: Record<KernelName, BootKernelSettings>;
  /** Passed on to the control plane it starts in phase 7. */
  controlPlane: { restartBackoff: { initialMs: number; maxMs: number }; crashLoop: { restarts: number; windowMs: number } };
}

export interface KernelBootResult {
  kernel: KernelName;
  phase: number;
  critical: boolean;
  ready: boolean;
  /** Self-test attempts beyond the first. */
  retries: number;
  /** From the start of its phase to its self-test passing (or giving up). */
  timeToReadyMs: number;
  degraded: boolean;
  pids: Record<string, number | null>;
  checks: CheckResult[];
}

export interface PhaseResult {
  phase: number;
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface BootReport {
  bootId: string;
  ok: boolean;
  degraded: boolean;
  currentPhase: string;
  phases: PhaseResult[];
  preflight: CheckResult[];
  kernels: KernelBootResult[];
  /** `kernel.check: detail` for every failed check of a kernel that did not become ready. */
  failedChecks: string[];
  startedAt: string;
  finishedAt: string | null;
}

export const getBootReportQuery = defineQuery<BootReport>('getBootReport');

export const BOOT_FAILED = 'BootFailed';

const preflight = proxyActivities<PreflightActivities>(checkActivity);
const lifecycle = proxyActivities<KernelActivities>(lifecycleActivity);
const records = proxyActivities<KernelActivities>(recordActivity);

export async function bootWorkflow(input: BootInput): Promise<BootReport> {
  const report: BootReport = {
    bootId: `${workflowInfo().workflowId}/${workflowInfo().runId}`,
    ok: false,
    degraded: false,
    currentPhase: 'preflight',
    phases: [],
    preflight: [],
    kernels: [],
    failedChecks: [],
    startedAt: new Date().toISOString(),
    finishedAt: null,
  };
  setHandler(getBootReportQuery, () => report);

  const fail = async (kernel: string | null, message: string): Promise<never> => {
    report.finishedAt = new Date().toISOString();
    upsertSearchAttributes([
      { key: OutcomeAttr, value: 'failed' },
      ...(kernel ? [{ key: KernelAttr, value: kernel }] : []),
    ]);
    await records.recordBoot(report);
    throw ApplicationFailure.create({ type: BOOT_FAILED, message, nonRetryable: true, details: [report] });
  };

  for (const { phase, name, kernels } of BOOT_PHASES) {
    const started = Date.now();
    report.currentPhase = name;
    upsertSearchAttributes([{ key: PhaseAttr, value: name }]);

    if (name === 'preflight') {
      report.preflight = await Promise.all([
        preflight.checkConfig(),
        preflight.checkTemporal(),
        preflight.checkStore(),
        preflight.checkDisk(),
        // The bus is a kernel of phase 2: only the servers boot itself stands on must answer now.
        preflight.checkPorts(['temporal', 'store']),
      ]);
      const failed = report.preflight.filter((c) => !c.ok);
      report.phases.push({ phase, name, ok: failed.length === 0, ms: Date.now() - started, detail: failed.map((c) => `${c.name}: ${c.detail}`).join('; ') || 'all checks passed' });
      if (failed.length > 0) {
        report.failedChecks = failed.map((c) => `preflight.${c.name}: ${c.detail}`);
        await fail(null, `preflight failed: ${report.failedChecks.join('; ')}`);
      }
      continue;
    }

    if (kernels.length > 0) {
      const results = await Promise.all(kernels.map((k) => bootKernel(k, phase, input.kernels[k])));
      report.kernels.push(...results);
      const failedCritical = results.filter((r) => !r.ready && r.critical);
      for (const r of results.filter((x) => !x.ready)) {
        report.failedChecks.push(...r.checks.filter((c) => !c.ok).map((c) => `${r.kernel}.${c.name}: ${c.detail}`));
      }
      if (results.some((r) => r.degraded)) report.degraded = true;
      report.phases.push({
        phase,
        name,
        ok: failedCritical.length === 0,
        ms: Date.now() - started,
        detail: results.map((r) => `${r.kernel} ${r.ready ? 'ready' : r.degraded ? 'NOT ready (degraded mode)' : 'NOT ready'} after ${r.retries} retries`).join('; '),
      });
      if (failedCritical.length > 0) {
        await fail(failedCritical[0].kernel, `critical kernel ${failedCritical.map((r) => r.kernel).join(', ')} not ready: ${report.failedChecks.join('; ')}`);
      }
      continue;
    }

    if (name === 'snapshots_and_schedules') {
      // The hook point: snapshot hygiene and schedules are registered here once they exist.
      report.phases.push({ phase, name, ok: true, ms: Date.now() - started, detail: 'no snapshot or schedule configured yet' });
      continue;
    }

    // warmup_and_watchdogs: the control plane supervises from here on; the trigger monitors run in
    // the healing replicas and must be heartbeating.
    const pids = await lifecycle.kernelPids();
    await lifecycle.ensureControlPlane({ settings: input.controlPlane, pids, kernels: report.kernels.map((k) => ({ kernel: k.kernel, ready: k.ready })) });
    const monitors = await lifecycle.watchdogsLive();
    report.phases.push({
      phase,
      name,
      ok: monitors.length > 0,
      ms: Date.now() - started,
      detail: `control plane running; trigger monitors live: ${monitors.join(', ') || 'none'}`,
    });
    if (monitors.length === 0) await fail('self_healing', 'no trigger monitor is heartbeating');
  }

  report.ok = true;
  report.currentPhase = 'done';
  report.finishedAt = new Date().toISOString();
  upsertSearchAttributes([{ key: OutcomeAttr, value: report.degraded ? 'degraded' : 'ready' }]);
  await records.recordBoot(report);
  return report;
}

async function bootKernel(kernel: KernelName, phase: number, settings: BootKernelSettings): Promise<KernelBootResult> {
  const started = Date.now();
  let pids: Record<string, number | null> = {};
  try {
    pids = await lifecycle.startKernel(kernel);
  } catch (err) {
    return {
      kernel, phase, critical: settings.critical, ready: false, retries: 0, timeToReadyMs: Date.now() - started,
      degraded: !settings.critical, pids,
      checks: [{ name: 'start', ok: false, detail: String((err as Error).message), ms: Date.now() - started }],
    };
  }
  const wait = await waitKernelReady(kernel, settings.readiness);
  return {
    kernel,
    phase,
    critical: settings.critical,
    ready: wait.ready,
    retries: wait.attempts - 1,
    timeToReadyMs: Date.now() - started,
    degraded: !wait.ready && !settings.critical,
    pids,
    checks: wait.checks,
  };
}
