import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, parseConfig, type LoadedConfig } from '../../src/config/load';
import {
  BusCredentialsError,
  busCredentials,
  DEFAULT_POLICY_FILE,
  effectivePermissions,
  forbiddenProbeSubject,
  loadPolicy,
  parsePolicy,
  policyFileOf,
  renderBus,
  subjectCovers,
} from '../../kernels/message-bus';

const FILE = '/tmp/layer1-bus-policy-test/acl-policy.yaml';

/** A small valid policy, as lines, so tests can break one line and know where. */
const BASE = [
  'version: 1', //                                   1
  'exclusivePublish:', //                            2
  '  - subjects: [system.control, system.control.>]', // 3
  '    users: [control_plane]', //                   4
  'users:', //                                       5
  '  control_plane:', //                             6
  '    description: control plane', //               7
  '    publish: { allow: [system.control] }', //     8
  '  operator:', //                                  9
  '    description: the CLI', //                     10
  "    publish: { allow: ['>'] }", //                11
  '  probe:', //                                     12
  '    description: readiness', //                   13
  '    publish: { allow: [layer1.probe.>] }', //     14
  'streams:', //                                     15
  '  LAYER1_EVENTS:', //                             16
  '    description: events', //                      17
  '    subjects: [layer1.events.>]', //              18
  '    consumers:', //                               19
  '      self_healing_triggers:', //                 20
  '        description: triggers', //                21
  '        user: control_plane', //                  22
];

function problemsOf(lines: string[]): ConfigError {
  try {
    parsePolicy(lines.join('\n'), FILE);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

function withLine(n: number, text: string): string[] {
  return BASE.map((l, i) => (i === n - 1 ? text : l));
}

describe('message bus: ACL policy', () => {
  it('loads the shipped policy with every kernel user, the operator and the probe', () => {
    const policy = loadPolicy(DEFAULT_POLICY_FILE);
    for (const u of ['control_plane', 'immutable_log', 'self_healing', 'coding_agent', 'operator', 'probe']) {
      assert.ok(policy.users[u], `user ${u}`);
    }
    assert.deepEqual(Object.keys(policy.streams).sort(), ['LAYER1_EVENTS', 'LAYER1_TELEMETRY']);
    assert.ok(policy.streams.LAYER1_EVENTS.consumers.self_healing_triggers.mustBeLive);
    assert.ok(policy.streams.LAYER1_TELEMETRY.consumers.telemetry_archive);
    assert.equal(forbiddenProbeSubject(policy), 'system.control');
  });

  it('denies system.control to everyone but the control plane, whatever their allow lists say', () => {
    const policy = loadPolicy(DEFAULT_POLICY_FILE);
    for (const user of Object.keys(policy.users)) {
      const p = effectivePermissions(policy, user);
      const denied = p.publish.deny.includes('system.control') && p.publish.deny.includes('system.control.>');
      assert.equal(denied, user !== 'control_plane', user);
      assert.ok(p.subscribe.allow.includes(`_INBOX.${user}.>`), `${user} has its own inbox`);
    }
    assert.deepEqual(effectivePermissions(policy, 'operator').publish.allow, ['>']);
    assert.deepEqual(effectivePermissions(policy, 'probe').publish.allow, ['layer1.probe.>']);
    // The self-healing workers may pull and ack their consumer, and nothing else of JetStream's API.
    const healing = effectivePermissions(policy, 'self_healing').publish.allow.filter((s) => s.startsWith('$JS'));
    assert.ok(healing.includes('$JS.API.CONSUMER.MSG.NEXT.LAYER1_EVENTS.self_healing_triggers'));
    assert.ok(healing.includes('$JS.ACK.LAYER1_EVENTS.self_healing_triggers.>'));
    assert.ok(healing.every((s) => /self_healing_triggers|telemetry_archive/.test(s)), healing.join(' '));
    // Preflight's bus check publishes and consumes on layer1.preflight.<uuid> as self_healing.
    assert.ok(policy.users.self_healing.publish.allow.includes('layer1.preflight.>'));
    assert.ok(policy.users.self_healing.subscribe.allow.includes('layer1.preflight.>'));
  });

  it('reports an unknown key in a user at its line and column', () => {
    const err = problemsOf(withLine(8, '    publsh: { allow: [system.control] }'));
    const p = err.problems.find((x) => x.path === 'users.control_plane.publsh');
    assert.ok(p, err.message);
    assert.deepEqual([p.line, p.col], [8, 5]);
    assert.match(p.message, /unknown key "publsh"/);
    assert.match(err.message, /acl-policy\.yaml:8:5: unknown key "publsh" → at users\.control_plane\.publsh/);
  });

  it('reports a bad subject at the value', () => {
    const err = problemsOf(withLine(14, '    publish: { allow: [layer1..probe, layer1.>.x] }'));
    const paths = err.problems.map((p) => p.path).sort();
    assert.deepEqual(paths, ['users.probe.publish.allow.0', 'users.probe.publish.allow.1'], err.message);
    for (const p of err.problems) {
      assert.equal(p.line, 14);
      assert.match(p.message, /not a valid NATS subject/);
    }
    assert.equal(err.problems.find((p) => p.path.endsWith('.0'))?.col, 24);
  });

  it('reports a duplicate user at the second definition', () => {
    const err = problemsOf([...BASE.slice(0, 14), '  operator:', '    description: again', ...BASE.slice(14)]);
    assert.equal(err.problems.length, 1, err.message);
    assert.deepEqual([err.problems[0].line, err.problems[0].col], [15, 3]);
    assert.match(err.problems[0].message, /duplicate key "operator"/);
  });

  it('reports every problem at once: reserved subject allowed to another user, unknown users, missing probe', () => {
    const lines = withLine(11, "    publish: { allow: ['>', system.control.restart] }")
      .map((l, i) => (i === 21 ? '        user: nobody' : l))
      .filter((_, i) => i < 11 || i > 13);
    const err = problemsOf(lines);
    const byPath = new Map(err.problems.map((p) => [p.path, p]));
    assert.match(byPath.get('users.operator.publish.allow.1')!.message, /reserved for control_plane/);
    assert.equal(byPath.get('users.operator.publish.allow.1')!.line, 11);
    assert.match(byPath.get('streams.LAYER1_EVENTS.consumers.self_healing_triggers.user')!.message, /unknown user "nobody"/);
    assert.match(byPath.get('users')!.message, /user "probe" is required/);
    assert.equal(err.problems.length, 3, err.message);
  });

  it('knows which subject patterns cover which', () => {
    const cases: Array<[string, string, boolean]> = [
      ['system.control', 'system.control', true],
      ['system.control.>', 'system.control.restart', true],
      ['system.control.>', 'system.control', false],
      ['system.*', 'system.control', true],
      ['system.*', 'system.>', false],
      ['>', 'anything.at.all', true],
      ['layer1.events.>', 'layer1.events.probe.x', true],
      ['layer1.events.*', 'layer1.events.probe.x', false],
    ];
    for (const [outer, inner, want] of cases) assert.equal(subjectCovers(outer, inner), want, `${outer} ⊇ ${inner}`);
  });
});

describe('message bus: rendering', () => {
  let dir: string;
  let config: LoadedConfig;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-bus-render-'));
    config = parseConfig(`stateDir: ${dir}/state\nbus:\n  url: nats://127.0.0.1:34999\n  monitorPort: 38999\n`, path.join(dir, 'layer1.yaml'), {});
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes nats.conf and 0600 credentials from the policy', () => {
    const r = renderBus(config);
    const conf = readFileSync(r.confFile, 'utf8');
    assert.match(conf, /listen: "127\.0\.0\.1:34999"/);
    assert.match(conf, /http: "127\.0\.0\.1:38999"/);
    assert.match(conf, new RegExp(`store_dir: "${dir}/state/bus/js"`));
    assert.match(conf, /server_name: "layer1-bus"/);
    assert.equal(statSync(r.credentialsFile).mode & 0o777, 0o600);
    assert.equal(statSync(r.confFile).mode & 0o777, 0o600);
    const probe = busCredentials(config, 'probe');
    assert.equal(probe.user, 'probe');
    assert.ok(probe.pass.length >= 32);
    assert.ok(conf.includes(JSON.stringify(probe.pass)));
  });

  it('is idempotent: same hash, files untouched, passwords kept', () => {
    const first = renderBus(config);
    const passwords = JSON.parse(readFileSync(first.credentialsFile, 'utf8'));
    const mtime = statSync(first.confFile).mtimeMs;
    const second = renderBus(config);
    assert.equal(second.hash, first.hash);
    assert.equal(second.changed, false);
    assert.equal(statSync(second.confFile).mtimeMs, mtime);
    assert.deepEqual(JSON.parse(readFileSync(second.credentialsFile, 'utf8')), passwords);
  });

  it('keeps every password when the policy changes, and gives a new user its own', () => {
    const before = renderBus(config);
    const passwords = JSON.parse(readFileSync(before.credentialsFile, 'utf8')).users as Record<string, string>;
    const custom = path.join(dir, 'policy.yaml');
    writeFileSync(
      custom,
      readFileSync(DEFAULT_POLICY_FILE, 'utf8').replace('users:\n', 'users:\n  auditor:\n    description: reads events\n    subscribe: { allow: [layer1.events.>] }\n'),
    );
    const after = renderBus(config, custom);
    assert.equal(after.changed, true);
    assert.notEqual(after.hash, before.hash);
    for (const [user, pass] of Object.entries(passwords)) assert.equal(busCredentials(config, user).pass, pass, user);
    assert.ok(busCredentials(config, 'auditor').pass);
  });

  it('takes an override policy from kernels.message_bus.aclPolicy, relative to the config file', () => {
    const c = parseConfig('kernels:\n  message_bus:\n    aclPolicy: policies/bus.yaml\n', path.join(dir, 'layer1.yaml'), {});
    assert.equal(policyFileOf(c), path.join(dir, 'policies', 'bus.yaml'));
    assert.equal(policyFileOf(config), DEFAULT_POLICY_FILE);
  });

  it('names what is missing when credentials are asked for too early or for a stranger', () => {
    assert.throws(() => busCredentials(config, 'operator'), (err: unknown) => err instanceof BusCredentialsError && /not been rendered/.test(err.message));
    renderBus(config);
    assert.throws(() => busCredentials(config, 'stranger'), (err: unknown) => err instanceof BusCredentialsError && /no such user/.test(err.message));
  });

  it('does not write anything for an invalid policy', () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: 2\nusers: {}\n');
    assert.throws(() => renderBus(config, bad), ConfigError);
    assert.throws(() => busCredentials(config, 'operator'), BusCredentialsError);
  });
});
