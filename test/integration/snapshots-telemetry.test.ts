/**
 * Boot phase 6 and the schedules it creates, on the suite's stack: the boot snapshots, the snapshot
 * and telemetry schedules (one each however often boot runs), the retention applied by a triggered
 * snapshot run to snapshots made old for real, the telemetry document on the bus matching the boot
 * reports in the store, and /metrics as valid Prometheus text.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { NatsConnection } from '@nats-io/nats-core';
import { BOOT_WORKFLOW_ID, type BootReport } from '../../contracts/boot';
import { SNAPSHOTS_SCHEDULE_ID, TELEMETRY_SCHEDULE_ID, type SnapshotRunReport } from '../../contracts/schedules';
import { connectBus } from '../../src/clients/bus';
import { BOOTS_COLLECTION, TELEMETRY_COLLECTION } from '../../src/clients/collections';
import { connectStore, type Store } from '../../src/clients/store';
import { connectClient } from '../../src/clients/temporal';
import { METRIC_DEFS } from '../../src/metrics/registry';
import { SNAPSHOTS_DIR, type SnapshotManifest } from '../../src/snapshots/store';
import { listSnapshots, takeTypedSnapshots } from '../../src/snapshots/typed';
import { metricsUrl } from '../../src/stack/metrics-process';
import { readinessFigures, TELEMETRY_SUBJECT, type TelemetryDocument } from '../../src/telemetry/collect';
import { runBoot } from '../../scripts/kernel-verbs';
import { runCli } from '../support/cli';
import { stackAvailable, testConfig, uniqueId, TEST_CONFIG_FILE } from '../support/env';
import { parsePrometheusStrict } from '../support/prometheus';

const DAY_MS = 86_400_000;

describe('boot phase 6: snapshots, schedules, telemetry and /metrics (real stack)', () => {
  const config = testConfig();
  let client: Client;
  let store: Store;
  let bus: NatsConnection;

  before(async function () {
    if (!stackAvailable()) this.skip();
    client = await connectClient(config);
    store = await connectStore(config);
    bus = await connectBus(config, { name: uniqueId('test-telemetry'), user: 'operator' });
  });

  after(async () => {
    await bus?.drain();
    await client?.connection.close();
    await store?.close();
  });

  /** The report of the boot that ran last (the suite's, or the one a test ran). */
  async function lastBoot(): Promise<BootReport> {
    return client.workflow.getHandle(BOOT_WORKFLOW_ID).result() as Promise<BootReport>;
  }

  it('after up, the boot snapshot of each type exists, is latest and has a valid manifest', async () => {
    const report = await lastBoot();
    const phase6 = report.phases.find((p) => p.name === 'snapshots_and_schedules');
    assert.equal(phase6?.ok, true, phase6?.detail);
    const byType = Object.fromEntries((report.snapshots ?? []).map((s) => [s.type, s]));
    assert.deepEqual(Object.keys(byType).sort(), [...config.snapshots.types].sort());
    // Every kernel booted, so the coding agent's models exist; the log may not have sealed a segment yet.
    for (const type of ['models', 'configs', 'playbooks']) assert.ok(byType[type]?.id, `${type}: ${JSON.stringify(byType[type])}`);
    const res = await runCli(['--config', TEST_CONFIG_FILE, 'snapshots', 'list', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const listed = JSON.parse(res.stdout) as Array<Record<string, unknown>>;
    for (const s of report.snapshots ?? []) {
      if (!s.id) continue;
      const entry = listed.find((l) => l.id === s.id);
      assert.ok(entry, `${s.id} is listed`);
      assert.deepEqual(Object.keys(entry).slice(0, 7), ['type', 'id', 'takenAt', 'latest', 'files', 'bytes', 'manifestOk']);
      assert.equal(entry.type, s.type);
      assert.equal(entry.manifestOk, true, JSON.stringify(entry));
      assert.equal(entry.files, s.files);
    }
    // The snapshot holds the config in use, kept against its own directory.
    const configs = JSON.parse(readFileSync(path.join(config.stateDir, SNAPSHOTS_DIR, 'configs', byType.configs.id!, 'manifest.json'), 'utf8')) as SnapshotManifest;
    assert.ok(configs.files.some((f) => f.root === 'config' && f.path === path.basename(TEST_CONFIG_FILE)), JSON.stringify(configs.files));
    assert.ok(configs.files.some((f) => (f.root ?? 'state') === 'state' && f.path === 'bus/nats.conf'));
  });

  it('a subscriber on the bus receives a telemetry document within 60 s whose readiness matches the boot reports in the store', async function () {
    this.timeout(90_000);
    const sub = bus.subscribe(TELEMETRY_SUBJECT);
    const started = Date.now();
    try {
      for await (const msg of sub) {
        const doc = msg.json<TelemetryDocument>();
        // Computed independently of the document: the boot reports as the store holds them now.
        const boots = await store.db.collection<BootReport>(BOOTS_COLLECTION).find({}).toArray();
        const expected: Record<string, { count: number; ready: number; minMs: number; maxMs: number; retries: number; avgMs: number }> = {};
        for (const b of boots) {
          for (const k of b.kernels) {
            const e = (expected[k.kernel] ??= { count: 0, ready: 0, minMs: Infinity, maxMs: -Infinity, retries: 0, avgMs: 0 });
            e.count += 1;
            e.retries += k.retries;
            if (!k.ready) continue;
            e.ready += 1;
            e.minMs = Math.min(e.minMs, k.timeToReadyMs);
            e.maxMs = Math.max(e.maxMs, k.timeToReadyMs);
            e.avgMs += k.timeToReadyMs;
          }
        }
        for (const e of Object.values(expected)) e.avgMs = Math.round(e.avgMs / e.ready);
        // The schedule fires every 60 s; the run's own start and computation add well under a few seconds.
        assert.ok(Date.now() - started <= 65_000, `within 60 s of the schedule: ${Date.now() - started} ms`);
        if (boots.some((b) => b.finishedAt && b.finishedAt > doc.at)) continue; // a boot finished after it was computed: wait for the next
        assert.deepEqual(doc.readiness, expected);
        assert.deepEqual(doc.readiness, await readinessFigures(store.db));
        assert.equal(doc.chaos.available, false);
        assert.match(doc.chaos.reason, /chaos_ledger/);
        assert.equal(doc.self_learning.available, true);
        // Kept in the store too, under the run's id.
        assert.ok(await store.db.collection(TELEMETRY_COLLECTION).findOne({ _id: doc.id as never }), `${doc.id} stored`);
        return;
      }
    } finally {
      sub.unsubscribe();
    }
  });

  it('/metrics answers in valid Prometheus text with the documented names, and status --json gives its URL', async () => {
    const url = metricsUrl(config);
    assert.equal(url, `http://127.0.0.1:${config.metrics.port}/metrics`);
    const res = await fetch(url!);
    assert.equal(res.status, 200);
    const families = parsePrometheusStrict(await res.text());
    const names = new Set(families.map((f) => f.name));
    for (const def of Object.values(METRIC_DEFS)) assert.ok(names.has(def.name), `${def.name} is served`);
    const boots = await store.db.collection<BootReport>(BOOTS_COLLECTION).find({}).toArray();
    const bootsOf = (kernel: string): number => boots.filter((b) => b.kernels.some((k) => k.kernel === kernel)).length;
    const served = families.find((f) => f.name === 'layer1_kernel_boots_total')!.metrics;
    for (const m of served) assert.equal(Number(m.value), bootsOf(m.labels!.kernel), `boots of ${m.labels!.kernel}`);
    assert.ok(served.length >= 4);
    const status = await runCli(['--config', TEST_CONFIG_FILE, 'status', '--json']);
    assert.equal(JSON.parse(status.stdout).metrics, url, status.stderr);
  });

  it('the snapshot, telemetry and chaos schedules exist once, however often boot runs', async function () {
    this.timeout(120_000);
    const again = await runBoot(config, client, () => undefined);
    assert.equal(again.ok, true, again.failedChecks.join('; '));
    // The suite's config declares one chaos schedule (chaos.schedules, test/layer1.test.yaml).
    const chaos = config.chaos.schedules.map((s) => [`layer1-chaos-${s.name}`, 'unchanged']);
    assert.deepEqual(
      (again.schedules ?? []).map((s) => [s.id, s.action]),
      [[SNAPSHOTS_SCHEDULE_ID, 'unchanged'], [TELEMETRY_SCHEDULE_ID, 'unchanged'], ...chaos],
    );
    const ids: string[] = [];
    for await (const s of client.schedule.list()) ids.push(s.scheduleId);
    assert.equal(ids.filter((id) => id === SNAPSHOTS_SCHEDULE_ID).length, 1, ids.join(', '));
    assert.equal(ids.filter((id) => id === TELEMETRY_SCHEDULE_ID).length, 1, ids.join(', '));
    const telemetry = await client.schedule.getHandle(TELEMETRY_SCHEDULE_ID).describe();
    assert.deepEqual(telemetry.spec.intervals?.map((i) => i.every), [60_000]);
  });

  it('a triggered snapshot run removes snapshots beyond 24 h and beyond 5 per type, and keeps its own as latest', async function () {
    this.timeout(120_000);
    // Six more of one type, then two of them made two days old for real (their manifests say so).
    const extra: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const [t] = await takeTypedSnapshots(config, { key: uniqueId('retention'), at: new Date().toISOString(), types: ['playbooks'] });
      assert.ok(t.id, JSON.stringify(t));
      extra.push(t.id);
    }
    const old = extra.slice(0, 2);
    for (const id of old) {
      const file = path.join(config.stateDir, SNAPSHOTS_DIR, 'playbooks', id, 'manifest.json');
      const m = JSON.parse(readFileSync(file, 'utf8')) as SnapshotManifest;
      m.createdAt = new Date(Date.now() - 2 * DAY_MS).toISOString();
      writeFileSync(file, JSON.stringify(m));
    }
    const before = (await listSnapshots(config)).filter((s) => s.type === 'playbooks').length;
    assert.ok(before > config.snapshots.maxPerType, `${before} playbooks snapshots before the run`);

    const handle = client.schedule.getHandle(SNAPSHOTS_SCHEDULE_ID);
    const seen = new Set((await handle.describe()).info.recentActions.map((a) => a.action.workflow.workflowId));
    await handle.trigger();
    let runId: string | undefined;
    for (const deadline = Date.now() + 30_000; !runId && Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
      runId = (await handle.describe()).info.recentActions.map((a) => a.action.workflow.workflowId).find((id) => !seen.has(id));
    }
    assert.ok(runId, 'the triggered run started');
    const report = (await client.workflow.getHandle(runId).result()) as SnapshotRunReport;
    assert.equal(report.ok, true, JSON.stringify(report.snapshots));

    const pruned = report.pruned.filter((p) => p.type === 'playbooks');
    for (const id of old) assert.ok(pruned.some((p) => p.id === id && p.reason === 'age'), `${id} removed for its age: ${JSON.stringify(pruned)}`);
    const after = (await listSnapshots(config)).filter((s) => s.type === 'playbooks');
    assert.equal(after.length, config.snapshots.maxPerType);
    const own = report.snapshots.find((s) => s.type === 'playbooks')!;
    assert.deepEqual(after.filter((s) => s.latest).map((s) => s.id), [own.id]);
    for (const s of after) assert.equal(s.manifestOk, true);
    for (const p of report.pruned) assert.ok(!after.some((s) => s.id === p.id));
  });
});
