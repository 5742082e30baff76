/**
 * Stack verbs: `setup`, `up`, `down`, `status`, `preflight`. Progress goes to stderr so that
 * `--json` output on stdout stays machine-readable.
 */
import type { Command } from 'commander';
import { loadConfig, type LoadedConfig } from '../src/config/load';
import { ExitCode, UserError } from '../src/errors';
import { connectClient } from '../src/clients/temporal';
import { webUiUrl } from '../src/stack/services';
import { stackStatus, startServices, startWorkers, stopAll, type StackStatus } from '../src/stack/stack';
import { ensureTools } from '../src/stack/tools';
import { preflightWorkflow, type PreflightReport } from '../workflows/preflight';

export const progress = (message: string): void => {
  process.stderr.write(`• ${message}\n`);
};

export function configOf(cmd: Command): LoadedConfig {
  return loadConfig(cmd.optsWithGlobals<{ config?: string }>().config);
}

export async function runPreflight(config: LoadedConfig): Promise<PreflightReport> {
  const client = await connectClient(config);
  try {
    // A business id: one preflight per second at most, readable in the Web UI.
    const workflowId = `preflight-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    return await client.workflow.execute(preflightWorkflow, {
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

function printStatus(status: StackStatus): void {
  const mark = (ok: boolean): string => (ok ? '✓' : '✗');
  console.log(`Layer 1 is ${status.healthy ? 'healthy' : 'NOT healthy'}. Web UI: ${status.webUi}`);
  console.log('services:');
  for (const [name, s] of Object.entries(status.services)) {
    console.log(`  ${mark(s.healthy)} ${name.padEnd(9)} ${s.address.padEnd(22)} pid ${String(s.pid ?? '-').padEnd(8)} ${s.detail}`);
    if (s.log) console.log(`    log: ${s.log}`);
  }
  console.log('workers:');
  for (const w of status.workers) {
    console.log(`  ${mark(w.healthy)} ${w.name.padEnd(15)} ${w.taskQueue.padEnd(22)} pid ${String(w.pid ?? '-').padEnd(8)} ${w.detail}`);
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
    .description('Start the stack and the workers (idempotent), run preflight, and print the Web UI URL')
    .option('--no-preflight', 'skip the preflight workflow')
    .action(async (opts: { preflight: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      progress(`config ${config.configFile}, state in ${config.stateDir}`);
      await startServices(config, progress);
      await startWorkers(config, progress);
      if (opts.preflight) {
        progress('running the preflight workflow');
        const report = await runPreflight(config);
        printReport(report);
        if (!report.ok) throw new UserError(`preflight failed (workflow ${report.workflowId})`);
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
    .description('Health of the servers and workers; exit 1 when anything is unhealthy')
    .option('--json', 'print one JSON object (a stable contract for scripts)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = configOf(cmd);
      const status = await stackStatus(config);
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
