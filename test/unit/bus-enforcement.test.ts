import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../src/config/load';
import { DEFAULT_POLICY_FILE, loadPolicy } from '../../kernels/message-bus';
import { literalInstance, probePlan } from '../../kernels/message-bus/enforcement';
import { analyseViolations, isEnforcementProbe, policyAllows } from '../../kernels/message-bus/violations';
import { dependencies } from '../../src/healing/detectors/store';
import type { DetectorContext } from '../../src/healing/detectors/types';

describe('message bus: the rules as enforced, per user', () => {
  const policy = loadPolicy(DEFAULT_POLICY_FILE);

  it('a literal instance of a pattern is covered by it, and unique per call', () => {
    assert.equal(literalInstance('system.control', 'u1'), 'system.control');
    assert.equal(literalInstance('layer1.log.>', 'u1'), 'layer1.log.probe.u1');
    assert.equal(literalInstance('a.*.c', 'u1'), 'a.probe.c');
    assert.equal(literalInstance('>', 'u1'), 'probe.u1');
  });

  it('plans, for every user of the shipped policy, a publish per allow pattern and one the policy forbids', () => {
    for (const user of Object.keys(policy.users)) {
      const plan = probePlan(policy, user, 'x1');
      assert.equal(plan.allowed.length, policy.users[user].publish.allow.length, `${user}: one probe per allow pattern`);
      for (const p of plan.allowed) assert.ok(policyAllows(policy, { op: 'publish', user, subject: p.subject }), `${user} may publish ${p.subject}`);
      assert.ok(plan.forbidden, `${user}: something to be refused`);
      assert.equal(policyAllows(policy, { op: 'publish', user, subject: plan.forbidden.subject }), false, `${user} may not publish ${plan.forbidden.subject}`);
    }
    // The drift config_drift injects (control_plane without the literal system.control) is probed.
    assert.ok(probePlan(policy, 'control_plane', 'x').allowed.some((p) => p.subject === 'system.control'));
    assert.equal(probePlan(policy, 'immutable_log', 'x').forbidden?.subject, 'system.control');
  });

  it("the enforcement check's own refusals are not violations (neither evidence nor a verdict)", () => {
    const probeLine =
      '[1] 2026/12/06 07:03:45.942751 [ERR] 127.0.0.1:45230 - cid:30 - "v3.4.0:nats.js:layer1-acl-probe-immutable_log" - "$G/user:immutable_log" - Publish Violation - Subject "system.control"';
    const kernelLine =
      '[1] 2026/12/06 07:03:46.000000 [ERR] 127.0.0.1:45231 - cid:31 - "v3.4.0:nats.js:layer1-chaos-immutable_log" - "$G/user:immutable_log" - Publish Violation - Subject "layer1.log.chaos"';
    assert.equal(isEnforcementProbe(probeLine), true);
    assert.equal(isEnforcementProbe(kernelLine), false);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bus-violations-'));
    try {
      const log = path.join(dir, 'bus.log');
      writeFileSync(log, `${probeLine}\n${kernelLine}\n`);
      const v = analyseViolations(log, policy);
      assert.deepEqual(v.map((x) => [x.user, x.subject, x.allowedByPolicy]), [['immutable_log', 'layer1.log.chaos', true]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the embedded bus unreachable is a consequence of the message_bus outage, not a dependency of its own', async () => {
    const config = parseConfig('', '/tmp/layer1-bus-enforcement/layer1.yaml', {});
    const ctx = { config, db: { command: () => Promise.resolve({ ok: 1 }) }, bus: { flush: () => Promise.reject(new Error('bus down')) } } as unknown as DetectorContext;
    const state = dependencies.createState();
    assert.deepEqual(await dependencies.check(ctx, config.detectors.store, state), []);
    const [f] = await dependencies.check(ctx, config.detectors.store, state);
    assert.equal(f.kind, 'dependency_unreachable');
    assert.deepEqual(f.data, { dependency: 'bus', misses: 2, process: 'bus', consequenceOf: 'message_bus' });
  });
});
