import assert from 'node:assert/strict';
import { openSync, readdirSync, readFileSync, readSync, writeSync, closeSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { connectClient } from '../../src/clients/temporal';
import { BOOTS_COLLECTION } from '../../src/clients/collections';
import { connectStore, type Store } from '../../src/clients/store';
import { KernelState, type KernelName } from '../../src/domain/kernels';
import { waitKernelsReady } from '../../src/stack/kernel-readiness';
import { processManager } from '../../src/stack/stack';
import { KERNELS } from '../../kernels/registry';
import { observeKernels } from '../../activities/actions/control-plane-client';
import { bootInput } from '../../src/clients/starters';
import type { BootReport } from '../../contracts/boot';
import { runCli } from '../support/cli';
import { stackAvailable, testConfig, TEST_CONFIG_FILE } from '../support/env';
import { kernelRecord, waitFor } from '../support/kernels';
import { BOOT_WORKFLOW_ID, BOOT_WORKFLOW, type BootWorkflow } from '../../contracts/boot';

describe('kernels on the real stack', function () {
  this.timeout(120_000);
  const config = testConfig();
  const pm = processManager(config);
  let client: Client;
  let store: Store;

  before(async function () {
    if (!stackAvailable()) this.skip();
    client = await connectClient(config);
    store = await connectStore(config);
  });

  after(async () => {
    await client?.connection.close();
    await store?.close();
  });

  const ctx = () => ({ config, pm, db: store.db, temporal: client });
  const readiness = (k: KernelName, cfg = config) => KERNELS[k].readiness({ ...ctx(), config: cfg });
  const check = async (k: KernelName, name: string, cfg = config) => {
    const c = (await readiness(k, cfg)).find((x) => x.name === name);
    assert.ok(c, `${k} has a check named ${name}`);
    return c;
  };

  it('status shows all four kernels ready, with every named check passing', async () => {
    const res = await runCli(['--config', TEST_CONFIG_FILE, 'status', '--json']);
    const status = JSON.parse(res.stdout);
    assert.equal(res.code, 0, res.stdout);
    assert.equal(status.degraded, false);
    const byName = Object.fromEntries(status.kernels.map((k: { name: string }) => [k.name, k]));
    assert.deepEqual(Object.keys(byName).sort(), ['coding_agent', 'immutable_log', 'message_bus', 'self_healing']);
    const expected: Record<string, string[]> = {
      message_bus: ['queue_operational', 'acl_loaded', 'subscriptions_active'],
      immutable_log: ['writable', 'integrity', 'disk_space'],
      self_healing: ['playbooks_loaded', 'triggers_subscribed', 'knowledge_base', 'replicas_polling'],
      coding_agent: ['task_queue_pollers', 'fixers_available', 'models_loaded', 'knowledge_loaded'],
    };
    for (const [name, checks] of Object.entries(expected)) {
      const k = byName[name];
      assert.equal(k.ready, true, `${name}: ${JSON.stringify(k.checks)}`);
      assert.equal(typeof k.pid, 'number');
      assert.equal(typeof k.restarts, 'number');
      assert.equal(typeof k.state, 'string');
      assert.deepEqual(k.checks.map((c: { name: string }) => c.name), checks);
      for (const c of k.checks) assert.deepEqual(Object.keys(c).sort(), ['detail', 'ms', 'name', 'ok']);
    }
    const healing = status.workers.filter((w: { taskQueue: string }) => w.taskQueue === config.temporal.taskQueues.healing);
    assert.equal(healing.length, 2, 'both healing replicas are listed under workers');
    assert.ok(healing.some((w: { pid: number }) => w.pid === byName.self_healing.pid));
  });

  it("failover's observation of the kernels (when the closed run cannot be replayed) is each process's live pid and a passing self-test", async () => {
    const observed = await observeKernels(ctx());
    assert.deepEqual(Object.keys(observed.pids ?? {}).sort(), Object.keys(KERNELS).sort());
    for (const [kernel, def] of Object.entries(KERNELS)) {
      assert.deepEqual(observed.pids?.[kernel], Object.fromEntries(def.processes(config).map((p) => [p, pm.pid(p)])), kernel);
      const k = observed.kernels?.find((x) => x.kernel === kernel);
      assert.equal(k?.ready, true, `${kernel}: ${JSON.stringify(k?.checks)}`);
    }
  });

  it('boot on a running system changes nothing and verifies readiness', async () => {
    // Spares are the trigger monitor's to start and replace, at any time: not the boot's business.
    const processes = () => pm.list().filter((n) => !n.endsWith('.standby')).map((n) => [n, pm.pid(n)]);
    const pidsBefore = processes();
    const report = (await client.workflow.execute<BootWorkflow>(BOOT_WORKFLOW, {
      taskQueue: config.temporal.taskQueues.healing,
      workflowId: `${BOOT_WORKFLOW_ID}-idempotent-${Date.now()}`,
      args: [bootInput(config)],
    })) as BootReport;
    assert.equal(report.ok, true, report.failedChecks.join('; '));
    assert.deepEqual(report.phases.map((p) => p.phase), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(processes(), pidsBefore);
    const stored = await store.db.collection(BOOTS_COLLECTION).findOne({ _id: report.bootId as never });
    assert.ok(stored, 'the boot report is stored');
  });

  it('immutable log: a corrupted entry fails integrity, and it passes again once repaired', async () => {
    const segDir = path.join(config.stateDir, 'log', 'segments');
    const seg = path.join(segDir, readdirSync(segDir).sort().at(-1)!);
    assert.equal((await check('immutable_log', 'integrity')).ok, true);
    // Flip one byte inside the first entry's payload, for real, on disk.
    const fd = openSync(seg, 'r+');
    const buf = Buffer.alloc(Math.min(4096, statSync(seg).size));
    readSync(fd, buf, 0, buf.length, 0);
    // The first letter of the first entry's kind: flipping its lowest bit keeps it a letter.
    const at = buf.indexOf('"kind":"') + '"kind":"'.length;
    assert.ok(at > 8 && at < buf.indexOf('\n'), 'found the first entry');
    const original = buf[at];
    try {
      writeSync(fd, Buffer.from([original ^ 0x01]), 0, 1, at);
      const broken = await check('immutable_log', 'integrity');
      assert.equal(broken.ok, false);
      assert.match(broken.detail, /seq 1\b|hash_mismatch|unparsable/);
    } finally {
      writeSync(fd, Buffer.from([original]), 0, 1, at);
      closeSync(fd);
    }
    assert.equal((await check('immutable_log', 'integrity')).ok, true);
  });

  it('immutable log: a disk threshold above free space fails disk_space, and passes at a sane one', async () => {
    const greedy = { ...config, kernels: { ...config.kernels, immutable_log: { ...config.kernels.immutable_log, minFreeDiskMb: 1_000_000_000 } } };
    const failing = await check('immutable_log', 'disk_space', greedy);
    assert.equal(failing.ok, false);
    assert.match(failing.detail, /MiB/);
    assert.equal((await check('immutable_log', 'disk_space')).ok, true);
  });

  it('coding agent: stopping its worker fails task_queue_pollers (degraded), starting it passes again', async () => {
    const stop = await runCli(['--config', TEST_CONFIG_FILE, 'kernel', 'stop', 'coding_agent', '--json']);
    assert.equal(stop.code, 0, stop.stderr);
    try {
      const c = await check('coding_agent', 'task_queue_pollers');
      assert.equal(c.ok, false);
      assert.match(c.detail, /no live poller/);
      const status = JSON.parse((await runCli(['--config', TEST_CONFIG_FILE, 'status', '--json'])).stdout);
      assert.equal(status.degraded, true, 'an optional kernel down means degraded mode');
      assert.equal(pm.standbyInfo('coding-agent-1').alive, false, 'a kernel stopped for good keeps no spare');
    } finally {
      const start = await runCli(['--config', TEST_CONFIG_FILE, 'kernel', 'start', 'coding_agent', '--json']);
      assert.equal(start.code, 0, start.stderr + start.stdout);
    }
    assert.equal((await check('coding_agent', 'task_queue_pollers')).ok, true);
  });

  it('refuses an unknown kernel before anything is recorded', async () => {
    const res = await runCli(['--config', TEST_CONFIG_FILE, 'kernel', 'restart', 'nonsense']);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /unknown kernel "nonsense"/);
  });

  for (const [kernel, proc] of [
    ['message_bus', 'bus'],
    ['immutable_log', 'immutable-log'],
    ['coding_agent', 'coding-agent-1'],
    ['self_healing', 'healing-2'],
  ] as const) {
    it(`kill -9 of ${proc} (${kernel}) is detected and the kernel is ready again with no one acting`, async () => {
      const before = await kernelRecord(client, kernel);
      const pid = pm.pid(proc);
      assert.ok(pid, `${proc} runs`);
      process.kill(pid, 'SIGKILL');
      const rec = await waitFor(
        `${kernel} restarted and ready`,
        () => kernelRecord(client, kernel),
        (r) => r.restarts > before.restarts && r.state !== KernelState.RESTARTING && r.checks.every((c) => c.ok) && r.readySince !== null,
      );
      assert.notEqual(pm.pid(proc), pid);
      assert.match(rec.lastReason ?? '', /exited/);
      assert.equal((await readiness(kernel)).every((c) => c.ok), true);
    });
  }

  it('a worker killed with a warm spare is taken over by that spare, and a killed spare is replaced', async () => {
    const spare = await waitFor('coding-agent-1 has a warm spare', async () => pm.standbyInfo('coding-agent-1'), (s) => s.warm);
    const before = await kernelRecord(client, 'coding_agent');
    process.kill(pm.pid('coding-agent-1')!, 'SIGKILL');
    await waitFor(
      'coding_agent restarted and ready',
      () => kernelRecord(client, 'coding_agent'),
      (r) => r.restarts > before.restarts && r.state !== KernelState.RESTARTING && r.checks.every((c) => c.ok) && r.readySince !== null,
    );
    assert.equal(pm.pid('coding-agent-1'), spare.pid, 'the spare is the worker now');
    const promoted = readFileSync(pm.logPath('coding-agent-1'), 'utf8')
      .split('\n')
      .some((l) => l.includes(`"pid":${spare.pid}`) && l.includes('worker polling (promoted standby)'));
    assert.ok(promoted, 'the spare logged its promotion');

    // The trigger monitor starts a new spare; killed, it is started again.
    const next = await waitFor('a new spare', async () => pm.standbyInfo('coding-agent-1'), (s) => s.alive && s.pid !== spare.pid);
    process.kill(next.pid!, 'SIGKILL');
    const again = await waitFor('the killed spare replaced', async () => pm.standbyInfo('coding-agent-1'), (s) => s.alive && s.pid !== next.pid);
    assert.notEqual(again.pid, pm.pid('coding-agent-1'));
    await waitFor('warm again', async () => pm.standbyInfo('coding-agent-1'), (s) => s.warm);
  });

  it('kill -9 of a healing replica during a boot: the boot still completes', async () => {
    const handle = await client.workflow.start<BootWorkflow>(BOOT_WORKFLOW, {
      taskQueue: config.temporal.taskQueues.healing,
      workflowId: `${BOOT_WORKFLOW_ID}-kill-${Date.now()}`,
      args: [bootInput(config)],
    });
    await new Promise((r) => setTimeout(r, 150));
    process.kill(pm.pid('healing-1')!, 'SIGKILL');
    const report = (await handle.result()) as BootReport;
    assert.equal(report.ok, true, report.failedChecks.join('; '));
    await waitKernelsReady(ctx(), { kernels: ['self_healing'], timeoutMs: 20_000, everyMs: 50 });
  });

  it('a crash-looping kernel backs off and says so in status', async () => {
    const { crashLoop } = config.controlPlane;
    let rec = await kernelRecord(client, 'immutable_log');
    for (let i = 0; i <= crashLoop.restarts; i++) {
      const restarts = rec.restarts;
      process.kill(pm.pid('immutable-log')!, 'SIGKILL');
      rec = await waitFor('log restarted', () => kernelRecord(client, 'immutable_log'), (r) => r.restarts > restarts && r.readySince !== null);
    }
    assert.equal(rec.crashLoop, true);
    assert.ok(rec.backoffMs > 0, 'restarts are backed off');
    assert.equal(rec.state, KernelState.CRASH_LOOP);
    const status = JSON.parse((await runCli(['--config', TEST_CONFIG_FILE, 'status', '--json'])).stdout);
    const k = status.kernels.find((x: { name: string }) => x.name === 'immutable_log');
    assert.equal(k.state, 'CRASH_LOOP');
    assert.equal(k.crashLoop, true);
    assert.ok(k.backoffMs > 0);
    assert.equal(k.ready, true, 'still serving between crashes');
  });
});
