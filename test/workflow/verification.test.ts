import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import { ApplicationFailure } from '@temporalio/common';
import {
  VERIFICATION_WORKFLOW,
  verificationProgressQuery,
  verificationWorkflowId,
  type VerificationCheckName,
  type VerificationCheckReport,
  type VerificationInput,
  type VerificationSettings,
  type VerificationWorkflow,
} from '../../contracts/verification';
import { timeSkippingFixture } from '../support/time-skipping';
import { uniqueId } from '../support/env';

type Behaviour = Partial<Record<VerificationCheckName, { ok: boolean; output?: string } | 'throw'>>;

/** Plain fake activities: each check reports what `behaviour` says (default: passes) and is recorded. */
function fakes(behaviour: Behaviour = {}, settingsChecks: VerificationCheckName[] = ['readiness', 'detector', 'tests', 'lint', 'types']) {
  const calls: Array<{ name: VerificationCheckName; args: unknown }> = [];
  const report = (name: VerificationCheckName, args: unknown): VerificationCheckReport => {
    calls.push({ name, args });
    const b = behaviour[name] ?? { ok: true };
    if (b === 'throw') throw ApplicationFailure.create({ type: 'Boom', message: `${name} could not run`, nonRetryable: true });
    return { name, ok: b.ok, command: `fake ${name}`, exitCode: name === 'readiness' || name === 'detector' ? null : b.ok ? 0 : 1, output: b.output ?? '', ms: 1, startedAt: new Date().toISOString() };
  };
  const activities = {
    async verificationSettings(): Promise<VerificationSettings> {
      return { checks: settingsChecks, checkTimeoutMs: 60_000, taskQueues: { healing: 'unused', codingAgent: 'unused' } };
    },
    async verifyReadiness(args: unknown) {
      return report('readiness', args);
    },
    async verifyDetector(args: unknown) {
      return report('detector', args);
    },
    async runProjectCheck(args: { name: VerificationCheckName }) {
      return report(args.name, args);
    },
  };
  return { calls, activities };
}

describe('verification workflow (time-skipping server, fake activities)', function () {
  this.timeout(60_000);
  const ts = timeSkippingFixture();

  const input = (taskQueue: string, extra: Partial<VerificationInput> = {}): VerificationInput => ({
    incidentId: uniqueId('inc'),
    attempt: 1,
    signature: 'message_bus_ACLViolation_abc',
    kernel: 'message_bus',
    evidence: { id: 'acl_violation:message_bus:12@1', kind: 'acl_violation', kernel: 'message_bus', process: 'bus', signature: 'message_bus_ACLViolation_abc', at: 1 },
    changedFiles: ['kernels/message-bus/policy.ts'],
    remedyFinishedAt: 1_000,
    taskQueues: { healing: taskQueue, codingAgent: taskQueue },
    ...extra,
  });

  async function verify(activities: object, extra: Partial<VerificationInput> = {}) {
    const taskQueue = uniqueId('verification');
    const worker = await Worker.create({ connection: ts.env.nativeConnection, taskQueue, workflowBundle: ts.bundle, activities });
    return worker.runUntil(async () => {
      const i = input(taskQueue, extra);
      const handle = await ts.env.client.workflow.start<VerificationWorkflow>(VERIFICATION_WORKFLOW, { taskQueue, workflowId: verificationWorkflowId(i.incidentId, i.attempt), args: [i] });
      const outcome = await handle.result();
      const progress = await handle.query(verificationProgressQuery);
      const attrs = (await handle.describe()).searchAttributes as Record<string, unknown[]>;
      return { outcome, progress, attrs };
    });
  }

  it('passes when every check passes: healedAt is set, checks in the contract order, search attributes upserted', async () => {
    const f = fakes();
    const before = Date.now();
    const { outcome, progress, attrs } = await verify(f.activities);
    assert.equal(outcome.ok, true);
    assert.ok(outcome.healedAt !== null && outcome.healedAt >= before - 60_000, `healedAt ${outcome.healedAt}`);
    assert.deepEqual(outcome.checks.map((c) => c.name), ['readiness', 'detector', 'tests', 'lint', 'types']);
    assert.deepEqual(progress.map((c) => c.name), ['readiness', 'detector', 'tests', 'lint', 'types']);
    assert.deepEqual(attrs.Layer1Outcome, ['passed']);
    assert.deepEqual(attrs.Layer1Signature, ['message_bus_ACLViolation_abc']);
    assert.deepEqual(attrs.Layer1Kernel, ['message_bus']);
    // The detector check is told the evidence and when the remedy finished; the project checks the kernel and files.
    assert.deepEqual(f.calls.find((c) => c.name === 'detector')?.args, { evidence: input('x').evidence, since: 1_000 });
    assert.deepEqual(f.calls.find((c) => c.name === 'tests')?.args, { name: 'tests', kernel: 'message_bus', changedFiles: ['kernels/message-bus/policy.ts'] });
  });

  it('fails on a failing tests check with its output, and still runs lint and types', async () => {
    const f = fakes({ tests: { ok: false, output: '1 failing\n  AssertionError: expected 1 to equal 2' } });
    const { outcome, attrs } = await verify(f.activities);
    assert.equal(outcome.ok, false);
    assert.notEqual(outcome.healedAt, null, 'the fault is healed even if the project checks fail');
    const tests = outcome.checks.find((c) => c.name === 'tests')!;
    assert.equal(tests.ok, false);
    assert.equal(tests.exitCode, 1);
    assert.match(tests.output, /AssertionError/);
    assert.deepEqual(outcome.checks.map((c) => [c.name, c.ok]), [['readiness', true], ['detector', true], ['tests', false], ['lint', true], ['types', true]]);
    assert.deepEqual(attrs.Layer1Outcome, ['failed']);
  });

  it('leaves healedAt null and skips the project checks when readiness fails', async () => {
    const f = fakes({ readiness: { ok: false, output: 'FAIL acl_loaded' } });
    const { outcome } = await verify(f.activities);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.healedAt, null);
    assert.deepEqual(outcome.checks.map((c) => [c.name, c.ok]), [['readiness', false], ['detector', true]]);
    assert.deepEqual(f.calls.map((c) => c.name).sort(), ['detector', 'readiness']);
  });

  it("takes the checks from the worker's config when the input names none; a check that cannot run fails with its error", async () => {
    const f = fakes({ lint: 'throw' }, ['detector', 'lint']);
    const { outcome } = await verify(f.activities, { checks: undefined });
    assert.deepEqual(outcome.checks.map((c) => [c.name, c.ok]), [['detector', true], ['lint', false]]);
    assert.match(outcome.checks[1]!.output, /could not run/);
    assert.notEqual(outcome.healedAt, null);
    assert.equal(outcome.ok, false);
  });

  it('runs only the checks the input names', async () => {
    const f = fakes();
    const { outcome } = await verify(f.activities, { checks: ['types'] });
    assert.deepEqual(outcome.checks.map((c) => c.name), ['types']);
    assert.equal(outcome.healedAt, null, 'nothing confirmed the fault is gone');
    assert.equal(outcome.ok, true);
  });
});
