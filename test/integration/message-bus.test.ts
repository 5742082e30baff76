/**
 * The message bus kernel on a real nats-server of its own (free ports, temp state dir, started by
 * the DetachedProcessManager from the rendered config), independent of the suite's shared stack:
 * each readiness check passes when healthy, fails for the right reason when its condition is
 * broken for real, and passes again once repaired.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/nats-core';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { parseConfig, type LoadedConfig } from '../../src/config/load';
import { connectBus } from '../../src/clients/bus';
import { DetachedProcessManager } from '../../src/process/manager';
import { busService } from '../../src/stack/services';
import { ensureTools } from '../../src/stack/tools';
import type { CheckResult } from '../../src/domain/checks';
import { createPreflightActivities } from '../../activities/preflight';
import {
  BusCredentialsError,
  busPaths,
  busReadiness,
  consumeTriggers,
  ensureStreams,
  reloadBus,
  loadPolicy,
  policyFileOf,
  renderAcl,
  type TriggerLoopEvent,
} from '../../kernels/message-bus';
import { analyseViolations, parseViolation } from '../../kernels/message-bus/violations';
import { clientViolationsFile, violationLogOf } from '../../kernels/message-bus/client-violations';
import { aclViolations, LogTail } from '../../src/healing/detectors/bus';
import type { DetectorContext } from '../../src/healing/detectors/types';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function check(results: CheckResult[], name: string): CheckResult {
  const c = results.find((r) => r.name === name);
  assert.ok(c, `check ${name} in ${JSON.stringify(results)}`);
  return c;
}

/** Runs readiness until `name` has the wanted outcome (recovery is asynchronous), or fails with the last result. */
async function readinessUntil(config: LoadedConfig, name: string, ok: boolean, timeoutMs = 15_000): Promise<CheckResult[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const results = await busReadiness(config);
    if (check(results, name).ok === ok || Date.now() > deadline) {
      assert.equal(check(results, name).ok, ok, JSON.stringify(results, null, 2));
      return results;
    }
    await sleep(250);
  }
}

describe('message bus kernel on its own nats-server', function () {
  this.timeout(90_000);
  let stateDir: string;
  let config: LoadedConfig;
  let pm: DetachedProcessManager;
  let healing: NatsConnection | undefined;
  let operatorNc: NatsConnection | undefined;
  let triggers: { abort: AbortController; done: Promise<void>; events: TriggerLoopEvent[]; handled: string[] } | undefined;

  /** Starts the healing workers' trigger loop, as a healing worker would, as user self_healing. */
  function startTriggers(nc: NatsConnection): void {
    const abort = new AbortController();
    const events: TriggerLoopEvent[] = [];
    const handled: string[] = [];
    const done = consumeTriggers(nc, async (msg) => void handled.push(msg.subject), {
      signal: abort.signal,
      expiresMs: 2_000,
      maxBackoffMs: 500,
      onEvent: (e) => events.push(e),
    });
    triggers = { abort, done, events, handled };
  }

  /** The operator connection the tests set things up and inspect with. */
  function asOperator(): NatsConnection {
    assert.ok(operatorNc, 'operator connection');
    return operatorNc;
  }

  async function stopTriggers(): Promise<void> {
    triggers?.abort.abort();
    await triggers?.done;
    triggers = undefined;
  }

  before(async () => {
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'layer1-bus-it-'));
    const [port, monitor] = [await freePort(), await freePort()];
    config = parseConfig(
      `stateDir: ${stateDir}\nbus:\n  url: nats://127.0.0.1:${port}\n  monitorPort: ${monitor}\n`,
      path.join(stateDir, 'layer1.yaml'),
      {},
    );
    pm = new DetachedProcessManager(stateDir);
    const svc = busService(config);
    await pm.start(await svc.spec(await ensureTools(() => undefined)));
    const deadline = Date.now() + 20_000;
    while (!(await svc.health(1_000)).healthy) {
      if (Date.now() > deadline) assert.fail(`bus not healthy: ${readFileSync(pm.logPath('bus'), 'utf8')}`);
      await sleep(100);
    }
    const report = await ensureStreams(config);
    assert.deepEqual(report.streams.map((s) => s.action), ['created', 'created']);
    operatorNc = await connectBus(config, { name: 'test-operator' });
    healing = await connectBus(config, { user: 'self_healing', name: 'test-healing' });
    startTriggers(healing);
  });

  after(async () => {
    await stopTriggers();
    await healing?.close();
    await operatorNc?.close();
    await pm?.stop('bus');
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it('runs nats-server from the rendered config, with authentication required', async () => {
    assert.deepEqual(pm.info('bus').alive, true);
    const args = JSON.parse(readFileSync(path.join(stateDir, 'run', 'bus.pid'), 'utf8')).args;
    assert.deepEqual(args, ['-c', busPaths(config).confFile]);
    const { connect } = await import('@nats-io/transport-node');
    await assert.rejects(connect({ servers: config.bus.url.replace('nats://', ''), timeout: 2_000, reconnect: false }), /Authorization/i);
    await assert.rejects(connectBus(config, { user: 'stranger' }), BusCredentialsError);
  });

  it('only control_plane may publish system.control: its message arrives, the operator\'s is refused', async () => {
    const listener = await connectBus(config, { user: 'immutable_log', name: 'test-listener' });
    const control = await connectBus(config, { user: 'control_plane', name: 'test-control' });
    try {
      const got: string[] = [];
      const sub = listener.subscribe('system.control', { callback: (_err, m) => void got.push(m.string()) });
      await listener.flush();
      const refused: string[] = [];
      void (async () => {
        for await (const s of asOperator().status()) if (s.type === 'error') refused.push(s.error.message);
      })();
      control.publish('system.control', 'from-control-plane');
      asOperator().publish('system.control', 'from-operator');
      await control.flush();
      await asOperator().flush();
      await listener.flush();
      await sleep(100);
      sub.unsubscribe();
      assert.deepEqual(got, ['from-control-plane']);
      assert.ok(refused.some((m) => /Permissions Violation for Publish to "system\.control"/.test(m)), refused.join('; '));
    } finally {
      await listener.close();
      await control.close();
    }
  });

  it("seen as an external bus: the refusal a connection receives is recorded as the server logs it, and acl_violations reports it", async () => {
    // The same real nats-server, configured as a cluster would be (Layer 1 reads no bus log there).
    const external: LoadedConfig = { ...config, bus: { ...config.bus, embedded: false } };
    const file = clientViolationsFile(config);
    const refused = await connectBus(external, { user: 'immutable_log', name: 'test-refused' });
    // The readiness probe's user is refused on purpose: not recorded.
    const probe = await connectBus(external, { user: 'probe', name: 'test-probe' });
    try {
      refused.publish('system.control', 'forbidden');
      probe.publish('system.control', 'forbidden too');
      await Promise.all([refused.flush(), probe.flush()]);
      const deadline = Date.now() + 5_000;
      while (!existsSync(file) && Date.now() < deadline) await sleep(20);
      await sleep(200);
    } finally {
      await refused.close();
      await probe.close();
    }
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /"nats\.js:test-refused"/);
    const recorded = parseViolation(lines[0]);
    assert.deepEqual(recorded && { op: recorded.op, user: recorded.user, subject: recorded.subject }, { op: 'publish', user: 'immutable_log', subject: 'system.control' });
    // The server logged the same refusal in its own log, which the same parser reads.
    const serverLine = readFileSync(pm.logPath('bus'), 'utf8').split('\n').find((l) => l.includes('test-refused') && /Violation/.test(l));
    const logged = serverLine ? parseViolation(serverLine) : null;
    assert.deepEqual(logged && { op: logged.op, user: logged.user, subject: logged.subject }, { op: 'publish', user: 'immutable_log', subject: 'system.control' });
    // The detector reads it on the external bus, and the analysis says the policy forbids it.
    const findings = await aclViolations.check({ config: external, pm } as unknown as DetectorContext, { everyMs: 500 }, new LogTail(0));
    assert.deepEqual(findings.map((f) => [f.kind, f.data?.user, f.data?.subject, f.data?.logFile]), [['acl_violation', 'immutable_log', 'system.control', file]]);
    const [summary] = analyseViolations(violationLogOf(external, pm), loadPolicy(policyFileOf(config)));
    assert.deepEqual([summary.user, summary.count, summary.allowedByPolicy], ['immutable_log', 1, false]);
  });

  it('a nats-server holding the external block (bcrypt hashes) logs each user in with its password and enforces its rules', async () => {
    const port = await freePort();
    const external: LoadedConfig = { ...config, bus: { ...config.bus, url: `nats://127.0.0.1:${port}`, embedded: false } };
    const acl = renderAcl(external);
    assert.doesNotMatch(readFileSync(acl.authFile!, 'utf8'), /password: "(?!\$2a\$)/, 'every password in the block is a hash');
    // As a cluster's operator installs it: the node's own config includes the rendered file.
    const conf = path.join(stateDir, 'bus', 'node-bcrypt.conf');
    writeFileSync(conf, `listen: "127.0.0.1:${port}"\ninclude "authorization.conf"\n`);
    const tools = await ensureTools(() => undefined);
    await pm.start({ name: 'bus-bcrypt', command: tools.natsServer, args: ['-c', conf] });
    try {
      const deadline = Date.now() + 10_000;
      let nc: NatsConnection | undefined;
      while (!nc) {
        nc = await connectBus(external, { user: 'control_plane', name: 'test-bcrypt', timeoutMs: 1_000 }).catch((err: unknown) => {
          if (Date.now() > deadline) throw err;
          return undefined;
        });
        if (!nc) await sleep(100);
      }
      const refused: string[] = [];
      void (async () => {
        for await (const s of nc.status()) if (s.type === 'error') refused.push(s.error.message);
      })();
      nc.publish('system.control', 'allowed for control_plane');
      nc.publish('layer1.log.x', 'forbidden for control_plane');
      await nc.flush();
      await sleep(100);
      await nc.close();
      assert.deepEqual(refused.map((m) => /Permissions Violation for Publish to "([^"]+)"/.exec(m)?.[1]), ['layer1.log.x']);
      // The hash is not a password: logging in with it is refused.
      const { connect } = await import('@nats-io/transport-node');
      const hash = /user: "control_plane"\n {6}password: "([^"]+)"/.exec(acl.block)![1];
      await assert.rejects(connect({ servers: `127.0.0.1:${port}`, user: 'control_plane', pass: hash, timeout: 2_000, reconnect: false }), /Authorization/i);
    } finally {
      await pm.stop('bus-bcrypt');
    }
  });

  it('ensureStreams is idempotent: a second run changes nothing', async () => {
    const report = await ensureStreams(config);
    assert.ok([...report.streams, ...report.consumers].every((x) => x.action === 'unchanged'), JSON.stringify(report));
  });

  it('passes every check on a healthy bus', async () => {
    const results = await readinessUntil(config, 'subscriptions_active', true);
    assert.deepEqual(results.map((r) => r.name), ['queue_operational', 'acl_loaded', 'subscriptions_active']);
    for (const r of results) {
      assert.equal(r.ok, true, `${r.name}: ${r.detail}`);
      assert.equal(typeof r.ms, 'number');
    }
    assert.match(check(results, 'acl_loaded').detail, /system\.control refused .*Permissions Violation/i);
    assert.match(check(results, 'subscriptions_active').detail, /LAYER1_EVENTS\/self_healing_triggers live/);
  });

  it('queue_operational leaves no probe in the stream and never hands one to the healing handler', async () => {
    const jsm = await jetstreamManager(asOperator());
    const before = (await jsm.streams.info('LAYER1_EVENTS')).state.messages;
    await busReadiness(config);
    assert.equal((await jsm.streams.info('LAYER1_EVENTS')).state.messages, before);
    assert.ok(triggers!.handled.every((s) => !s.startsWith('layer1.events.probe.')), triggers!.handled.join(' '));
  });

  it('delivers events to the trigger handler as self_healing, acking each', async () => {
    const nc = asOperator();
    const js = jetstream(nc);
    const subject = `layer1.events.kernel.test-${Date.now()}`;
    await js.publish(subject, 'exit');
    const deadline = Date.now() + 5_000;
    while (!triggers!.handled.includes(subject) && Date.now() < deadline) await sleep(50);
    assert.ok(triggers!.handled.includes(subject), triggers!.handled.join(' '));
    const info = await (await jetstreamManager(nc)).consumers.info('LAYER1_EVENTS', 'self_healing_triggers');
    const deadlineAck = Date.now() + 3_000;
    let pending = info.num_ack_pending;
    while (pending > 0 && Date.now() < deadlineAck) {
      await sleep(50);
      pending = (await (await jetstreamManager(nc)).consumers.info('LAYER1_EVENTS', 'self_healing_triggers')).num_ack_pending;
    }
    assert.equal(pending, 0);
  });

  it('the preflight bus check still works for a healing worker (user self_healing)', async () => {
    const activities = createPreflightActivities({ config, bus: healing!, db: undefined as never, temporal: undefined as never });
    const result = await activities.checkBus();
    assert.equal(result.ok, true, result.detail);
  });

  it('(a) a deleted durable consumer fails subscriptions_active, naming it; ensureStreams repairs it', async () => {
    const jsm = await jetstreamManager(asOperator());
    await jsm.consumers.delete('LAYER1_EVENTS', 'self_healing_triggers');
    const broken = await busReadiness(config);
    const sub = check(broken, 'subscriptions_active');
    assert.equal(sub.ok, false);
    assert.match(sub.detail, /durable consumer LAYER1_EVENTS\/self_healing_triggers does not exist/);
    assert.equal(check(broken, 'queue_operational').ok, true, check(broken, 'queue_operational').detail);
    assert.equal(check(broken, 'acl_loaded').ok, true, check(broken, 'acl_loaded').detail);

    const report = await ensureStreams(config);
    assert.deepEqual(report.consumers.find((c) => c.consumer === 'self_healing_triggers')?.action, 'created');
    // The trigger loop notices the loss, re-binds to the re-created consumer, and makes it live again.
    await readinessUntil(config, 'subscriptions_active', true);
    assert.ok(triggers!.events.some((e) => e.type === 'lost'), JSON.stringify(triggers!.events));
    assert.ok(triggers!.events.filter((e) => e.type === 'bound').length >= 2, JSON.stringify(triggers!.events));
  });

  it('(b) a rendered ACL that lets probe publish system.control fails acl_loaded; re-render + reload passes; streams survive', async () => {
    const jsm = await jetstreamManager(asOperator());
    const seqBefore = (await jsm.streams.info('LAYER1_EVENTS')).state.last_seq;
    const { confFile } = busPaths(config);
    const rendered = readFileSync(confFile, 'utf8');
    const probeBlock = rendered.slice(rendered.indexOf('user: "probe"'));
    const tampered = probeBlock.replace(
      'publish: { allow: ["layer1.probe.>"], deny: ["system.control", "system.control.>"] }',
      'publish: { allow: ["layer1.probe.>", "system.control"], deny: [] }',
    );
    assert.notEqual(tampered, probeBlock, 'the probe block has the expected rendered form');
    writeFileSync(confFile, rendered.replace(probeBlock, tampered));
    await reloadBus(config, { render: false, pm });

    const broken = await busReadiness(config);
    const acl = check(broken, 'acl_loaded');
    assert.equal(acl.ok, false);
    assert.match(acl.detail, /forbidden publish to system\.control as probe was accepted \(delivered to a subscriber\)/);

    await reloadBus(config, { pm });
    assert.equal(readFileSync(confFile, 'utf8'), rendered, 're-render restores the policy');
    const repaired = await readinessUntil(config, 'acl_loaded', true);
    assert.ok(repaired.every((r) => r.ok), JSON.stringify(repaired, null, 2));
    // A reload changes users and permissions in place: JetStream state and connections stay.
    const after = await jsm.streams.info('LAYER1_EVENTS');
    assert.ok(after.state.last_seq >= seqBefore);
    assert.ok((await jsm.consumers.info('LAYER1_EVENTS', 'self_healing_triggers')).config.durable_name);
    assert.equal(healing!.isClosed(), false);
  });

  it('(c) with every puller stopped the trigger consumer is not live; restarting them makes it live', async () => {
    await stopTriggers();
    const broken = await readinessUntil(config, 'subscriptions_active', false);
    assert.match(check(broken, 'subscriptions_active').detail, /LAYER1_EVENTS\/self_healing_triggers is not live: no outstanding pull/);
    startTriggers(healing!);
    await readinessUntil(config, 'subscriptions_active', true);
  });

  it('a deleted stream fails queue_operational, naming it; ensureStreams repairs it and the triggers come back', async () => {
    const jsm = await jetstreamManager(asOperator());
    await jsm.streams.delete('LAYER1_EVENTS');
    const broken = await busReadiness(config);
    assert.equal(check(broken, 'queue_operational').ok, false);
    assert.match(check(broken, 'queue_operational').detail, /stream LAYER1_EVENTS does not exist/);
    assert.match(check(broken, 'subscriptions_active').detail, /LAYER1_EVENTS\/self_healing_triggers does not exist/);
    await ensureStreams(config);
    const repaired = await readinessUntil(config, 'subscriptions_active', true);
    assert.ok(repaired.every((r) => r.ok), JSON.stringify(repaired, null, 2));
  });

  it('reloadBus refuses clearly when the bus is not running', async () => {
    const other = new DetachedProcessManager(path.join(stateDir, 'elsewhere'));
    await assert.rejects(reloadBus(config, { pm: other }), /the bus is not running/);
  });
});
