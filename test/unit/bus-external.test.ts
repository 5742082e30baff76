/**
 * The bus as an external cluster (`bus.embedded: false`, issue #19): `bus.url` as a seed list,
 * replicas from configuration, the ACL rendered for installing (`layer1 bus render-acl`), each part
 * logging in as its own user, no process of ours, and the detectors reading what a cluster gives
 * (the enforced rules, the refusals Layer 1's connections receive) instead of local files.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { nanos } from '@nats-io/nats-core';
import { type ConfigError, parseConfig, type LoadedConfig } from '../../src/config/load';
import { natsServers, parseSeedList, seedListProblems } from '../../src/config/bus-url';
import { busConnectOptions, connectBus } from '../../src/clients/bus';
import { clusterHealth } from '../../src/stack/bus-health';
import { busModeNotes } from '../../src/stack/bus-mode';
import { KERNELS, kernelOfProcess } from '../../kernels/registry';
import {
  BusCredentialsError,
  BusUnreachableError,
  consumerConfig,
  consumerUnchanged,
  ExternalBusError,
  loadPolicy,
  policyFileOf,
  reloadBus,
  renderAcl,
  renderBus,
  renderBusText,
  streamChanges,
  streamConfig,
} from '../../kernels/message-bus';
import { aclViolations, lineTime, LogTail } from '../../src/healing/detectors/bus';
import { clientViolationLine, clientViolationsFile } from '../../kernels/message-bus/client-violations';
import { ENFORCEMENT_PROBE_PREFIX, isEnforcementProbe, parseViolation } from '../../kernels/message-bus/violations';
import type { DetectorContext } from '../../src/healing/detectors/types';
import { configProblemsOf } from '../support/config-problems';
import bcrypt from 'bcryptjs';
import { bcryptPassword } from '../../kernels/message-bus/render';
import * as faults from '../../src/chaos/faults/processes';

const FILE = '/tmp/layer1-bus-external-test/layer1.yaml';
const SEEDS = 'nats://127.0.0.1:25222, nats://127.0.0.1:25223,nats://127.0.0.1:25224';

const problemsOf = (text: string, env: NodeJS.ProcessEnv = {}): ConfigError => configProblemsOf(text, FILE, env);

describe('bus: seed list', () => {
  it('parses every seed, in order, with the default port and tls', () => {
    const seeds = parseSeedList(`${SEEDS},tls://nats.example.com,nats://[::1]:4333`);
    assert.deepEqual(
      seeds.map((s) => [s.scheme, s.host, s.port]),
      [['nats', '127.0.0.1', 25222], ['nats', '127.0.0.1', 25223], ['nats', '127.0.0.1', 25224], ['tls', 'nats.example.com', 4222], ['nats', '::1', 4333]],
    );
    assert.deepEqual(natsServers(seeds), ['127.0.0.1:25222', '127.0.0.1:25223', '127.0.0.1:25224', 'tls://nats.example.com', '[::1]:4333']);
  });

  it('names each bad seed', () => {
    assert.deepEqual(seedListProblems('nats://a:1,http://b:2,,nats://a:1'), [
      'seed 2: "http://b:2" is not a NATS URL (expected nats://HOST:PORT or tls://HOST:PORT)',
      'seed 3: empty (a stray comma?)',
      'seed 4: a:1 is listed twice',
    ]);
    assert.deepEqual(seedListProblems('nats://a:99999'), ['"nats://a:99999": port 99999 is out of range']);
    assert.throws(() => parseSeedList('nats://a:1,b'), /bus\.url: seed 2: "b" is not a NATS URL/);
  });
});

describe('bus: configuration', () => {
  it('takes a seed list as a string or a YAML list, and keeps it a string', () => {
    const a = parseConfig(`bus:\n  url: ${SEEDS}\n  embedded: false\n`, FILE, {});
    const b = parseConfig('bus:\n  url: [nats://127.0.0.1:25222, nats://127.0.0.1:25223, nats://127.0.0.1:25224]\n  embedded: false\n', FILE, {});
    assert.equal(typeof a.bus.url, 'string');
    assert.deepEqual(parseSeedList(a.bus.url), parseSeedList(b.bus.url));
    assert.equal(b.bus.url, 'nats://127.0.0.1:25222,nats://127.0.0.1:25223,nats://127.0.0.1:25224');
    const env = parseConfig('bus:\n  embedded: false\n', FILE, { NATS_URL: SEEDS });
    assert.equal(parseSeedList(env.bus.url).length, 3);
  });

  it('reports a bad seed at bus.url, with its line', () => {
    const err = problemsOf('bus:\n  url: nats://a:1,nats//b:2\n  embedded: false\n');
    assert.equal(err.problems.length, 1);
    assert.equal(err.problems[0].path, 'bus.url');
    assert.equal(err.problems[0].line, 2);
    assert.match(err.problems[0].message, /seed 2: "nats\/\/b:2" is not a NATS URL/);
  });

  it('refuses a seed list or replicas for the embedded bus, and consumers above their stream', () => {
    assert.match(problemsOf(`bus:\n  url: ${SEEDS}\n`).message, /embedded bus is one nats-server on one address, but bus\.url lists 3 seeds/);
    assert.match(problemsOf('bus:\n  replicas: { streams: 3 }\n').message, /cannot hold 3 replicas of a stream \(bus\.replicas\.streams is for an external cluster\) → at bus\.replicas\.streams/);
    assert.match(problemsOf('bus:\n  embedded: false\n  replicas: { streams: 1, consumers: 3 }\n').message, /more replicas \(3\) than its stream/);
    const c = parseConfig(`bus:\n  url: ${SEEDS}\n  embedded: false\n  replicas: { streams: 3 }\n`, FILE, {});
    assert.deepEqual(c.bus.replicas, { streams: 3, consumers: 0 });
    assert.deepEqual(parseConfig('', FILE, {}).bus.replicas, { streams: 1, consumers: 0 });
  });
});

describe('bus: replicas of streams and consumers', () => {
  const policy = loadPolicy(policyFileOf(parseConfig('', FILE, {})));
  const events = policy.streams.LAYER1_EVENTS;

  it('gives a stream and a consumer the configured replicas', () => {
    assert.equal(streamConfig('LAYER1_EVENTS', events, { streams: 1, consumers: 0 }).num_replicas, 1);
    assert.equal(streamConfig('LAYER1_EVENTS', events, { streams: 3, consumers: 0 }).num_replicas, 3);
    assert.equal(consumerConfig('self_healing_triggers', events.consumers.self_healing_triggers, { streams: 3, consumers: 0 }).num_replicas, 0);
    assert.equal(consumerConfig('self_healing_triggers', events.consumers.self_healing_triggers, { streams: 3, consumers: 3 }).num_replicas, 3);
  });

  it('updates an existing stream only where it differs: replicas alone when only they do', () => {
    const want = streamConfig('LAYER1_EVENTS', events, { streams: 3, consumers: 0 });
    const have = { description: want.description, subjects: [...want.subjects!], max_age: want.max_age!, max_bytes: want.max_bytes!, num_replicas: 1 };
    assert.deepEqual(streamChanges(have, want), { num_replicas: 3 });
    assert.deepEqual(streamChanges({ ...have, num_replicas: 3 }, want), {});
    // A stream a server reports without replicas is R1: unchanged for the embedded bus's 1.
    assert.deepEqual(streamChanges({ ...have, num_replicas: 0 }, streamConfig('LAYER1_EVENTS', events, { streams: 1, consumers: 0 })), {});
    assert.deepEqual(Object.keys(streamChanges({ ...have, max_age: nanos(1000) }, want)).sort(), ['max_age', 'num_replicas']);
  });

  it('updates an existing consumer when its replicas differ', () => {
    const c = events.consumers.self_healing_triggers;
    const r0 = consumerConfig('self_healing_triggers', c, { streams: 3, consumers: 0 });
    const r3 = consumerConfig('self_healing_triggers', c, { streams: 3, consumers: 3 });
    assert.equal(consumerUnchanged(r0, r0), true);
    assert.equal(consumerUnchanged({ ...r0, num_replicas: undefined }, r0), true, 'a server omitting 0 is the same');
    assert.equal(consumerUnchanged(r0, r3), false);
    assert.equal(consumerUnchanged(r3, r0), false);
  });
});

describe('bus: external cluster', () => {
  let dir: string;
  let external: LoadedConfig;
  let embedded: LoadedConfig;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-bus-external-'));
    external = parseConfig(`stateDir: ${dir}/state\nbus:\n  url: ${SEEDS}\n  embedded: false\n  credentials: { user: admin, password: s3cret }\n`, path.join(dir, 'layer1.yaml'), {});
    embedded = parseConfig(`stateDir: ${dir}/state\nbus:\n  url: nats://127.0.0.1:34999\n  monitorPort: 38999\n`, path.join(dir, 'layer1.yaml'), {});
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('render-acl writes the authorization block (0600) an operator installs, and no nats.conf', () => {
    const acl = renderAcl(external);
    assert.equal(acl.changed, true);
    assert.equal(acl.authFile, path.join(dir, 'state/bus/authorization.conf'));
    assert.equal(acl.confFile, null);
    assert.equal(existsSync(path.join(dir, 'state/bus/nats.conf')), false);
    assert.equal(statSync(acl.authFile!).mode & 0o777, 0o600);
    assert.equal(statSync(acl.credentialsFile).mode & 0o777, 0o600);
    assert.match(acl.block, /^authorization \{\n {2}users = \[\n/);
    assert.doesNotMatch(acl.block, /listen|jetstream|server_name/);
    const passwords = JSON.parse(readFileSync(acl.credentialsFile, 'utf8')).users as Record<string, string>;
    assert.deepEqual(acl.users.map((u) => u.user), Object.keys(passwords));
    // The nodes hold each password as a bcrypt hash, never the password itself.
    for (const [user, pass] of Object.entries(passwords)) {
      const hash = new RegExp(`user: "${user}"\\n {6}password: "(\\$2a\\$11\\$[./A-Za-z0-9]{53})"`).exec(acl.block)?.[1];
      assert.ok(hash && bcrypt.compareSync(pass, hash), `${user}'s password as a bcrypt hash of it`);
      assert.ok(!acl.block.includes(pass), `${user}'s password is not in the block`);
    }
    const file = readFileSync(acl.authFile!, 'utf8');
    assert.ok(file.startsWith('# Rendered by Layer 1'), 'with how to install it');
    assert.ok(file.endsWith(acl.block));
    assert.equal(renderBusText(external), file, 'what the drift check compares with');
    // Idempotent: nothing changes on a second call.
    assert.equal(renderAcl(external).changed, false);
  });

  it('renders the same block the embedded bus loads in its nats.conf, its passwords hashed', () => {
    const acl = renderAcl(external);
    const conf = readFileSync(renderBus(embedded).confFile, 'utf8');
    const passwords = JSON.parse(readFileSync(acl.credentialsFile, 'utf8')).users as Record<string, string>;
    let block = conf.slice(conf.indexOf('authorization {'));
    for (const [user, pass] of Object.entries(passwords)) block = block.replace(JSON.stringify(pass), JSON.stringify(bcryptPassword(user, pass)));
    assert.equal(acl.block, block, 'the same users and permissions as nats.conf, each password replaced by its hash');
    // On the embedded bus render-acl writes the credentials only: nats.conf is `up`'s.
    rmSync(path.join(dir, 'state'), { recursive: true });
    const e = renderAcl(embedded);
    assert.equal(e.authFile, null);
    assert.equal(existsSync(e.confFile!), false);
    assert.ok(existsSync(e.credentialsFile));
  });

  it("connects every kernel as its own user, with every seed; the operator with bus.credentials", () => {
    assert.throws(() => busConnectOptions(external, { user: 'probe' }), (err: unknown) => err instanceof BusCredentialsError && /layer1 bus render-acl/.test(err.message));
    renderAcl(external);
    const passwords = JSON.parse(readFileSync(path.join(dir, 'state/bus/credentials.json'), 'utf8')).users as Record<string, string>;
    const probe = busConnectOptions(external, { user: 'probe' });
    assert.deepEqual(probe, { servers: ['127.0.0.1:25222', '127.0.0.1:25223', '127.0.0.1:25224'], user: 'probe', pass: passwords.probe, inboxPrefix: '_INBOX.probe' });
    assert.equal(busConnectOptions(external, { user: 'self_healing' }).pass, passwords.self_healing);
    assert.deepEqual(busConnectOptions(external), { servers: probe.servers, user: 'admin', pass: 's3cret' });
    const noOperator = { ...external, bus: { ...external.bus, credentials: undefined } };
    assert.equal(busConnectOptions(noOperator).pass, passwords.operator);
  });

  it('manages no bus process, and will not reload a cluster', async () => {
    assert.deepEqual(KERNELS.message_bus.processes(external), []);
    assert.deepEqual(KERNELS.message_bus.processes(embedded), ['bus']);
    assert.equal(kernelOfProcess(external, 'bus'), undefined);
    const pm = { signal: () => assert.fail('no signal to a process that is not ours') } as never;
    await assert.rejects(reloadBus(external, { pm }), ExternalBusError);
    // A chaos card that stalls or kills the bus process says why it cannot apply, not "no such process".
    const nopm = { pid: () => assert.fail('no pid looked up for a process that is not ours'), list: () => [] } as never;
    await assert.rejects(faults.stallProcess({ config: external, pm: nopm } as never, { process: 'bus', ms: 1_000 }), /the bus is external \(bus\.embedded: false\): Layer 1 runs no "bus" process/);
    await assert.rejects(faults.killProcess({ config: external, pm: nopm } as never, { process: 'bus' }), /bus is external/);
  });

  it("says in status what differs, and reads the connections' refusals instead of a local bus log", async () => {
    assert.deepEqual(busModeNotes(embedded), []);
    const notes = busModeNotes(external).join('\n');
    assert.match(notes, /acl_violations reads the refusals Layer 1's own connections receive/);
    assert.match(notes, /bus_config_drift checks the rules the cluster enforces/);
    const log = path.join(dir, 'bus.log');
    writeFileSync(log, '[1] 2026/01/01 00:00:00.000000 [ERR] 127.0.0.1:1 - cid:1 - "v3:nats.js:x" - "$G/user:immutable_log" - Publish Violation - Subject "system.control"\n');
    const ctx = (config: LoadedConfig) => ({ config, pm: { logPath: () => log } }) as unknown as DetectorContext;
    const settings = { everyMs: 500 };
    assert.equal((await aclViolations.check(ctx(embedded), settings, new LogTail(0))).length, 1);
    // An external bus: not the bus's log (pm.logPath), the file its connections write.
    assert.deepEqual(await aclViolations.check(ctx(external), settings, new LogTail(0)), []);
    mkdirSync(path.dirname(clientViolationsFile(external)), { recursive: true });
    writeFileSync(clientViolationsFile(external), `${readFileSync(log, 'utf8')}${clientViolationLine({ user: 'self_healing', op: 'subscribe', subject: 'system.>', connection: 'layer1-healing-1' })}\n`);
    const found = await aclViolations.check(ctx(external), settings, new LogTail(0));
    assert.deepEqual(
      found.map((f) => [f.data?.user, f.data?.op, f.data?.subject, f.process]),
      [
        ['immutable_log', 'publish', 'system.control', null],
        ['self_healing', 'subscribe', 'system.>', null],
      ],
    );
  });

  it("writes a refusal as nats-server logs it: the same parser, the local time it happened", () => {
    const at = new Date(2026, 11, 6, 19, 20, 1, 234);
    const line = clientViolationLine({ user: 'immutable_log', op: 'publish', subject: 'system.control', connection: 'layer1-chaos-immutable_log', server: '127.0.0.1:4222', at });
    assert.deepEqual(parseViolation(line), { op: 'publish', user: 'immutable_log', subject: 'system.control', line });
    assert.equal(lineTime(line), at.getTime());
    assert.equal(isEnforcementProbe(clientViolationLine({ user: 'x', op: 'publish', subject: 's', connection: `${ENFORCEMENT_PROBE_PREFIX}x` })), true);
    assert.equal(isEnforcementProbe(line), false);
  });
});

describe('bus: health and connection of a seed list', () => {
  const servers: net.Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  /** A port something answers on like a NATS server (its INFO line), or one nothing listens on. */
  async function port(info: object | null): Promise<number> {
    const server = net.createServer((socket) => {
      if (info) socket.write(`INFO ${JSON.stringify(info)}\r\n`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const p = (server.address() as net.AddressInfo).port;
    if (info) servers.push(server);
    else await new Promise((r) => server.close(r));
    return p;
  }

  const busOf = (url: string) => parseConfig(`bus:\n  url: ${url}\n  embedded: false\n`, FILE, {}).bus;

  it('is healthy when any seed answers, naming each one', async () => {
    const up = await port({ server_id: 'NABC', server_name: 'n2', version: '2.15.1', jetstream: true });
    const down = await port(null);
    const h = await clusterHealth({ bus: busOf(`nats://127.0.0.1:${down},nats://127.0.0.1:${up}`) }, 1_000);
    assert.equal(h.healthy, true, h.detail);
    assert.match(h.detail, new RegExp(`^1 of 2 nodes answer: 127\\.0\\.0\\.1:${down} FAILED \\(.*ECONNREFUSED.*\\); 127\\.0\\.0\\.1:${up} ok \\(n2 2\\.15\\.1, JetStream on\\)$`));
    const noJs = await port({ server_id: 'NX', version: '2.15.1', jetstream: false });
    const bad = await clusterHealth({ bus: busOf(`nats://127.0.0.1:${noJs},nats://127.0.0.1:${down}`) }, 1_000);
    assert.equal(bad.healthy, false);
    assert.match(bad.detail, /^0 of 2 nodes answer: .*JetStream OFF/);
  });

  it('a connection no seed takes names every seed tried and why', async () => {
    const [a, b] = [await port(null), await port(null)];
    const config = { stateDir: '/nonexistent', bus: { ...busOf(`nats://127.0.0.1:${a},nats://127.0.0.1:${b}`), credentials: { user: 'admin', password: 'x' } } };
    await assert.rejects(connectBus(config, { timeoutMs: 1_000 }), (err: unknown) => {
      assert.ok(err instanceof BusUnreachableError, String(err));
      assert.match(err.message, new RegExp(`0 of 2 nodes answer: 127\\.0\\.0\\.1:${a} FAILED \\(.*ECONNREFUSED.*\\); 127\\.0\\.0\\.1:${b} FAILED`));
      assert.equal((err.cause as Error).name, 'ConnectionError', 'the CLI still knows the bus is down');
      return true;
    });
  });
});
