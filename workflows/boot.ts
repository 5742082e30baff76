/**
 * The boot workflow: 7 phases, each kernel waiting on its real self-test.
 *
 *   1 preflight → 2 message bus → 3 immutable log → 4 self-healing → 5 coding agent →
 *   6 snapshots and schedules → 7 warmup and watchdogs
 *
 * Kernels of one phase start side by side. A critical kernel that never passes its self-test fails
 * the boot with a report naming the failed checks; an optional one sets degraded mode. Booting a
 * running system starts nothing (every start is a no-op for live processes) and verifies
 * readiness. The report is the result and a query, and is stored and published.
 */
import { ApplicationFailure, isCancellation, patched, proxyActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import {
  BOOT_FAILED,
  getBootReportQuery,
  type BootInput,
  type BootKernelSettings,
  type BootReport,
  type BootWorkflow,
  type KernelBootResult,
} from '../contracts/boot';
import { KernelAttr, OutcomeAttr, PhaseAttr } from '../contracts/search-attributes';
import type { KernelActivities } from '../activities/kernels';
import type { PreflightActivities } from '../activities/preflight';
import type { ScheduleActivities } from '../activities/schedules';
import { checkActivity, lifecycleActivity, recordActivity, scheduleActivity, snapshotActivity } from './policies';
import { waitKernelReady } from './readiness';

const preflight = proxyActivities<PreflightActivities>(checkActivity);
const lifecycle = proxyActivities<KernelActivities>(lifecycleActivity);
const records = proxyActivities<KernelActivities>(recordActivity);
const snapshots = proxyActivities<ScheduleActivities>(snapshotActivity);
const schedules = proxyActivities<ScheduleActivities>(scheduleActivity);

/**
 * Phase 6 used to be a placeholder that scheduled nothing: boots recorded before it took snapshots
 * replay through the old branch (test/histories/boot-before-snapshots.json).
 */
const SNAPSHOTS_PATCH = 'boot-snapshots-and-schedules';

/** A phase's outcome: null when it passed, else the kernel to blame (or null) and the message. */
type PhaseFailure = { kernel: string | null; message: string } | null;

export const bootWorkflow: BootWorkflow = async (input: BootInput): Promise<BootReport> => {
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

  for (const { phase, name, kernels } of input.phases) {
    const started = Date.now();
    report.currentPhase = name;
    upsertSearchAttributes([{ key: PhaseAttr, value: name }]);
    let failure: PhaseFailure;
    if (name === 'preflight') failure = await preflightPhase(report, phase, started);
    else if (kernels.length > 0) failure = await kernelPhase(report, input, { phase, name, kernels }, started);
    else if (name === 'snapshots_and_schedules') {
      if (patched(SNAPSHOTS_PATCH)) await snapshotPhase(report, phase, started);
      else report.phases.push({ phase, name, ok: true, ms: Date.now() - started, detail: 'no snapshot or schedule configured yet' });
      failure = null;
    } else failure = await watchdogPhase(report, input, phase, started);
    if (failure) await fail(report, failure.kernel, failure.message);
  }

  report.ok = true;
  report.currentPhase = 'done';
  report.finishedAt = new Date().toISOString();
  upsertSearchAttributes([{ key: OutcomeAttr, value: report.degraded ? 'degraded' : 'ready' }]);
  await records.recordBoot(report);
  return report;
};

async function fail(report: BootReport, kernel: string | null, message: string): Promise<never> {
  report.finishedAt = new Date().toISOString();
  upsertSearchAttributes([{ key: OutcomeAttr, value: 'failed' }, ...(kernel ? [{ key: KernelAttr, value: kernel }] : [])]);
  await records.recordBoot(report);
  throw ApplicationFailure.create({ type: BOOT_FAILED, message, nonRetryable: true, details: [report] });
}

/** Phase 1: the servers boot itself stands on answer, the config is valid, the disk has room. */
async function preflightPhase(report: BootReport, phase: number, started: number): Promise<PhaseFailure> {
  report.preflight = await Promise.all([
    preflight.checkConfig(),
    preflight.checkTemporal(),
    preflight.checkStore(),
    preflight.checkDisk(),
    // The bus is a kernel of phase 2: only the servers boot itself stands on must answer now.
    preflight.checkPorts(['temporal', 'store']),
  ]);
  const failed = report.preflight.filter((c) => !c.ok);
  const detail = failed.map((c) => `${c.name}: ${c.detail}`).join('; ') || 'all checks passed';
  report.phases.push({ phase, name: 'preflight', ok: failed.length === 0, ms: Date.now() - started, detail });
  if (failed.length === 0) return null;
  report.failedChecks = failed.map((c) => `preflight.${c.name}: ${c.detail}`);
  return { kernel: null, message: `preflight failed: ${report.failedChecks.join('; ')}` };
}

/** Phases 2–5: the phase's kernels start side by side and wait on their self-tests. */
async function kernelPhase(
  report: BootReport,
  input: BootInput,
  p: { phase: number; name: string; kernels: string[] },
  started: number,
): Promise<PhaseFailure> {
  const results = await Promise.all(p.kernels.map((k) => bootKernel(k, p.phase, input.kernels[k])));
  report.kernels.push(...results);
  const failedCritical = results.filter((r) => !r.ready && r.critical);
  for (const r of results.filter((x) => !x.ready)) {
    report.failedChecks.push(...r.checks.filter((c) => !c.ok).map((c) => `${r.kernel}.${c.name}: ${c.detail}`));
  }
  if (results.some((r) => r.degraded)) report.degraded = true;
  report.phases.push({
    phase: p.phase,
    name: p.name,
    ok: failedCritical.length === 0,
    ms: Date.now() - started,
    detail: results.map((r) => `${r.kernel} ${r.ready ? 'ready' : r.degraded ? 'NOT ready (degraded mode)' : 'NOT ready'} after ${r.retries} retries`).join('; '),
  });
  if (failedCritical.length === 0) return null;
  return {
    kernel: failedCritical[0].kernel,
    message: `critical kernel ${failedCritical.map((r) => r.kernel).join(', ')} not ready: ${report.failedChecks.join('; ')}`,
  };
}

/**
 * Phase 6: a snapshot of each configured type (and the retention), and the snapshot and telemetry
 * schedules (created once, however often boot runs). Neither fails the boot — the kernels are
 * ready and healing works without them — but what could not be done makes the phase fail and the
 * boot degraded, and says why.
 */
async function snapshotPhase(report: BootReport, phase: number, started: number): Promise<void> {
  const problems: string[] = [];
  try {
    report.snapshots = await snapshots.takeTypedSnapshots({ key: report.bootId, at: new Date().toISOString() });
  } catch (err) {
    problems.push(`snapshots: ${activityFailureText(err)}`);
  }
  for (const s of report.snapshots ?? []) {
    if (s.error) problems.push(`snapshot ${s.type}: ${s.error}`);
    for (const r of s.refused) problems.push(`snapshot ${s.type}: ${r.path} refused (${r.reason})`);
  }
  try {
    // Each boot takes a snapshot of every type: a system booted often would pile them up until the next hourly run.
    report.prunedSnapshots = await snapshots.pruneTypedSnapshots({ now: new Date().toISOString() });
  } catch (err) {
    problems.push(`retention: ${activityFailureText(err)}`);
  }
  try {
    report.schedules = await schedules.ensureSchedules();
  } catch (err) {
    problems.push(`schedules: ${activityFailureText(err)}`);
  }
  const taken = (report.snapshots ?? []).map((s) => (s.id ? `${s.type} ${s.files} files` : `${s.type} ${s.skipped ? 'skipped (nothing yet)' : 'FAILED'}`));
  const scheduled = (report.schedules ?? []).map((s) => `${s.id} ${s.action} (${s.spec}${s.paused ? ', paused' : ''})`);
  if (problems.length > 0) report.degraded = true;
  report.phases.push({
    phase,
    name: 'snapshots_and_schedules',
    ok: problems.length === 0,
    ms: Date.now() - started,
    detail: [
      `snapshots: ${taken.join(', ') || 'none'}`,
      `older snapshots removed: ${report.prunedSnapshots?.length ?? 0}`,
      `schedules: ${scheduled.join(', ') || 'none'}`,
      ...problems.map((p) => `PROBLEM ${p}`),
    ].join('; '),
  });
}

/**
 * An activity's failure as its cause tells it (the ActivityFailure itself only says that the
 * activity failed). A cancelled boot is not a problem to report: it is thrown on.
 */
function activityFailureText(err: unknown): string {
  if (isCancellation(err)) throw err;
  const e = err as Error;
  return e.cause instanceof Error ? e.cause.message : e.message;
}

/**
 * Phase 7: the control plane supervises from here on; the trigger monitors run in the healing
 * replicas and must be heartbeating.
 */
async function watchdogPhase(report: BootReport, input: BootInput, phase: number, started: number): Promise<PhaseFailure> {
  const pids = await lifecycle.kernelPids();
  await lifecycle.ensureControlPlane({ settings: input.controlPlane, pids, kernels: report.kernels.map((k) => ({ kernel: k.kernel, ready: k.ready, checks: k.checks })) });
  const monitors = await lifecycle.watchdogsLive();
  report.phases.push({
    phase,
    name: 'warmup_and_watchdogs',
    ok: monitors.length > 0,
    ms: Date.now() - started,
    detail: `control plane running; trigger monitors live: ${monitors.join(', ') || 'none'}`,
  });
  return monitors.length > 0 ? null : { kernel: 'self_healing', message: 'no trigger monitor is heartbeating' };
}

async function bootKernel(kernel: string, phase: number, settings: BootKernelSettings): Promise<KernelBootResult> {
  const started = Date.now();
  const base = { kernel, phase, critical: settings.critical };
  let pids: Record<string, number | null> = {};
  try {
    pids = await lifecycle.startKernel(kernel);
  } catch (err) {
    const checks = [{ name: 'start', ok: false, detail: String((err as Error).message), ms: Date.now() - started }];
    return { ...base, ready: false, retries: 0, timeToReadyMs: Date.now() - started, degraded: !settings.critical, pids, checks };
  }
  const wait = await waitKernelReady(kernel, settings.readiness);
  return {
    ...base,
    ready: wait.ready,
    retries: wait.attempts - 1,
    timeToReadyMs: Date.now() - started,
    degraded: !wait.ready && !settings.critical,
    pids,
    checks: wait.checks,
  };
}
