import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sinon from 'sinon';
import { z } from 'zod';
import { parseConfig, type LoadedConfig } from '../../src/config/load';
import { DetectorsSchema, detectorsSchemaOf } from '../../src/config/schema';
import { DETECTOR_CONFIGS } from '../../src/healing/detectors/configs';
import { detectorConfig } from '../../src/healing/detectors/define';
import { DETECTORS, latencySpikes } from '../../src/healing/detectors';
import { DetectorLoop, periodOf, settingsOf } from '../../src/healing/detectors/loop';
import { staleSnapshots } from '../../src/healing/detectors/snapshots';
import { dependencies } from '../../src/healing/detectors/store';
import { controlPlane } from '../../src/healing/detectors/control-plane';
import { SnapshotStore } from '../../src/snapshots/store';
import { defineDetector, type AnyDetector, type DetectorContext } from '../../src/healing/detectors/types';
import { EVIDENCE_KIND_NAMES, LIFECYCLE_KINDS, type Evidence } from '../../src/healing/evidence';
import { TriggerMonitor } from '../../src/healing/trigger-monitor';
import { REPO_ROOT } from '../../src/stack/tools';

const FILE = '/tmp/layer1-detectors-test/temporal.config.yaml';
const quiet = { warn: () => undefined, info: () => undefined, error: () => undefined } as unknown as DetectorContext['log'];

/** A detector of the test's own: a section `fakeProbe`, a period, a state counting its rounds. */
const fakeConfig = detectorConfig({
  key: 'fakeProbe',
  describe: 'fake_probe: a detector only the tests know',
  shape: {
    everyMs: z.number().int().min(1).default(50).describe('How often the detector runs'),
    limit: z.number().int().min(0).default(7).describe('Rounds after which the condition holds'),
  },
});
const createdStates: Array<{ rounds: number }> = [];
const fakeProbe = defineDetector({
  name: 'fake_probe',
  config: fakeConfig,
  kinds: ['snapshot_stale', 'acl_violation'],
  createState: () => {
    const s = { rounds: 0 };
    createdStates.push(s);
    return s;
  },
  async check(_ctx, { limit }, state) {
    state.rounds += 1;
    return [
      // An event every round, and a condition from the limit-th round on.
      { kind: 'acl_violation' as const, kernel: 'message_bus' as const, key: `round-${state.rounds}`, event: true, detail: `round ${state.rounds}` },
      ...(state.rounds >= limit ? [{ kind: 'snapshot_stale' as const, kernel: null, key: 'held', detail: 'holds' }] : []),
    ];
  },
});

/** A loaded config whose `detectors:` section is parsed by a schema that knows the fake detector. */
function configWithFake(detectors: unknown): LoadedConfig {
  const config = parseConfig('', FILE, {});
  return { ...config, detectors: detectorsSchemaOf([...DETECTOR_CONFIGS, fakeConfig]).parse(detectors) as unknown as LoadedConfig['detectors'] };
}

const ctxOf = (config: LoadedConfig): DetectorContext => ({ config, log: quiet }) as unknown as DetectorContext;

describe('detectors: one definition each, a registry, state per monitor', () => {
  let clock: sinon.SinonFakeTimers | undefined;
  afterEach(() => {
    clock?.restore();
    clock = undefined;
  });

  it("derives a detector's section of the config schema from its definition", () => {
    const schema = detectorsSchemaOf([...DETECTOR_CONFIGS, fakeConfig]);
    const parsed = schema.parse({ fakeProbe: { everyMs: 30 } });
    assert.deepEqual(parsed.fakeProbe, { everyMs: 30, limit: 7 }, 'its own keys, defaults filled');
    assert.deepEqual(schema.parse({}).fakeProbe, { everyMs: 50, limit: 7 });
    assert.equal(schema.safeParse({ fakeProbe: { everyMs: 0 } }).success, false, 'its own bounds');
    assert.equal(schema.safeParse({ fakeProbe: { evryMs: 30 } }).success, false, 'its section is strict');
    assert.equal(DetectorsSchema.safeParse({ fakeProbe: {} }).success, false, 'the shipped schema does not know it');
    const json = z.toJSONSchema(schema, { io: 'input' }) as { properties: Record<string, { description?: string; properties: Record<string, { default?: unknown }> }> };
    assert.equal(json.properties.fakeProbe.description, 'fake_probe: a detector only the tests know');
    assert.equal(json.properties.fakeProbe.properties.limit.default, 7);
  });

  it('runs a detector on its own configured period, with its own state in each loop', async () => {
    clock = sinon.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    createdStates.length = 0;
    const config = configWithFake({ fakeProbe: { everyMs: 30, limit: 2 } });
    const reported: Evidence[][] = [[], []];
    const loops = [0, 1].map((n) => {
      const report = async (e: Evidence): Promise<boolean> => {
        reported[n].push(e);
        return true;
      };
      return new DetectorLoop({ ctx: ctxOf(config), detectors: [fakeProbe], observer: `healing-${n + 1}`, shouldRun: () => true, report });
    });
    assert.deepEqual(loops[0].periods(), [{ name: 'fake_probe', everyMs: 30 }]);
    assert.equal(createdStates.length, 2, 'one state per loop');
    loops[0].start();
    await clock.tickAsync(100); // rounds at 30, 60, 90
    await loops[0].stop();
    await clock.tickAsync(100);
    assert.deepEqual(createdStates.map((s) => s.rounds), [3, 0], 'the other loop did not run, and its state did not move');
    const kinds = reported[0].map((e) => `${e.kind}:${e.id.split(':')[2].split('@')[0]}`);
    // Three events; the condition once, from its 2nd round on, though it held in two rounds.
    assert.deepEqual(kinds, ['acl_violation:round-1', 'acl_violation:round-2', 'snapshot_stale:held', 'acl_violation:round-3']);
    assert.ok(reported[0].every((e) => e.observer === 'healing-1'));
    assert.equal(reported[1].length, 0);
    await loops[1].round('fake_probe');
    assert.deepEqual(createdStates.map((s) => s.rounds), [3, 1]);
    assert.deepEqual(reported[1].map((e) => e.kind), ['acl_violation'], 'the second loop starts from its own state: no condition yet');
  });

  it('reports a condition again when it was not handed over', async () => {
    const config = configWithFake({ fakeProbe: { limit: 1 } });
    const handed: boolean[] = [false, true];
    const seen: string[] = [];
    const report = async (e: Evidence): Promise<boolean> => {
      seen.push(e.kind);
      return e.kind === 'snapshot_stale' ? handed.shift()! : true;
    };
    const loop = new DetectorLoop({ ctx: ctxOf(config), detectors: [fakeProbe], observer: 'x', shouldRun: () => true, report });
    for (let i = 0; i < 3; i++) await loop.round('fake_probe');
    assert.equal(seen.filter((k) => k === 'snapshot_stale').length, 2, 'the first report failed, the second held');
  });

  it('a trigger monitor owns its detector instances', () => {
    createdStates.length = 0;
    const config = configWithFake({});
    const deps = { config, pm: {}, db: {}, temporal: {}, bus: {}, name: 'healing-1', log: quiet, detectors: [fakeProbe] } as unknown as ConstructorParameters<typeof TriggerMonitor>[0];
    const monitors = [new TriggerMonitor(deps), new TriggerMonitor({ ...deps, name: 'healing-2' })];
    assert.equal(monitors.length, createdStates.length);
    assert.notEqual(createdStates[0], createdStates[1]);
  });

  it('keeps two instances of a real detector apart (dependencies: misses in a row)', async () => {
    const config = parseConfig('', FILE, {});
    const ctx = { config, db: { command: () => Promise.reject(new Error('store down')) }, bus: { flush: () => Promise.resolve() } } as unknown as DetectorContext;
    const settings = config.detectors.store;
    const [a, b] = [dependencies.createState(), dependencies.createState()];
    assert.deepEqual(await dependencies.check(ctx, settings, a), []);
    assert.deepEqual(await dependencies.check(ctx, settings, b), [], "b's first miss, not a's second");
    const [f] = await dependencies.check(ctx, settings, a);
    assert.equal(f.kind, 'dependency_unreachable');
    assert.deepEqual(f.data, { dependency: 'store', misses: 2, process: 'store' });
  });

  it('control_plane: one crash loop is one episode key, however long it lasts (its window slides)', async () => {
    const config = parseConfig('', FILE, {});
    const kernels = (restarts: number[] | null) =>
      Object.fromEntries(
        ['message_bus', 'immutable_log', 'self_healing', 'coding_agent'].map((k) => [
          k,
          { state: 'RUNNING', crashLoop: k === 'immutable_log' && restarts !== null, recentRestarts: k === 'immutable_log' ? restarts ?? [] : [], restarts: 0, lastReason: 'exited' },
        ]),
      );
    let status = { kernels: kernels([1000, 2000, 3000]) };
    const handle = { describe: async () => ({ status: { name: 'RUNNING' }, runId: 'r1' }), query: async () => status };
    const ctx = { config, pm: { pid: () => null }, temporal: { workflow: { getHandle: () => handle } } } as unknown as DetectorContext;
    const settings = config.detectors.controlPlane;
    const state = controlPlane.createState();
    const keys = async () => (await controlPlane.check(ctx, settings, state)).filter((f) => f.kind === 'crash_loop').map((f) => f.key);
    assert.deepEqual(await keys(), ['1000']);
    status = { kernels: kernels([2000, 3000, 4000]) }; // the oldest restart left the window; the loop goes on
    assert.deepEqual(await keys(), ['1000'], 'the same episode');
    status = { kernels: kernels(null) }; // the loop ended
    assert.deepEqual(await keys(), []);
    status = { kernels: kernels([9000, 9100, 9200]) }; // a new loop
    assert.deepEqual(await keys(), ['9000'], 'a new episode');
  });

  it('stale_snapshots reads a label\'s manifests only when the label changed, and still sees every change', async () => {
    const stateDir = mkdtempSync(path.join(os.tmpdir(), 'stale-snapshots-'));
    try {
      writeFileSync(path.join(stateDir, 'a.txt'), 'a');
      const config = { ...parseConfig('', FILE, {}), stateDir } as LoadedConfig;
      const settings = { ...config.detectors.snapshots, maxAgeMs: 60_000 };
      const store = new SnapshotStore(stateDir);
      const state = staleSnapshots.createState();
      const [none] = await staleSnapshots.check(ctxOf(config), settings, state);
      assert.equal(none?.detail, 'there is no snapshot');
      for (let i = 0; i < 5; i++) await store.take({ id: `s${i}`, label: 'log', paths: ['a.txt'] });
      assert.deepEqual(await staleSnapshots.check(ctxOf(config), settings, state), [], 'fresh');

      const spy = sinon.spy(SnapshotStore.prototype, 'listLabel');
      try {
        // A label changed within the last second is read again (file times tick coarsely); here, as
        // if that second had passed, the round's summary keeps the label's stamp.
        const settle = async (label: string): Promise<void> => void state.set(label, { ...state.get(label)!, stamp: (await store.labelStamp(label))! });
        await settle('log');
        assert.deepEqual(await staleSnapshots.check(ctxOf(config), settings, state), []);
        assert.equal(spy.callCount, 0, 'nothing changed: no manifest read');
        // Every snapshot moved away: the label's directory changed, so it is read again.
        const hidden = path.join(stateDir, 'hidden');
        mkdirSync(hidden);
        for (let i = 0; i < 5; i++) renameSync(path.join(stateDir, 'snapshots', 'log', `s${i}`), path.join(hidden, `s${i}`));
        const [stale] = await staleSnapshots.check(ctxOf(config), settings, state);
        assert.equal(stale?.detail, 'there is no snapshot');
        assert.equal(spy.callCount, 1);
        await settle('log');
        await store.take({ id: 'again', label: 'other', paths: ['a.txt'] });
        assert.deepEqual(await staleSnapshots.check(ctxOf(config), settings, state), [], 'a new label is read');
        assert.equal(spy.callCount, 2);
        assert.deepEqual(await staleSnapshots.check(ctxOf(config), settings, state), []);
        assert.equal(spy.callCount, 3, 'changed less than a second ago: read again');
      } finally {
        spy.restore();
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('detectors: latency spikes are one process\'s, not a busy machine\'s', () => {
  const settings = { thresholdMs: 150, samples: 3, relative: 2 };
  const probe = (process: string, ms: number, at: number) => ({ kernel: 'immutable_log' as const, process, pid: 7, ms, at });

  it('three slow probes of one process while the others answer fast make one spike, naming their median', () => {
    const state = latencySpikes.createState();
    const found = [];
    for (let i = 0; i < 4; i++) {
      latencySpikes.observe(state, settings, probe('bus', 20, i * 1000));
      latencySpikes.observe(state, settings, probe('healing-1', 30, i * 1000));
      found.push(latencySpikes.observe(state, settings, probe('immutable-log', 400, i * 1000 + 10)));
    }
    assert.deepEqual(found.map((f) => f !== null), [false, false, true, false], 'reported once, on the third');
    assert.match(found[2]!.detail, /the other processes' median 25 ms/);
    assert.equal(found[2]!.data?.othersMedianMs, 25);
  });

  it('when every process answers slowly, none has a spike; relative 0 goes back to the threshold alone', () => {
    for (const [relative, spikes] of [[2, 0], [0, 3]] as const) {
      const state = latencySpikes.createState();
      let n = 0;
      for (let i = 0; i < 3; i++) {
        for (const [proc, ms] of [['bus', 195], ['healing-1', 180], ['immutable-log', 240]] as const) {
          if (latencySpikes.observe(state, { ...settings, relative }, probe(proc, ms, i * 1000))) n++;
        }
      }
      assert.equal(n, spikes, `relative ${relative}`);
    }
  });

  it('with fewer than two other processes probed in the last minute, the threshold alone decides', () => {
    const state = latencySpikes.createState();
    latencySpikes.observe(state, settings, probe('bus', 300, 0));
    latencySpikes.observe(state, settings, probe('healing-1', 300, 0));
    const at = 120_000;
    const found = [1, 2, 3].map((i) => latencySpikes.observe(state, settings, probe('immutable-log', 200, at + i)));
    assert.ok(found[2], 'the others were probed 2 minutes ago: not a measure of the machine now');
  });
});

describe('detectors: the registry', () => {
  const config = parseConfig('', FILE, {});

  it('lists each detector once, each with its section in the config schema', () => {
    const names = DETECTORS.map((d) => d.name);
    assert.equal(new Set(names).size, names.length);
    const keys = DETECTOR_CONFIGS.map((c) => c.key);
    assert.equal(new Set(keys).size, keys.length);
    for (const d of [...DETECTORS, latencySpikes]) assert.ok((DETECTOR_CONFIGS as readonly unknown[]).includes(d.config), `${d.name}: its config is not in configs.ts`);
    assert.deepEqual(Object.keys(DetectorsSchema.shape), ['enabled', 'dispatch', ...keys]);
  });

  it('every periodic detector has a period of its own in config, with the defaults it always had', () => {
    const periods = Object.fromEntries(DETECTORS.map((d) => [d.name, periodOf(d, settingsOf(config, d))]));
    assert.deepEqual(periods, {
      acl_violations: 500,
      bus_consumers: 2000,
      bus_config_drift: 2000,
      log_integrity: 10000,
      log_quota: 2000,
      cpu_pressure: 1000, // windowMs / 5
      memory_pressure: 1000,
      disk_pressure: 5000,
      model_checksums: 2000,
      stale_snapshots: 10000,
      dependencies: 1000,
      control_plane: 1000,
    });
    for (const d of DETECTORS) if (d.name !== 'cpu_pressure') assert.ok('everyMs' in d.config.shape, `${d.name}: no detectors.${d.config.key}.everyMs`);
    const cpu = DETECTORS.find((d) => d.name === 'cpu_pressure')!;
    const at = (detectors: unknown): number => periodOf(cpu, settingsOf({ ...config, detectors: DetectorsSchema.parse(detectors) } as LoadedConfig, cpu));
    assert.equal(at({ cpu: { windowMs: 3000 } }), 600);
    assert.equal(at({ cpu: { windowMs: 500 } }), 250);
    assert.equal(at({ cpu: { windowMs: 3000, everyMs: 400 } }), 400);
  });

  it('reads the test config as before, with the new everyMs keys at their defaults', () => {
    const file = path.join(REPO_ROOT, 'test', 'layer1.test.yaml');
    const d = parseConfig(readFileSync(file, 'utf8'), file, {}).detectors;
    assert.deepEqual(
      { latency: d.latency, cpu: d.cpu, memory: d.memory, logIntegrity: d.logIntegrity, logQuota: d.logQuota, queueBacklog: d.queueBacklog, disk: d.disk, snapshots: d.snapshots, controlPlane: d.controlPlane, store: d.store },
      {
        latency: { thresholdMs: 150, samples: 3, relative: 2 },
        cpu: { percent: 85, windowMs: 3000 },
        memory: { rssMb: 700, everyMs: 1000 },
        logIntegrity: { everyMs: 1000, sweepSegmentsPerRound: 4 },
        logQuota: { percent: 85, everyMs: 2000 },
        queueBacklog: { maxPending: 500, everyMs: 500 },
        disk: { minFreeMb: 64, archivesMaxMb: 6, everyMs: 1000 },
        snapshots: { maxAgeMs: 3600000, everyMs: 1000 },
        controlPlane: { deadlockMs: 3000, queryTimeoutMs: 3000, everyMs: 500 },
        store: { timeoutMs: 1000, failures: 2, everyMs: 1000 },
      },
    );
  });

  it('every evidence kind is reported by a detector or by the trigger monitor itself', () => {
    const byDetectors = new Set([...DETECTORS, latencySpikes].flatMap((d) => [...d.kinds]));
    const byMonitor = [...LIFECYCLE_KINDS, 'heartbeat_missed', 'server_restarted', 'external_down', 'external_back'];
    assert.deepEqual(EVIDENCE_KIND_NAMES.filter((k) => !byDetectors.has(k) && !byMonitor.includes(k)), []);
  });

  it("docs/self-healing.md's detector table has a row per detector, with its config keys and defaults", () => {
    const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'self-healing.md'), 'utf8');
    const table = doc.slice(doc.indexOf('| detector | what it reads |'));
    const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2);
    const rowOf = (name: string): string => {
      const found = rows.filter((r) => r.startsWith(`| \`${name}\``));
      assert.equal(found.length, 1, `one row for ${name}`);
      return found[0];
    };
    // The process watch, the liveness probes and the bus events are the monitor's own.
    assert.equal(rows.length, DETECTORS.length + 1 + 3);
    for (const d of [...DETECTORS, latencySpikes]) {
      const row = rowOf(d.name);
      const settings = settingsOf(config, d as AnyDetector);
      for (const field of Object.keys(d.config.shape)) {
        const m = new RegExp(`\`(?:detectors\\.${d.config.key}\\.)?${field}\` \\(([^)]*)\\)`).exec(row);
        assert.ok(m && row.includes(`\`detectors.${d.config.key}.`), `${d.name}: the row names detectors.${d.config.key}.${field}`);
        const value = settings[field];
        if (value !== undefined) assert.equal(m[1].replace(/^([\d ]+).*$/, '$1').replace(/ /g, ''), String(value), `${d.name}: default of ${field}`);
      }
      for (const kind of d.kinds) assert.ok(row.includes(`\`${kind}\``), `${d.name}: the row names its evidence ${kind}`);
    }
  });
});
