/**
 * Records the histories the replay test replays (test/histories/*.json): real runs of boot, the
 * control plane healing two killed kernels and running a playbook action's `kernelCommand`, and
 * playbooks that succeed after an approval, that compensate, and that the dispatcher started. Runs on its own stack (test/histories/capture.yaml), started from
 * empty and stopped after.
 *
 * Refresh them only when a workflow change is *meant* to change histories, and then keep old runs
 * replaying with `patched()` / versioning (see docs/replay.md):
 *
 *   npm run build && node dist/scripts/capture-histories.js [--config FILE] [--out DIR]
 *
 * `--config` records on another stack config (other ports), `--out` writes the files elsewhere (to
 * pick the ones to keep without overwriting the committed histories).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadConfig, type LoadedConfig } from '../src/config/load';
import { connectClient } from '../src/clients/temporal';
import { loadPlaybookSources, resolveRunParams } from '../src/playbooks/loader';
import { processManager, startServices, startWorkers, stopAll } from '../src/stack/stack';
import { REPO_ROOT, toolPaths } from '../src/stack/tools';
import { CONTROL_PLANE_WORKFLOW_ID, getControlPlaneStatusQuery, kernelCommandSignal } from '../contracts/control-plane';
import { approveStepUpdate, dispatchWorkflowId, evidenceSignal, getPlaybookProgressQuery, PLAYBOOK_WORKFLOW, PLAYBOOK_WORKFLOW_TASK_TIMEOUT, type PlaybookWorkflow } from '../contracts/playbook';
import { runBoot } from './kernel-verbs';
import { BOOT_WORKFLOW_ID } from '../contracts/boot';
import { runPlaybook } from './playbook-run-verbs';

const execFileP = promisify(execFile);
const HISTORIES = path.join(REPO_ROOT, 'test', 'histories');
function option(name: string): string | null {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? null) : null;
}
const OUT = path.resolve(option('out') ?? HISTORIES);
const log = (m: string): void => {
  process.stderr.write(`• ${m}\n`);
};

const PLAYBOOKS = `
playbooks:
  - name: replay_approved
    description: snapshot, audit, and an approval-gated publish
    trigger: { kernel: message_bus, events: [manual] }
    parameters: { note: { type: string, default: replay } }
    steps:
      - { id: snapshot, action: take_snapshot, with: { paths: [bus/nats.conf], label: replay }, output: snap }
      - { id: audit, action: append_audit, with: { kind: replay.note, data: { snapshot: '\${{ steps.snap.snapshot }}' } } }
      - id: publish
        action: publish_event
        approval: { timeout: 10m, default: reject, prompt: 'Publish \${{ params.note }}?' }
        with: { subject: layer1.events.replay, payload: { note: '\${{ params.note }}' } }
  - name: replay_compensated
    description: a failing restore compensates the snapshot before it
    trigger: { kernel: immutable_log, events: [manual] }
    steps:
      - id: snapshot
        action: take_snapshot
        with: { paths: [bus/nats.conf], label: replay }
        output: snap
        compensate: { action: append_audit, with: { kind: replay.compensated, data: { snapshot: '\${{ steps.snap.snapshot }}' } } }
      - { id: restore, action: restore_from_snapshot, with: { path: bus/nats.conf, snapshot: no-such-snapshot }, on_failure: compensate, retry: { attempts: 1 } }
  - name: replay_dispatched
    description: a run started from evidence, with the same evidence again folded in
    trigger: { kernel: any, events: [manual] }
    steps:
      - { id: audit, action: append_audit, with: { kind: replay.dispatched, data: { run: '\${{ run.id }}' } } }
`;

/** The Temporal CLI writes the standard JSON form that the SDK's replayer reads (historyFromJSON). */
async function save(config: LoadedConfig, workflowId: string, file: string): Promise<void> {
  const { stdout } = await execFileP(toolPaths().temporal, [
    'workflow', 'show', '--workflow-id', workflowId, '--output', 'json',
    '--address', config.temporal.address, '--namespace', config.temporal.namespace,
  ], { maxBuffer: 64 * 1024 * 1024 });
  const events = (JSON.parse(stdout) as { events?: unknown[] }).events ?? [];
  writeFileSync(path.join(OUT, file), stdout.endsWith('\n') ? stdout : `${stdout}\n`);
  log(`saved ${file} (${events.length} events)`);
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const config = loadConfig(path.resolve(option('config') ?? path.join(HISTORIES, 'capture.yaml')), {});
  const pm = processManager(config);
  await stopAll(config, () => undefined);
  rmSync(config.stateDir, { recursive: true, force: true });
  await startServices(config, log);
  await startWorkers(config, log);
  const client = await connectClient(config);
  try {
    const boot = await runBoot(config, client);
    if (!boot.ok) throw new Error(`boot failed: ${boot.failedChecks.join('; ')}`);
    await save(config, BOOT_WORKFLOW_ID, 'boot.json');

    for (const proc of ['bus', 'immutable-log']) {
      const cp = client.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
      const before = (await cp.query(getControlPlaneStatusQuery)).events.length;
      process.kill(pm.pid(proc)!, 'SIGKILL');
      for (let i = 0; i < 200; i++) {
        const s = await cp.query(getControlPlaneStatusQuery);
        if (s.events.length >= before + 2) break;
        await sleep(100);
      }
      log(`control plane healed ${proc}`);
    }

    const { playbooks, problems } = loadPlaybookSources([{ file: 'capture.yaml', text: PLAYBOOKS }]);
    if (problems.length > 0) throw new Error(JSON.stringify(problems));
    const [approved, compensated] = playbooks;

    const approvedId = 'replay-approved';
    const run = runPlaybook(config, client, approved, { params: resolveRunParams(approved, {}), dryRun: false, workflowId: approvedId });
    const handle = client.workflow.getHandle(approvedId);
    for (let i = 0; i < 100; i++) {
      const r = await handle.query(getPlaybookProgressQuery).catch(() => null);
      if (r?.steps[2].status === 'waiting_approval') break;
      await sleep(100);
    }
    await handle.executeUpdate(approveStepUpdate, { args: [{ step: 'publish', by: 'capture' }] });
    log(`replay_approved: ${(await run).outcome}`);
    await save(config, approvedId, 'playbook-approved.json');

    const compensatedId = 'replay-compensated';
    const report = await runPlaybook(config, client, compensated, { params: {}, dryRun: false, workflowId: compensatedId });
    log(`replay_compensated: ${report.outcome}`);
    await save(config, compensatedId, 'playbook-compensated.json');

    // A playbook action's lifecycle command: the kernelCommand signal, its result in the status query.
    const cp = client.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
    await cp.signal(kernelCommandSignal, { requestId: 'capture-restart', op: 'restart', kernel: 'immutable_log', reason: 'capture' });
    for (let i = 0; i < 200; i++) {
      const s = await cp.query(getControlPlaneStatusQuery);
      if (s.commands?.find((c) => c.requestId === 'capture-restart')?.done) break;
      await sleep(100);
    }
    log('control plane ran a kernelCommand restart of immutable_log');

    // The dispatcher's signal-with-start: the starting evidence, then a duplicate folded in.
    const dispatched = playbooks[2];
    const evidence = { id: 'capture-evidence', kind: 'exited', signature: 'capture', detail: 'capture', observer: 'capture', at: Date.now() };
    const dispatchedId = dispatchWorkflowId(dispatched.name, 'capture');
    const started = await client.workflow.signalWithStart<PlaybookWorkflow, [unknown]>(PLAYBOOK_WORKFLOW, {
      workflowId: dispatchedId,
      taskQueue: config.temporal.taskQueues.healing,
      workflowTaskTimeout: PLAYBOOK_WORKFLOW_TASK_TIMEOUT,
      args: [{ playbook: dispatched, params: {}, kernel: null, startedBy: 'capture', evidence }],
      signal: evidenceSignal,
      signalArgs: [evidence],
    });
    await started.signal(evidenceSignal, evidence);
    log(`replay_dispatched: ${(await started.result()).outcome}`);
    await save(config, dispatchedId, 'playbook-dispatched.json');

    await save(config, CONTROL_PLANE_WORKFLOW_ID, 'control-plane.json');
  } finally {
    await client.connection.close();
    await stopAll(config, () => undefined);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
