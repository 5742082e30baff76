/**
 * `playbook run NAME [--param k=v]… [--dry-run]`, with live step progress and an exit code that
 * reflects the outcome, and `playbook approve|reject RUN_ID STEP` for approval gates.
 */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import type { LoadedConfig } from '../src/config/load';
import { ExitCode, UserError } from '../src/errors';
import type { Playbook } from '../src/playbooks/format';
import type { PlaybookReport, PlaybookRunInput, StepReport, PlaybookWorkflow } from '../contracts/playbook';
import { configOf, downServerOf, followRun, progress, withTemporal } from './cli-support';
import { playbookCommand } from './playbook-verbs';

/** A business id: the playbook and a time, readable in the Web UI. */
export function playbookRunId(name: string): string {
  return `playbook-${name}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
}

export interface RunOptions {
  params: Record<string, unknown>;
  dryRun: boolean;
  workflowId?: string;
  startedBy?: string;
  onStep?: (step: StepReport) => void;
}

/** Starts a playbook run and follows it to the end; a failed run's report comes from its failure. */
export async function runPlaybook(config: LoadedConfig, client: Client, playbook: Playbook, opts: RunOptions): Promise<PlaybookReport> {
  const [{ getPlaybookProgressQuery, PLAYBOOK_FAILED, PLAYBOOK_REFUSED, PLAYBOOK_WORKFLOW, PLAYBOOK_WORKFLOW_TASK_TIMEOUT }, { findable }] = await Promise.all([
    import('../contracts/playbook'),
    import('../contracts/search-attributes'),
  ]);
  const input: PlaybookRunInput = { playbook, params: opts.params, dryRun: opts.dryRun, startedBy: opts.startedBy ?? 'cli' };
  const handle = await client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, {
    taskQueue: config.temporal.taskQueues.healing,
    workflowId: opts.workflowId ?? playbookRunId(playbook.name),
    workflowTaskTimeout: PLAYBOOK_WORKFLOW_TASK_TIMEOUT,
    ...findable({ kind: 'playbook', playbook: playbook.name, summary: `playbook ${playbook.name}${opts.dryRun ? ' (dry run)' : ''} started by ${input.startedBy}` }),
    args: [input],
  });
  const seen = new Map<string, string>();
  return followRun(
    handle,
    getPlaybookProgressQuery,
    (r) => {
      for (const s of r.steps) {
        if (seen.get(s.id) !== s.status) {
          seen.set(s.id, s.status);
          if (s.status !== 'pending') opts.onStep?.(s);
        }
      }
    },
    [PLAYBOOK_FAILED, PLAYBOOK_REFUSED],
  );
}

function parseParams(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i <= 0) throw new UserError(`--param expects k=v, got "${p}"`, ExitCode.USAGE);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

const MARK: Record<string, string> = {
  succeeded: '✓',
  failed: '✗',
  rejected: '✗',
  skipped: '-',
  running: '…',
  waiting_approval: '?',
  planned: '·',
};

function printStep(s: StepReport): void {
  const extra =
    s.status === 'waiting_approval'
      ? `waiting for approval${s.prompt ? `: ${s.prompt}` : ''} (layer1 playbook approve|reject RUN_ID ${s.id})`
      : s.status === 'planned'
        ? `would call with ${JSON.stringify(s.params)}`
        : s.error ?? '';
  process.stderr.write(`  ${MARK[s.status] ?? ' '} ${s.id.padEnd(20)} ${s.action.padEnd(22)} ${s.status.padEnd(16)} ${extra}\n`);
}

export function registerPlaybookRunVerbs(program: Command): void {
  const playbook = playbookCommand(program);
  playbook
    .command('run <name>')
    .description('Run a playbook as a durable workflow, showing each step; exit 0 only if it succeeded')
    .option('-p, --param <k=v>', 'a playbook parameter (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--dry-run', 'show the plan with resolved parameters; run nothing')
    .option('--dir <dir>', 'where the playbook files are (default: playbooks/)')
    .option('--json', 'print the final report as JSON')
    .action(async (name: string, opts: { param: string[]; dryRun?: boolean; json?: boolean; dir?: string }, cmd: Command) => {
      const config = await configOf(cmd);
      const { findPlaybook, resolveRunParams } = await import('../src/playbooks/loader');
      const pb = findPlaybook(name, opts.dir);
      const params = resolveRunParams(pb, parseParams(opts.param));
      await withTemporal(config, async (client) => {
        const workflowId = playbookRunId(pb.name);
        progress(`${opts.dryRun ? 'planning' : 'running'} ${pb.name} (workflow ${workflowId})`);
        const report = await runPlaybook(config, client, pb, { params, dryRun: opts.dryRun ?? false, workflowId, onStep: printStep });
        if (opts.dryRun) report.steps.forEach(printStep);
        for (const c of report.compensations) {
          process.stderr.write(`  ↺ compensate ${c.stepId.padEnd(9)} ${c.action.padEnd(22)} ${c.ok ? 'ok' : `FAILED: ${c.error}`}\n`);
        }
        if (opts.json) console.log(JSON.stringify(report));
        progress(`${pb.name}: ${report.outcome}`);
        if (report.outcome !== 'succeeded' && report.outcome !== 'dry_run') process.exitCode = ExitCode.FAILURE;
      });
    });

  for (const verb of ['approve', 'reject'] as const) {
    playbook
      .command(`${verb} <runId> <step>`)
      .description(`${verb} a step that waits at its approval gate`)
      .option('--by <name>', 'who decides (recorded in the report)', process.env.USER ?? 'operator')
      .action(async (runId: string, step: string, opts: { by: string }, cmd: Command) => {
        const config = await configOf(cmd);
        const { approveStepUpdate, rejectStepUpdate } = await import('../contracts/playbook');
        await withTemporal(config, async (client) => {
          try {
            const update = verb === 'approve' ? approveStepUpdate : rejectStepUpdate;
            const s = await client.workflow.getHandle(runId).executeUpdate(update, { args: [{ step, by: opts.by }] });
            console.log(`${runId}: step ${s.id} ${verb === 'approve' ? 'approved' : 'rejected'}`);
          } catch (err) {
            // Temporal going away is said as such by withTemporal, not as a refused decision.
            if (downServerOf(err)) throw err;
            const cause = (err as { cause?: Error }).cause;
            throw new UserError(`cannot ${verb} ${step} of ${runId}: ${cause?.message ?? (err as Error).message}`);
          }
        });
      });
  }
}
