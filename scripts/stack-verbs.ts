/**
 * Stack verbs: `setup`, `up`, `down`, `status`, `preflight`. Progress goes to stderr so that
 * `--json` output on stdout stays machine-readable.
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../src/config/load';
import { configOf, progress, withTemporal } from './cli-support';
import { ExitCode, UserError } from '../src/errors';
import type { StackStatus } from '../src/stack/stack';
import type { KernelStatus, MonitorStatus } from '../src/stack/kernel-status';
import type { PreflightReport, PreflightWorkflow } from '../contracts/preflight';


export async function runPreflight(config: LoadedConfig): Promise<PreflightReport> {
  const [{ PREFLIGHT_WORKFLOW }, { findable }] = await Promise.all([import('../contracts/preflight'), import('../contracts/search-attributes')]);
  return withTemporal(config, (client) => {
    // A business id: one preflight per second at most, readable in the Web UI.
    const workflowId = `preflight-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    return client.workflow.execute<PreflightWorkflow>(PREFLIGHT_WORKFLOW, {
      taskQueue: config.temporal.taskQueues.healing,
      workflowId,
      workflowExecutionTimeout: '2 minutes',
      ...findable({ kind: 'preflight', summary: 'preflight checks (layer1 preflight)' }),
    });
  });
}

function printReport(report: PreflightReport): void {
  for (const c of report.checks) {
    process.stderr.write(`  ${c.ok ? '✓' : '✗'} ${c.name.padEnd(9)} ${c.detail} (${c.ms} ms)\n`);
  }
}

/** The `status --json` contract: add fields, never rename these. */
export interface FullStatus extends StackStatus {
  kernels: KernelStatus[];
  degraded: boolean;
  /** Whether every kernel's self-test ran now (`--deep`), or what the control plane knew was read. */
  deep: boolean;
  /** The trigger monitors' heartbeats; empty when the store cannot be read. */
  monitors: MonitorStatus[];
  /** Why the control plane's view is missing (not started, unreachable), else null. */
  controlPlane: string | null;
}

/**
 * Stack status plus kernels; healthy needs every critical kernel ready, degraded an optional one
 * not. Quick by default (see src/stack/kernel-status.ts): from the leading trigger monitor's
 * snapshot when it is fresh (src/stack/status-snapshot.ts) and all is well, else by asking Temporal
 * and the store;
 * `deep` runs every kernel's self-test.
 */
export async function fullStatus(config: LoadedConfig, opts: { deep?: boolean } = {}): Promise<FullStatus> {
  const deep = opts.deep ?? false;
  if (!deep) {
    const { freshSnapshot } = await import('../src/stack/status-snapshot');
    const snapshot = freshSnapshot(config);
    if (snapshot) {
      const [{ stackStatus }, ks] = await Promise.all([import('../src/stack/stack'), import('../src/stack/kernel-status')]);
      const detail = `answered ${snapshot.writer} ${Date.now() - Date.parse(snapshot.at)} ms ago`;
      const stack = await stackStatus(config, { quick: true, seen: { workers: snapshot.workers, pollers: snapshot.pollers, detail } });
      const kernels = ks.withMonitors(ks.quickKernelStatuses(config, snapshot.controlPlane, snapshot.controlPlaneWhy), snapshot.monitors);
      const status = withKernels(stack, kernels, { deep, monitors: snapshot.monitors, controlPlane: snapshot.controlPlaneWhy });
      // The snapshot may be a second old: a kernel or worker it shows as not ready (a restart that
      // has just finished, a worker that has just started polling) is asked about now instead.
      if (status.healthy && !status.degraded) return status;
    }
  }
  const [{ stackStatus }, ks, { connectClient }, { connectStore }] = await Promise.all([
    import('../src/stack/stack'),
    import('../src/stack/kernel-status'),
    import('../src/clients/temporal'),
    import('../src/clients/store'),
  ]);
  const monitorsP = connectStore(config, 1_500).then(
    async (store) => {
      try {
        return await ks.monitorStatuses(store.db);
      } finally {
        await store.close();
      }
    },
    () => [] as MonitorStatus[],
  );
  let kernels: KernelStatus[] = [];
  let cpWhy: string | null = null;
  // One connection for Temporal's health, the workers' pollers and the control plane.
  let connectError: string | undefined;
  const client = await connectClient(config, 1_500).catch((err: unknown) => {
    connectError = err instanceof Error ? err.message : String(err);
    return null;
  });
  let stack: StackStatus;
  try {
    const stackP = stackStatus(config, { quick: !deep, temporal: client ?? undefined, temporalDown: connectError });
    if (client) {
      const cp = await ks.controlPlaneState(client).catch((err: unknown) => ({ status: null, why: (err as Error).message }));
      cpWhy = cp.why;
      kernels = deep ? await ks.kernelStatuses(config, client) : ks.quickKernelStatuses(config, cp.status, cp.why);
    } else {
      cpWhy = `cannot reach Temporal at ${config.temporal.address}`;
      if (!deep) kernels = ks.quickKernelStatuses(config, null, cpWhy);
    }
    stack = await stackP;
  } finally {
    await client?.connection.close();
  }
  const monitors = await monitorsP;
  if (!deep && stack.services.store.healthy) kernels = ks.withMonitors(kernels, monitors);
  return withKernels(stack, kernels, { deep, monitors, controlPlane: cpWhy });
}

function withKernels(stack: StackStatus, kernels: KernelStatus[], rest: Pick<FullStatus, 'deep' | 'monitors' | 'controlPlane'>): FullStatus {
  const criticalReady = kernels.length > 0 && kernels.filter((k) => k.critical).every((k) => k.ready);
  return {
    ...stack,
    healthy: stack.healthy && criticalReady,
    kernels,
    degraded: kernels.some((k) => !k.critical && !k.ready),
    ...rest,
  };
}

function printStatus(status: FullStatus): void {
  const mark = (ok: boolean): string => (ok ? '✓' : '✗');
  console.log(`Layer 1 is ${status.healthy ? 'healthy' : 'NOT healthy'}.${status.webUi ? ` Web UI: ${status.webUi}` : ''}`);
  if (status.metrics) console.log(`Prometheus metrics: ${status.metrics}`);
  if (status.dashboard) console.log(`Dashboard: ${status.dashboard}`);
  console.log('services:');
  for (const [name, s] of Object.entries(status.services)) {
    console.log(`  ${mark(s.healthy)} ${name.padEnd(9)} ${s.address.padEnd(22)} pid ${String(s.pid ?? '-').padEnd(8)} ${s.detail}`);
    if (s.log) console.log(`    log: ${s.log}`);
    for (const note of s.notes ?? []) console.log(`    note: ${note}`);
    // What to do, as every verb that meets a server that is down says it (scripts/cli-support.ts).
    if (!s.healthy) {
      console.log(
        s.embedded
          ? `    → not reachable: run \`layer1 up\` or check its log (the healing workers restart a crashed Temporal or store by themselves within seconds)`
          : `    → not reachable: check that it runs and that the config names it`,
      );
    }
  }
  console.log('workers:');
  for (const w of status.workers) {
    const spare = w.standby ? (w.standby.alive ? `; spare pid ${w.standby.pid} ${w.standby.warm ? 'warm' : 'warming'}` : '; no spare') : '';
    console.log(`  ${mark(w.healthy)} ${w.name.padEnd(15)} ${w.taskQueue.padEnd(22)} pid ${String(w.pid ?? '-').padEnd(8)} ${w.detail}${spare}`);
  }
  if (status.controlPlane) console.log(`control plane: ${status.controlPlane}`);
  if (status.monitors.length > 0) {
    const beats = status.monitors.map((m) => `${m.name} ${m.fresh ? 'fresh' : `stale since ${m.lastBeat}`}`);
    console.log(`trigger monitors: ${beats.join(', ')}`);
  }
  console.log(`kernels:${status.degraded ? ' (DEGRADED mode)' : ''}${status.deep ? ' (self-tests run now)' : " (the control plane's last self-tests; --deep runs them now)"}`);
  for (const k of status.kernels) {
    const extra = [
      `restarts ${k.restarts}`,
      k.uptimeMs !== null ? `ready for ${Math.round(k.uptimeMs / 1000)} s` : null,
      k.crashLoop ? `CRASH LOOP, backoff ${k.backoffMs} ms` : null,
      k.lastReason ? `last: ${k.lastReason}` : null,
      !status.deep && k.checkedAt ? `checked ${Math.round((Date.now() - Date.parse(k.checkedAt)) / 1000)} s ago` : null,
    ].filter(Boolean);
    console.log(`  ${mark(k.ready)} ${k.name.padEnd(15)} ${k.state.padEnd(12)} pid ${String(k.pid ?? '-').padEnd(8)} ${extra.join(', ')}`);
    for (const c of k.checks) console.log(`      ${mark(c.ok)} ${c.name.padEnd(22)} ${c.detail} (${c.ms} ms)`);
  }
}

export function registerStackVerbs(program: Command): void {
  program
    .command('setup')
    .description('Obtain the servers (Temporal CLI, nats-server, FerretDB build) into the per-user cache')
    .action(async () => {
      const { ensureTools } = await import('../src/stack/tools');
      await ensureTools(progress);
      progress('tools ready');
    });

  program
    .command('up')
    .description('Start the stack and the workers (idempotent), boot the kernels, and print the Web UI URL')
    .option('--no-boot', 'start the stack and workers only')
    .action(async (opts: { boot: boolean }, cmd: Command) => {
      const config = await configOf(cmd);
      progress(`config ${config.configFile}, state in ${config.stateDir}`);
      const [{ startServices, startWorkers }, { connectClient }, { webUiUrl }, { printBootReport, runBoot }] = await Promise.all([
        import('../src/stack/stack'),
        import('../src/clients/temporal'),
        import('../src/stack/services'),
        import('./kernel-verbs'),
      ]);
      await startServices(config, progress);
      await startWorkers(config, progress);
      if (opts.boot) {
        progress('booting the kernels (workflow layer1-boot)');
        const client = await connectClient(config);
        try {
          const report = await runBoot(config, client, (p) => progress(`boot phase: ${p}`));
          printBootReport(report);
          if (!report.ok) throw new UserError(`boot failed: ${report.failedChecks.join('; ')}`);
          if (report.degraded) {
            const why = [
              ...report.kernels.filter((k) => k.degraded).map((k) => `optional kernel ${k.kernel} is not ready`),
              ...report.phases.filter((p) => !p.ok).map((p) => `phase ${p.name}: ${p.detail}`),
            ];
            progress(`booted in DEGRADED mode: ${why.join('; ')}`);
          }
        } finally {
          await client.connection.close();
        }
      }
      const [{ metricsUrl }, { dashboardUrl }] = await Promise.all([import('../src/stack/metrics-process'), import('../src/dashboard/process')]);
      // Only the URLs there are: a cluster without `temporal.webUiUrl` has no Web UI to name.
      const urls = [
        ['Web UI', webUiUrl(config)],
        ['dashboard', dashboardUrl(config)],
        ['metrics', metricsUrl(config)],
      ].filter((u): u is [string, string] => u[1] !== null);
      console.log(`Layer 1 is up.${urls.length > 0 ? ` ${urls.map(([what, url]) => `${what}: ${url}`).join(', ')}` : ''}`);
    });

  program
    .command('down')
    .description('Stop the workers and the servers this project started (by pid file, never by name)')
    .action(async (_opts: unknown, cmd: Command) => {
      const config = await configOf(cmd);
      const { stopAll } = await import('../src/stack/stack');
      await stopAll(config, progress);
      console.log('Layer 1 is down.');
    });

  program
    .command('status')
    .description('Health of the servers, workers and kernels (each self-test check); exit 1 when anything critical is unhealthy')
    .option('--json', 'print one JSON object (a stable contract for scripts)')
    .option('--deep', "run every kernel's self-test now, instead of reading the control plane's last ones")
    .action(async (opts: { json?: boolean; deep?: boolean }, cmd: Command) => {
      const config = await configOf(cmd);
      const status = await fullStatus(config, { deep: opts.deep });
      if (opts.json) console.log(JSON.stringify(status));
      else printStatus(status);
      if (!status.healthy) process.exitCode = ExitCode.FAILURE;
    });

  program
    .command('preflight')
    .description('Run the preflight workflow against the running stack and print its checks')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = await configOf(cmd);
      const report = await runPreflight(config);
      if (opts.json) console.log(JSON.stringify(report));
      else printReport(report);
      if (!report.ok) process.exitCode = ExitCode.FAILURE;
    });
}
