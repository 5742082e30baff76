/**
 * The action primitives against the suite's real stack. Each runs for real, then again with the
 * same meta (a retry), and the test counts the side effect: log entries, documents, stream
 * messages, archive lines, snapshot directories, restarts, signals. Everything changed is put back:
 * later files need the stack healthy.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { NatsConnection } from '@nats-io/nats-core';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connectBus } from '../../src/clients/bus';
import { connectClient } from '../../src/clients/temporal';
import { connectStore, type Store } from '../../src/clients/store';
import { KernelState } from '../../src/domain/kernels';
import { waitKernelsReady } from '../../src/stack/kernel-readiness';
import { controlPlaneStatus } from '../../src/stack/kernel-status';
import { processManager } from '../../src/stack/stack';
import { auditMetaOf, readLogEntries } from '../../src/clients/audit-log';
import { BACKLOG_COLLECTION } from '../../src/clients/collections';
import { immutableLogClient, KERNELS } from '../../kernels/registry';
import type { LogEntry } from '../../kernels/immutable-log/format';
import { ActionErrorType, createActionActivities, type ActionActivities, type ActionMeta } from '../../activities/actions';
import { stackAvailable, testConfig, uniqueId } from '../support/env';
import { kernelRecord, waitFor } from '../support/kernels';

const STREAM = 'LAYER1_TELEMETRY';

describe('actions on the real stack', function () {
  this.timeout(120_000);
  const config = testConfig();
  const pm = processManager(config);
  const run = uniqueId('actions');
  const subjectBase = `telemetry.layer1.actions-test.${run}`;
  let client: Client;
  let store: Store;
  let bus: NatsConnection;
  let operator: NatsConnection;
  let jsm: JetStreamManager;
  let acts: ActionActivities;

  before(async function () {
    if (!stackAvailable()) this.skip();
    [client, store, bus, operator] = await Promise.all([
      connectClient(config),
      connectStore(config),
      // The healing worker's own user: events are published as it.
      connectBus(config, { user: 'self_healing', name: 'actions-test-self-healing' }),
      connectBus(config, { user: 'operator', name: 'actions-test-operator' }),
    ]);
    jsm = await jetstreamManager(operator);
    acts = createActionActivities({
      config,
      db: store.db,
      bus,
      temporal: client,
      pm,
      verificationCommands: { tests: 'node -e "process.exit(0)"', lint: 'true', types: 'true' },
    });
  });

  after(async () => {
    // Leave no test messages behind; the stream itself stays.
    await jsm?.streams.purge(STREAM, { filter: `${subjectBase}.>` }).catch(() => undefined);
    await bus?.close();
    await operator?.close();
    await client?.connection.close();
    await store?.close();
  });

  const meta = (stepId: string, kernel: string | null = null): ActionMeta => ({
    workflowId: `playbook-${run}`,
    runId: 'run-1',
    stepId,
    playbook: 'actions-test',
    kernel,
  });
  const twice = async <T>(fn: () => Promise<T>): Promise<[T, T]> => [await fn(), await fn()];
  const failsWith = (type: string, message?: RegExp) => (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
  const subjectCount = async (subject: string): Promise<number> => {
    const info = await jsm.streams.info(STREAM, { subjects_filter: subject });
    return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  };
  const publish = async (subject: string, n: number): Promise<void> => {
    const js = jetstream(operator);
    for (let i = 0; i < n; i++) await js.publish(subject, JSON.stringify({ i }));
  };
  const lines = (rel: string): string[] => readFileSync(path.join(config.stateDir, rel), 'utf8').split('\n').filter(Boolean);

  describe('the immutable log', () => {
    const log = () => immutableLogClient(config, 10_000);

    it('append_audit appends once: a retry returns the entry already appended', async () => {
      const m = meta('audit');
      const headBefore = (await log().head()).seq;
      const [first, second] = await twice(() => acts.append_audit({ kind: 'actions.test', data: { run } }, m));
      assert.deepEqual(second, first);
      const ours = (await readLogEntries(log(), headBefore + 1)).filter((e: LogEntry) => auditMetaOf(e)?.key === `${m.workflowId}:${m.runId}:audit`);
      assert.equal(ours.length, 1, 'one entry carries the run and step');
      assert.equal(ours[0].seq, first.seq);
      assert.deepEqual((ours[0].data as Record<string, unknown>).meta, { key: `${m.workflowId}:${m.runId}:audit`, ...m });
      await assert.rejects(acts.append_audit({ kind: 'x', data: { meta: 1 } }, meta('audit-reserved')), failsWith(ActionErrorType.INVALID_PARAMS, /reserved/));
    });

    it('verify_log_chain, incremental and full, is read-only and ok', async () => {
      const [a, b] = await twice(() => acts.verify_log_chain({ full: true, require: false }, meta('verify')));
      assert.equal(a.ok, true, JSON.stringify(a));
      assert.equal(b.ok, true);
      assert.ok(a.checked > 0);
      assert.equal(a.firstBadSeq, null);
      assert.equal((await acts.verify_log_chain({ full: false, require: false }, meta('verify-inc'))).ok, true);
    });

    it('rebuild_log_index yields the same index twice, and the log stays valid', async () => {
      const [a, b] = await twice(() => acts.rebuild_log_index({}, meta('reindex')));
      assert.equal(b.segments, a.segments);
      assert.ok(b.entries >= a.entries && a.entries > 0);
      assert.equal((await log().verify({ full: true })).ok, true);
    });

    it('archive_log_segments and cleanup_archives: a second run finds nothing more to do', async () => {
      const [a, b] = await twice(() => acts.archive_log_segments({ keep: 2 }, meta('archive')));
      assert.ok(a.archived >= 0);
      assert.equal(b.archived, 0);
      const [c, d] = await twice(() => acts.cleanup_archives({ maxArchives: 1_000 }, meta('cleanup')));
      assert.equal(c.removed, 0);
      assert.equal(d.removed, 0);
      assert.equal((await log().verify({ full: true })).ok, true);
    });
  });

  describe('the store', () => {
    it('open_backlog_item creates one document however often it runs', async () => {
      const m = meta('backlog');
      const [first, second] = await twice(() => acts.open_backlog_item({ title: `follow up ${run}`, detail: 'x', severity: 'high' }, m));
      assert.deepEqual(first, { id: `${m.workflowId}:${m.runId}:backlog`, created: true });
      assert.deepEqual(second, { id: first.id, created: false });
      const coll = store.db.collection<{ _id: string }>(BACKLOG_COLLECTION);
      assert.equal(await coll.countDocuments({ _id: first.id }), 1);
      const doc = await coll.findOne({ _id: first.id });
      assert.equal((doc as unknown as { status: string }).status, 'open');
      await coll.deleteOne({ _id: first.id });
    });
  });

  describe('the bus', () => {
    it('publish_event bestEffort: a publish the bus does not take goes to the immutable log, and the step succeeds', async () => {
      const out = await acts.publish_event({ subject: 'system.control.actions-test', payload: { run }, bestEffort: true, timeoutMs: 1_000 }, meta('publish-best-effort'));
      assert.equal(out.stream, null);
      assert.ok(out.fallback, JSON.stringify(out));
      const [entry] = (await immutableLogClient(config, 10_000).entries(out.fallback.log, 1)).entries;
      assert.equal(entry?.kind, 'event.unpublished');
      assert.deepEqual((entry?.data as { payload?: unknown }).payload, { run });
    });

    it('drain_queue refuses a consumer with a reader attached, or one a kernel reads; allowReader overrides', async () => {
      const subject = `${subjectBase}.reader`;
      const consumer = `actions_reader_${run.replace(/[^A-Za-z0-9]/g, '_')}`;
      await jsm.consumers.add(STREAM, { durable_name: consumer, ack_policy: AckPolicy.Explicit, filter_subject: subject });
      const reading = await (await jetstream(operator).consumers.get(STREAM, consumer)).consume({ expires: 5_000 });
      // A real reader: takes and acknowledges each message.
      void (async () => {
        for await (const m of reading) m.ack();
      })().catch(() => undefined);
      try {
        await publish(subject, 2);
        await waitFor('the reader pulls', () => jsm.consumers.info(STREAM, consumer), (i) => i.num_waiting > 0, 5_000);
        await assert.rejects(
          acts.drain_queue({ stream: STREAM, consumer, maxMessages: 10, archive: `archive/${run}` }, meta('drain-reader')),
          failsWith(ActionErrorType.CONSUMER_HAS_READER, /pull request/),
        );
        await assert.rejects(
          acts.drain_queue({ stream: 'LAYER1_EVENTS', consumer: 'self_healing_triggers', maxMessages: 10, archive: `archive/${run}` }, meta('drain-kernel')),
          failsWith(ActionErrorType.CONSUMER_HAS_READER),
        );
        const forced = await acts.drain_queue({ stream: STREAM, consumer, maxMessages: 10, archive: `archive/${run}`, allowReader: true }, meta('drain-forced'));
        assert.ok(forced.drained >= 0);
      } finally {
        reading.stop();
        await jsm.consumers.delete(STREAM, consumer);
      }
    });

    it('wait_consumers_delivered: every consumer of the policy present, the triggers read to the end by their reader', async () => {
      const out = await acts.wait_consumers_delivered({ timeoutMs: 20_000, require: true }, meta('delivered'));
      assert.equal(out.ok, true, JSON.stringify(out));
      const triggers = out.consumers.find((c) => c.consumer === 'LAYER1_EVENTS/self_healing_triggers');
      assert.deepEqual([triggers?.present, triggers?.reader, triggers?.pending], [true, true, 0]);
    });

    it('publish_event stores one message: the retry is dropped as a duplicate with the same seq', async () => {
      const subject = `${subjectBase}.event`;
      const [first, second] = await twice(() => acts.publish_event({ subject, payload: { run } }, meta('publish')));
      assert.equal(first.stream, STREAM);
      assert.equal(first.duplicate, false);
      assert.deepEqual(second, { ...first, duplicate: true });
      assert.equal(await subjectCount(subject), 1);
      const msg = await jsm.streams.getMessage(STREAM, { seq: first.seq! });
      assert.deepEqual(msg?.json(), { run });
      assert.equal(msg?.header.get('Layer1-Step'), 'publish');
    });

    it('publish_event on a subject no stream captures is a plain publish; a forbidden one is refused', async () => {
      const out = await acts.publish_event({ subject: `layer1.healing.actions-test.${run}`, payload: {} }, meta('publish-core'));
      assert.deepEqual(out, { stream: null, seq: null, duplicate: false });
      // Only the control plane may publish control messages.
      await assert.rejects(acts.publish_event({ subject: 'system.control.actions-test', payload: {} }, meta('publish-forbidden')), failsWith(ActionErrorType.PUBLISH_REFUSED));
    });

    it('drain_queue archives then acks each message once, also when resuming after a crash', async () => {
      const subject = `${subjectBase}.drain`;
      const consumer = `actions_test_${run.replace(/[^A-Za-z0-9]/g, '_')}`;
      await jsm.consumers.add(STREAM, { durable_name: consumer, ack_policy: AckPolicy.Explicit, filter_subject: subject });
      try {
        await publish(subject, 5);
        const m = meta('drain');
        const [first, second] = await twice(() => acts.drain_queue({ stream: STREAM, consumer, maxMessages: 100, archive: `archive/${run}` }, m));
        const core = (o: { drained: number; remaining: number; archiveFile: string }) => ({ drained: o.drained, remaining: o.remaining, archiveFile: o.archiveFile });
        assert.deepEqual(core(first), { drained: 5, remaining: 0, archiveFile: `archive/${run}/${STREAM}/${consumer}.jsonl` });
        assert.deepEqual(core(second), { ...core(first), drained: 0 });
        assert.equal(first.discarded, false);
        assert.equal(first.lastSeq! - first.firstSeq!, 4);
        const archived = lines(first.archiveFile).map((l) => JSON.parse(l));
        assert.equal(archived.length, 5);
        assert.deepEqual(archived.map((a) => JSON.parse(a.data).i), [0, 1, 2, 3, 4]);
        assert.equal((await jsm.consumers.info(STREAM, consumer)).num_ack_pending, 0);

        // A crash after the archive's fsync, before the acks: the next seq is archived already,
        // and a torn half line follows it.
        await publish(subject, 3);
        const next = (await jsm.consumers.info(STREAM, consumer)).delivered.stream_seq + 1;
        const pre = await jsm.streams.getMessage(STREAM, { seq: next });
        const line = JSON.stringify({ ...archived[0], seq: next, data: pre!.string() });
        writeFileSync(path.join(config.stateDir, first.archiveFile), `${lines(first.archiveFile).join('\n')}\n${line}\n{"stream":"LAYER1_TEL`);
        const resumed = await acts.drain_queue({ stream: STREAM, consumer, maxMessages: 100, archive: `archive/${run}` }, meta('drain-2'));
        assert.equal(resumed.drained, 3);
        const after = lines(first.archiveFile).map((l) => JSON.parse(l));
        assert.equal(after.length, 8, 'each message archived once; the torn line was cut off');
        assert.equal(new Set(after.map((a) => a.seq)).size, 8);

        const limited = await (async () => {
          await publish(subject, 4);
          return acts.drain_queue({ stream: STREAM, consumer, maxMessages: 3, archive: `archive/${run}` }, meta('drain-3'));
        })();
        assert.deepEqual([limited.drained, limited.remaining], [3, 1]);
        await assert.rejects(acts.drain_queue({ stream: STREAM, consumer: 'nope', maxMessages: 1, archive: 'archive' }, meta('drain-x')), failsWith(ActionErrorType.STREAM_NOT_FOUND));
        await assert.rejects(acts.drain_queue({ stream: STREAM, consumer, maxMessages: 1, archive: '../outside' }, meta('drain-y')), failsWith(ActionErrorType.PATH_ESCAPE));
      } finally {
        await jsm.consumers.delete(STREAM, consumer);
      }
    });

    it('purge_queue archives every message of a subject before purging it; a retry purges nothing more; the stream stays', async () => {
      const subject = `${subjectBase}.purge`;
      const other = `${subjectBase}.keep`;
      await publish(subject, 4);
      await publish(other, 2);
      const m = meta('purge');
      const [first, second] = await twice(() => acts.purge_queue({ stream: STREAM, subject, archive: `archive/${run}` }, m));
      assert.deepEqual([first.archived, first.purged], [4, 4]);
      assert.deepEqual(second, { ...first, purged: 0 });
      assert.equal(lines(first.archiveFile).length, 4);
      assert.deepEqual(lines(first.archiveFile).map((l) => JSON.parse(l).subject), [subject, subject, subject, subject]);
      assert.equal(await subjectCount(subject), 0);
      assert.equal(await subjectCount(other), 2, 'other subjects are untouched');
      assert.ok(await jsm.streams.info(STREAM), 'the stream is still there');
      await assert.rejects(acts.purge_queue({ stream: 'NO_SUCH_STREAM', archive: 'archive' }, meta('purge-x')), failsWith(ActionErrorType.STREAM_NOT_FOUND));
    });

    it('apply_bus_acl re-renders and reloads; unchanged the second time; the bus stays ready', async () => {
      const [first, second] = await twice(() => acts.apply_bus_acl({}, meta('acl')));
      assert.equal(second.changed, false);
      assert.equal(second.hash, first.hash);
      assert.notEqual(second.configLoadTime, '');
      const checks = await KERNELS.message_bus.readiness({ config, pm, db: store.db, temporal: client });
      assert.ok(checks.every((c) => c.ok), JSON.stringify(checks));
    });

    it('validate_bus_acl: an allowed publish passes and a forbidden one is refused', async () => {
      const [a, b] = await twice(() => acts.validate_bus_acl({ analyseLog: false, logKb: 1024, require: false }, meta('acl-validate')));
      assert.equal(a.ok, true, a.detail);
      assert.equal(b.ok, true, b.detail);
      assert.match(a.detail, /every user's rules enforced/);
      assert.equal(a.configMatchesPolicy, true);
      assert.ok(a.users && a.users.length >= 4 && a.users.every((u) => u.ok), JSON.stringify(a.users));
    });

    it('restore_from_snapshot of nats.conf reloads the bus (a compensation that undoes for real)', async () => {
      // Its own label, removed after: the file tests below count the snapshots of theirs.
      const label = 'actions_test_conf';
      try {
        const snap = await acts.take_snapshot({ paths: ['bus/nats.conf'], label }, meta('conf-snapshot'));
        const restored = await acts.restore_from_snapshot({ path: 'bus/nats.conf', snapshot: snap.snapshot }, meta('conf-restore'));
        assert.ok(restored.configLoadTime, 'the bus loaded the restored file');
      } finally {
        rmSync(path.join(config.stateDir, 'snapshots', label), { recursive: true, force: true });
      }
    });
  });

  describe('files of the state directory', () => {
    const dir = `actions-test/${run}`;
    const abs = (rel: string) => path.join(config.stateDir, rel);
    after(() => rmSync(abs('actions-test'), { recursive: true, force: true }));

    it('take_snapshot makes one snapshot per step; restore_from_snapshot checks and restores once', async () => {
      mkdirSync(abs(dir), { recursive: true });
      writeFileSync(abs(`${dir}/settings.json`), '{"good":true}');
      const [first, second] = await twice(() => acts.take_snapshot({ paths: [dir], label: 'actions_test' }, meta('snapshot')));
      assert.deepEqual(second, first);
      assert.deepEqual(readdirSync(abs('snapshots/actions_test')), [first.snapshot], 'one snapshot directory');
      assert.deepEqual([first.files, first.bytes], [1, 13]);

      writeFileSync(abs(`${dir}/settings.json`), '{"good":false, "broken": true}');
      const [r1, r2] = await twice(() => acts.restore_from_snapshot({ path: `${dir}/settings.json`, snapshot: first.snapshot }, meta('restore')));
      assert.equal(r1.restored, true);
      assert.equal(r2.restored, false);
      assert.equal(readFileSync(abs(`${dir}/settings.json`), 'utf8'), '{"good":true}');
      rmSync(abs('snapshots/actions_test'), { recursive: true });
    });

    it('refuses paths that escape the state directory, by .. or by a symlink', async () => {
      mkdirSync(abs(dir), { recursive: true });
      symlinkSync('/etc', abs(`${dir}/etc-link`));
      for (const p of ['../outside', `${dir}/../../../etc/hosts`, `${dir}/etc-link/hosts`]) {
        await assert.rejects(acts.take_snapshot({ paths: [p], label: 'actions_test' }, meta(`escape-${p.length}`)), failsWith(ActionErrorType.PATH_ESCAPE), p);
        await assert.rejects(acts.restore_from_snapshot({ path: p }, meta(`escape-r-${p.length}`)), failsWith(ActionErrorType.PATH_ESCAPE), p);
      }
      assert.ok(!existsSync(abs('snapshots/actions_test')));
    });
  });

  describe('processes', () => {
    const sleeper = `actions-test-sleeper`;
    const spec = { name: sleeper, command: 'sleep', args: ['300'] };
    after(() => pm.stop(sleeper, 1_000));

    it('kill_process refuses a name the process manager does not know', async () => {
      await assert.rejects(acts.kill_process({ process: 'no-such-process', signal: 'SIGKILL', graceMs: 0 }, meta('kill-unknown')), failsWith(ActionErrorType.UNKNOWN_PROCESS, /no-such-process/));
    });

    it('kill_process signals the pid it targeted once; a retry never signals its successor', async () => {
      const first = await pm.start(spec);
      const m = meta('kill');
      const out = await acts.kill_process({ process: sleeper, signal: 'SIGKILL', graceMs: 0 }, m);
      assert.deepEqual(out, { process: sleeper, pid: first.pid, signalled: true, escalated: false, gone: null });
      await waitFor('the sleeper to die', async () => pm.isAlive(sleeper), (alive) => !alive, 5_000);
      assert.deepEqual(await acts.kill_process({ process: sleeper, signal: 'SIGKILL', graceMs: 0 }, m), { ...out, signalled: false });

      const successor = await pm.start(spec);
      assert.notEqual(successor.pid, first.pid);
      assert.deepEqual(await acts.kill_process({ process: sleeper, signal: 'SIGKILL', graceMs: 0 }, m), { ...out, signalled: false });
      await sleep(200);
      assert.equal(pm.pid(sleeper), successor.pid, 'the successor still runs');
    });

    it('kill_process with a grace: SIGTERM, then SIGKILL for a process deaf to TERM, and it is gone', async () => {
      const deaf = 'actions-test-deaf';
      try {
        const started = await pm.start({ name: deaf, command: process.execPath, args: ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)"] });
        await sleep(300); // its TERM listener is installed
        const t0 = Date.now();
        const out = await acts.kill_process({ process: deaf, signal: 'SIGTERM', graceMs: 1_000 }, meta('kill-deaf'));
        assert.deepEqual(out, { process: deaf, pid: started.pid, signalled: true, escalated: true, gone: true });
        assert.ok(Date.now() - t0 >= 1_000, 'it waited the grace before SIGKILL');
        assert.equal(pm.isAlive(deaf), false, 'the process table agrees');
        // A process that honours TERM is gone within the grace, without SIGKILL.
        const polite = await pm.start({ name: deaf, command: 'sleep', args: ['300'] });
        const out2 = await acts.kill_process({ process: deaf, signal: 'SIGTERM', graceMs: 5_000 }, meta('kill-polite'));
        assert.deepEqual(out2, { process: deaf, pid: polite.pid, signalled: true, escalated: false, gone: true });
      } finally {
        await pm.stop(deaf, 500);
      }
    });

    it('start_server leaves a running server alone, and starts a crashed one once, side by side with the server supervisor', async function () {
      this.timeout(150_000);
      const pid = pm.pid('store');
      assert.deepEqual(await acts.start_server({ server: 'store' }, meta('start-running')), { server: 'store', outcome: 'already_running', pid });
      // Killed: this action and the supervisor in the healing replicas race to start it; the shared
      // claim lets one of them do it, and the other finds it running (or the claim taken).
      assert.ok(pm.signal('store', 'SIGKILL'));
      const out = await acts.start_server({ server: 'store' }, meta('start-crashed'));
      assert.ok(['started', 'already_running', 'claimed_elsewhere'].includes(out.outcome), JSON.stringify(out));
      const back = await waitFor('the store to run again', async () => pm.pid('store'), (p) => p !== null && p !== pid, 10_000);
      await sleep(1_000);
      assert.equal(pm.pid('store'), back, 'one store started, and it still runs (no second one lost the port and replaced its pid file)');
      await waitKernelsReady({ config, pm, db: store.db, temporal: client }, { timeoutMs: 60_000 });
    });
  });

  describe('kernels, through the control plane', () => {
    it('wait_kernel_ready passes for a ready kernel, heartbeating', async () => {
      const env = new MockActivityEnvironment();
      let beats = 0;
      env.on('heartbeat', () => beats++);
      const out: Awaited<ReturnType<ActionActivities['wait_kernel_ready']>> = await env.run(
        acts.wait_kernel_ready,
        { kernel: 'immutable_log' as const, timeoutMs: 10_000, require: false },
        meta('wait'),
      );
      assert.equal(out.ready, true, JSON.stringify(out.checks));
      assert.deepEqual(out.checks.map((c) => c.name), ['writable', 'integrity', 'disk_space']);
      assert.ok(beats >= 1);
    });

    it('set_kernel_state stops and starts a kernel once per step; wait_kernel_ready gives up or is cancelled meanwhile', async () => {
      const stopsBefore = await coderEvents('stop requested');
      const stopped = await twice(() => acts.set_kernel_state({ kernel: 'coding_agent', state: 'stopped' }, meta('stop', 'coding_agent')));
      try {
        assert.equal(stopped[0].state, KernelState.STOPPED);
        assert.deepEqual(stopped[1], stopped[0]);
        assert.ok(Object.values(stopped[0].pids).every((p) => p === null));
        assert.equal(await coderEvents('stop requested'), stopsBefore + 1, 'the retried update ran once');

        const gaveUp = await acts.wait_kernel_ready({ kernel: 'coding_agent', timeoutMs: 300, require: false }, meta('wait-stopped'));
        assert.equal(gaveUp.ready, false);
        assert.ok(gaveUp.checks.some((c) => !c.ok));

        const env = new MockActivityEnvironment();
        env.on('heartbeat', () => env.cancel());
        await assert.rejects(env.run(acts.wait_kernel_ready, { kernel: 'coding_agent' as const, timeoutMs: 60_000, require: false }, meta('wait-cancel')), CancelledFailure);
      } finally {
        const started = await twice(() => acts.set_kernel_state({ kernel: 'coding_agent', state: 'running' }, meta('start', 'coding_agent')));
        assert.equal(started[0].state, KernelState.READY);
        assert.deepEqual(started[1], started[0]);
      }
    });

    it('restart_kernel restarts once per step (the retry gets the same result) and waits until ready', async () => {
      const before = await kernelRecord(client, 'coding_agent');
      const requestsBefore = await coderEvents('restart requested: actions test');
      const [first, second] = await twice(() => acts.restart_kernel({ kernel: 'coding_agent', reason: 'actions test' }, meta('restart', 'coding_agent')));
      assert.deepEqual(second, first, 'the retry gets the first outcome');
      assert.equal(await coderEvents('restart requested: actions test'), requestsBefore + 1, 'the retried update ran once');
      // At least one: the trigger monitor may also report the stopped pid and the control plane restart it.
      assert.ok(first.restarts >= before.restarts + 1);
      assert.notEqual(first.pids['coding-agent-1'], before.pids['coding-agent-1']);
      await waitKernelsReady({ config, pm, db: store.db, temporal: client }, { kernels: ['coding_agent'], timeoutMs: 30_000 });
    });
  });

  describe('the verification loop', () => {
    it('run_verification runs the configured checks and reports each', async () => {
      const [a, b] = await twice(() => acts.run_verification({ target: '.', checks: ['tests', 'lint', 'types'] }, meta('verify-loop')));
      assert.equal(a.ok, true, JSON.stringify(a));
      assert.deepEqual(a.results.map((r) => r.check), ['tests', 'lint', 'types']);
      assert.equal(b.ok, true);
    });
  });

  /** How many events of the coding agent saying `what` the control plane's event list shows. */
  async function coderEvents(what: string): Promise<number> {
    const status = await controlPlaneStatus(client);
    return (status?.events ?? []).filter((e) => e.kernel === 'coding_agent' && e.what === what).length;
  }
});
