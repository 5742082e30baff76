/**
 * Stack verbs: `setup`, `up`, `down`, `status`, `preflight`. Progress goes to stderr so that
 * `--json` output on stdout stays machine-readable.
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../src/config/load';
import { configOf, progress } from './cli-support';
import { ExitCode, UserError } from '../src/errors';
import { connectClient } from '../src/clients/temporal';
import { webUiUrl } from '../src/stack/services';
import { stackStatus, startServices, startWorkers, stopAll, type StackStatus } from '../src/stack/stack';
import { ensureTools } from '../src/stack/tools';
import { kernelStatuses, type KernelStatus } from '../src/stack/kernel-status';
import { printBootReport, runBoot } from './kernel-verbs';
import { type PreflightReport, PREFLIGHT_WORKFLOW, type PreflightWorkflow } from '../contracts/preflight';


export async function runPreflight(config: LoadedConfig): Promise<PreflightReport> {
  const client = await connectClient(config);
  try {
    // A business id: one preflight per second at most, readable in the Web UI.
    const workflowId = `preflight-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    return await client.workflow.execute<PreflightWorkflow>(PREFLIGHT_WORKFLOW, {
      taskQueue: config.temporal.taskQueues.healing,
      workflowId,
      workflowExecutionTimeout: '2 minutes',
    });
  } finally {
    await client.connection.close();
  }
}

function printReport(report: PreflightReport): void {
  for (const c of report.checks) {
    process.stderr.write(`  ${c.ok ? '✓' : '✗'} ${c.name.padEnd(9)} ${c.detail} (${c.ms} ms)\n`);
  }
}

export interface FullStatus extends StackStatus {
  kernels: KernelStatus[];
  degraded: boolean;
}

/** Stack status plus kernels; healthy needs every critical kernel ready, degraded an optional one not. */
export async function fullStatus(config: LoadedConfig): Promise<FullStatus> {
  const stack = await stackStatus(config);
  let kernels: KernelStatus[] = [];
  if (stack.services.temporal.healthy) {
    const client = await connectClient(config, 2_000);
    try {
      kernels = await kernelStatuses(config, client);
    } finally {
      await client.connection.close();
    }
  }
  const criticalReady = kernels.length > 0 && kernels.filter((k) => k.critical).every((k) => k.ready);
  return {
    ...stack,
    healthy: stack.healthy && criticalReady,
    kernels,
    degraded: kernels.some((k) => !k.critical && !k.ready),
  };
}

function printStatus(status: FullStatus): void {
  const mark = (ok: boolean): string => (ok ? '✓' : '✗');
  console.log(`Layer 1 is ${status.healthy ? 'healthy' : 'NOT healthy'}. Web UI: ${status.webUi}`);
  console.log('services:');
  for (const [name, s] of Object.entries(status.services)) {
    console.log(`  ${mark(s.healthy)} ${name.padEnd(9)} ${s.address.padEnd(22)} pid ${String(s.pid ?? '-').padEnd(8)} ${s.detail}`);
    if (s.log) console.log(`    log: ${s.log}`);
  }
  console.log('workers:');
  for (const w of status.workers) {
    const spare = w.standby ? (w.standby.alive ? `; spare pid ${w.standby.pid} ${w.standby.warm ? 'warm' : 'warming'}` : '; no spare') : '';
    console.log(`  ${mark(w.healthy)} ${w.name.padEnd(15)} ${w.taskQueue.padEnd(22)} pid ${String(w.pid ?? '-').padEnd(8)} ${w.detail}${spare}`);
  }
  console.log(`kernels:${status.degraded ? ' (DEGRADED mode)' : ''}`);
  for (const k of status.kernels) {
    const extra = [
      `restarts ${k.restarts}`,
      k.uptimeMs !== null ? `ready for ${Math.round(k.uptimeMs / 1000)} s` : null,
      k.crashLoop ? `CRASH LOOP, backoff ${k.backoffMs} ms` : null,
      k.lastReason ? `last: ${k.lastReason}` : null,
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
      await ensureTools(progress);
      progress('tools ready');
    });

  program
    .command('up')
    .description('Start the stack and the workers (idempotent), boot the kernels, and print the Web UI URL')
    .option('--no-boot', 'start the stack and workers only')
    .action(async (opts: { boot: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      progress(`config ${config.configFile}, state in ${config.stateDir}`);
      await startServices(config, progress);
      await startWorkers(config, progress);
      if (opts.boot) {
        progress('booting the kernels (workflow layer1-boot)');
        const client = await connectClient(config);
        try {
          const report = await runBoot(config, client, (p) => progress(`boot phase: ${p}`));
          printBootReport(report);
          if (!report.ok) throw new UserError(`boot failed: ${report.failedChecks.join('; ')}`);
          if (report.degraded) progress('booted in DEGRADED mode: an optional kernel is not ready');
        } finally {
          await client.connection.close();
        }
      }
      console.log(`Layer 1 is up. Web UI: ${webUiUrl(config)}`);
    });

  program
    .command('down')
    .description('Stop the workers and the servers this project started (by pid file, never by name)')
    .action(async (_opts: unknown, cmd: Command) => {
      const config = configOf(cmd);
      await stopAll(config, progress);
      console.log('Layer 1 is down.');
    });

  program
    .command('status')
    .description('Health of the servers, workers and kernels (each self-test check); exit 1 when anything critical is unhealthy')
    .option('--json', 'print one JSON object (a stable contract for scripts)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      const status = await fullStatus(config);
      if (opts.json) console.log(JSON.stringify(status));
      else printStatus(status);
      if (!status.healthy) process.exitCode = ExitCode.FAILURE;
    });

  program
    .command('preflight')
    .description('Run the preflight workflow against the running stack and print its checks')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      const report = await runPreflight(config);
      if (opts.json) console.log(JSON.stringify(report));
      else printReport(report);
      if (!report.ok) process.exitCode = ExitCode.FAILURE;
    });
}
