/** The external watch (src/healing/external-watch.ts): outages of servers Layer 1 does not run, as evidence. */
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load';
import type { Evidence } from '../../src/healing/evidence';
import { ExternalWatch, externalTargets, MISSES } from '../../src/healing/external-watch';
import { endpointText } from '../../src/stack/endpoints';

const quiet = { warn: () => undefined, info: () => undefined, error: () => undefined } as unknown as ConstructorParameters<typeof ExternalWatch>[0]['log'];
const FILE = '/tmp/layer1-external-watch-test/temporal.config.yaml';

const DIST = [
  'temporal: { embedded: false, address: "127.0.0.1:21233,127.0.0.1:22233" }',
  'store: { embedded: false, uri: "mongodb://127.0.0.1:25018/?retryWrites=false" }',
  'bus: { embedded: false, url: "nats://127.0.0.1:25222,nats://127.0.0.1:25223,nats://127.0.0.1:25224" }',
].join('\n');

describe('external watch', () => {
  const config = parseConfig(DIST, FILE, {});
  let now: number;
  let down: Set<string>;
  let reports: Evidence[];
  let storeTakes: boolean;
  let leader: boolean;
  let probes: number;

  const make = (): ExternalWatch =>
    new ExternalWatch({
      config,
      name: 'healing-1',
      log: quiet,
      now: () => now,
      leads: () => leader,
      probe: async (server, endpoint) => {
        probes++;
        return down.has(`${server}@${endpointText(endpoint)}`) ? 'connect ECONNREFUSED' : null;
      },
      report: async (e) => {
        if (!storeTakes) return false;
        reports.push(e);
        return true;
      },
    });

  beforeEach(() => {
    now = 1_000_000;
    down = new Set();
    reports = [];
    storeTakes = true;
    leader = true;
    probes = 0;
  });

  it('watches every Temporal frontend and NATS seed, and the store as one; nothing embedded', () => {
    const targets = externalTargets(config).map((t) => `${t.server}@${endpointText(t.endpoint)}`);
    assert.deepEqual(targets, [
      'temporal@127.0.0.1:21233',
      'temporal@127.0.0.1:22233',
      'store@127.0.0.1:25018',
      'bus@127.0.0.1:25222',
      'bus@127.0.0.1:25223',
      'bus@127.0.0.1:25224',
    ]);
    assert.deepEqual(externalTargets(parseConfig('', FILE, {})), []);
  });

  it(`reports one external_down after ${MISSES} misses in a row and one external_back with how long it lasted`, async () => {
    const w = make();
    await w.tick();
    down.add('bus@127.0.0.1:25223');
    now += 1_000;
    await w.tick();
    assert.equal(reports.length, 0, 'one miss is not an outage');
    for (let i = 0; i < 3; i++) {
      now += 1_000;
      await w.tick();
    }
    assert.deepEqual(reports.map((e) => e.kind), ['external_down']);
    const [d] = reports;
    assert.equal(d.id, 'external_down:-:bus@127.0.0.1:25223@1001000');
    assert.equal(d.kernel, null);
    assert.equal(d.process, null);
    assert.deepEqual({ server: d.data.server, endpoint: d.data.endpoint, downAt: d.data.downAt }, { server: 'bus', endpoint: '127.0.0.1:25223', downAt: 1_001_000 });
    down.clear();
    now += 1_000;
    await w.tick();
    assert.deepEqual(reports.map((e) => e.kind), ['external_down', 'external_back']);
    assert.equal(reports[1].data.downMs, 4_000);
    assert.equal(reports[1].id, 'external_back:-:bus@127.0.0.1:25223@1001000');
  });

  it('keeps what the store did not take and hands it over, under the same id, once it does', async () => {
    const w = make();
    down.add('store@127.0.0.1:25018');
    storeTakes = false;
    for (let i = 0; i < 4; i++) {
      now += 1_000;
      await w.tick();
    }
    assert.equal(reports.length, 0);
    down.clear();
    storeTakes = true;
    now += 1_000;
    await w.tick();
    assert.deepEqual(reports.map((e) => e.kind), ['external_down', 'external_back']);
    assert.equal(reports[0].id, 'external_down:-:store@127.0.0.1:25018@1001000');
  });

  it('probes nothing on a replica that does not lead', async () => {
    leader = false;
    down.add('temporal@127.0.0.1:21233');
    const w = make();
    for (let i = 0; i < 3; i++) await w.tick();
    assert.equal(probes, 0);
    assert.equal(reports.length, 0);
  });
});
