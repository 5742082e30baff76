/**
 * Kernel verbs: `boot` (the 7-phase boot workflow, with live phase progress) and
 * `kernel start|stop|restart K` (updates to the control plane, which owns kernel lifecycle).
 */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import type { LoadedConfig } from '../src/config/load';
import type { KernelName } from '../src/domain/kernels';
import { ExitCode, UserError } from '../src/errors';
import type { BootReport } from '../contracts/boot';
import type { KernelRecord } from '../contracts/control-plane';
import { helpFacts } from './help-facts';
import { configOf, followRun, progress, withTemporal } from './cli-support';

export function printBootReport(report: BootReport): void {
  for (const p of report.phases) {
    process.stderr.write(`  ${p.ok ? '✓' : '✗'} phase ${p.phase} ${p.name.padEnd(24)} ${String(p.ms).padStart(5)} ms  ${p.detail}\n`);
  }
  for (const k of report.kernels) {
    process.stderr.write(`    ${k.ready ? '✓' : '✗'} ${k.kernel.padEnd(14)} ready in ${k.timeToReadyMs} ms, ${k.retries} retries${k.degraded ? ', DEGRADED' : ''}\n`);
    for (const c of k.checks) process.stderr.write(`        ${c.ok ? '✓' : '✗'} ${c.name.padEnd(20)} ${c.detail} (${c.ms} ms)\n`);
  }
}

/**
 * Runs the boot workflow and follows its phases. One boot at a time: a second `boot` while one
 * runs attaches to it (conflict policy USE_EXISTING) instead of starting another.
 */
export async function runBoot(config: LoadedConfig, client: Client, onPhase?: (phase: string) => void): Promise<BootReport> {
  const [{ startBoot }, { BOOT_FAILED, getBootReportQuery }] = await Promise.all([import('../src/clients/starters'), import('../contracts/boot')]);
  const handle = await startBoot(config, client);
  let lastPhase = '';
  return followRun(
    handle,
    getBootReportQuery,
    (r) => {
      if (r.currentPhase !== lastPhase) {
        lastPhase = r.currentPhase;
        onPhase?.(r.currentPhase);
      }
    },
    [BOOT_FAILED],
  );
}

/**
 * `kernel stop|start|restart self_healing`, done here rather than through the control plane: the
 * healing workers are where the control plane itself runs, so its stop activity would wait on its
 * own worker's exit (seen: the update hung). Stopped, detection and healing are off — the trigger
 * monitors and the control plane's worker with them — until started again, which starts the
 * workers and waits until they poll; the control plane then carries on from its history.
 */
async function selfHealingVerb(config: LoadedConfig, verb: 'start' | 'stop' | 'restart', opts: { json?: boolean }): Promise<void> {
  const [{ stopKernel, kernelDef }, { processManager, startWorkers }] = await Promise.all([import('../kernels/registry'), import('../src/stack/stack')]);
  const pm = processManager(config);
  const names = kernelDef('self_healing').processes(config);
  if (verb !== 'start') {
    progress(`stopping self_healing (${names.join(', ')} and their spares): detection and healing are off until it is started`);
    await stopKernel({ config, pm }, 'self_healing', { spares: true });
  }
  if (verb !== 'stop') {
    progress('starting self_healing…');
    await startWorkers(config, progress, names);
  }
  const running = names.filter((n) => pm.isAlive(n));
  if (opts.json) console.log(JSON.stringify({ kernel: 'self_healing', state: running.length === names.length ? 'RUNNING' : running.length === 0 ? 'STOPPED' : 'DEGRADED', processes: Object.fromEntries(names.map((n) => [n, pm.pid(n)])) }));
  else console.log(`self_healing: ${names.map((n) => `${n} ${pm.pid(n) ?? 'stopped'}`).join(', ')}`);
}

async function parseKernel(k: string): Promise<KernelName> {
  const { isKernelName, KERNEL_NAMES } = await import('../src/domain/kernels');
  if (!isKernelName(k)) throw new UserError(`unknown kernel "${k}"; expected one of ${KERNEL_NAMES.join(', ')}`, ExitCode.USAGE);
  return k;
}

function printRecord(rec: KernelRecord): void {
  console.log(`${rec.name}: ${rec.state}, restarts ${rec.restarts}, pids ${JSON.stringify(rec.pids)}`);
  for (const c of rec.checks) console.log(`  ${c.ok ? '✓' : '✗'} ${c.name.padEnd(20)} ${c.detail}`);
}

export function registerKernelVerbs(program: Command): void {
  program
    .command('boot')
    .description('Run the 7-phase boot workflow against the running stack (idempotent on a running system)')
    .option('--json', 'print the boot report as JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const config = await configOf(cmd);
      const report = await withTemporal(config, (client) => runBoot(config, client, (p) => progress(`boot phase: ${p}`)));
      if (opts.json) console.log(JSON.stringify(report));
      printBootReport(report);
      if (!report.ok) throw new UserError(`boot failed: ${report.failedChecks.join('; ')}`);
      progress(report.degraded ? 'booted in DEGRADED mode' : 'booted: every kernel ready');
    });

  const kernel = program.command('kernel').description('Start, stop or restart a kernel through the control plane');
  const verbs = [
    ['start', 'start a kernel and wait until its self-test passes'],
    ['stop', 'stop a kernel (the control plane will not restart it until started)'],
    ['restart', 'stop and start a kernel, then wait until its self-test passes'],
  ] as const;
  for (const [verb, description] of verbs) {
    kernel
      .command(`${verb} <kernel>`)
      .description(`${description}; kernels: ${helpFacts().kernels.join(', ')}`)
      .option('--json', 'print the kernel record as JSON')
      .action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
        const k = await parseKernel(name);
        const config = await configOf(cmd);
        if (k === 'self_healing') return selfHealingVerb(config, verb, opts);
        const cp = await import('../contracts/control-plane');
        await withTemporal(config, async (client) => {
          try {
            const handle = client.workflow.getHandle(cp.CONTROL_PLANE_WORKFLOW_ID);
            progress(`${verb} ${k}…`);
            const rec: KernelRecord =
              verb === 'restart'
                ? await handle.executeUpdate(cp.restartKernelUpdate, { args: [k, 'operator request (layer1 kernel restart)'] })
                : await handle.executeUpdate(verb === 'start' ? cp.startKernelUpdate : cp.stopKernelUpdate, { args: [k] });
            if (opts.json) console.log(JSON.stringify(rec));
            else printRecord(rec);
            if (verb !== 'stop' && rec.state !== 'READY') process.exitCode = ExitCode.FAILURE;
          } catch (err) {
            if ((err as Error).name === 'WorkflowNotFoundError') {
              throw new UserError('the control plane is not running: run `layer1 boot` (or `layer1 up`) first');
            }
            throw err;
          }
        });
      });
  }
}
