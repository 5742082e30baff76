import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure, CancelledFailure, WorkflowNotFoundError } from '@temporalio/common';
import { ACTION_NAMES } from '../../src/playbooks/actions';
import { ActionErrorType, createActionActivities, type ActionDeps, type ActionMeta } from '../../activities/actions';
import type { LoadedConfig } from '../../src/config/load';
import { runVerification } from '../../src/verification/loop';

/** Only what the actions under test touch: the rest would throw if used. */
function depsFor(stateDir: string, extra: Partial<ActionDeps> = {}): ActionDeps {
  return { config: { stateDir, bus: { embedded: true } } as LoadedConfig, ...extra } as ActionDeps;
}

const meta = (stepId: string): ActionMeta => ({ workflowId: 'playbook-unit', runId: 'run-1', stepId, playbook: 'unit', kernel: null });

function failsWith(type: string, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(err)}`);
    assert.equal(err.type, type, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

describe('actions: activities (no stack)', () => {
  let state: string;
  beforeEach(() => {
    state = mkdtempSync(path.join(os.tmpdir(), 'layer1-actions-'));
  });
  afterEach(() => rmSync(state, { recursive: true, force: true }));

  it('has exactly one activity per action, named like it', () => {
    assert.deepEqual(Object.keys(createActionActivities(depsFor(state))).sort(), [...ACTION_NAMES].sort());
  });

  it('refuses bad params before doing anything, non-retryably, with the zod issues', async () => {
    const acts = createActionActivities(depsFor(state));
    const bad: Array<[keyof typeof acts, unknown, RegExp]> = [
      ['restart_kernel', { kernel: 'nonsense' }, /kernel/],
      ['wait_kernel_ready', { kernel: 'message_bus', timeoutMs: 5 }, /timeoutMs/],
      ['publish_event', { subject: 'not a subject' }, /subject/],
      ['kill_process', { process: 'Bad Name!' }, /process/],
      ['take_snapshot', { paths: [] }, /paths/],
      ['rebuild_log_index', { unexpected: true }, /unexpected/],
    ];
    for (const [name, params, field] of bad) {
      await assert.rejects(
        (acts[name] as (p: unknown, m: ActionMeta) => Promise<unknown>)(params, meta('s')),
        (err: unknown) => {
          failsWith(ActionErrorType.INVALID_PARAMS, field)(err);
          assert.equal((err as ApplicationFailure).nonRetryable, true);
          assert.ok(Array.isArray((err as ApplicationFailure).details?.[0]), 'details hold the zod issues');
          return true;
        },
        name,
      );
    }
  });

  it('refuses a meta without the idempotency key', async () => {
    const acts = createActionActivities(depsFor(state));
    await assert.rejects(acts.open_backlog_item({ title: 't' } as never, { ...meta('s'), stepId: '' }), failsWith(ActionErrorType.INVALID_PARAMS, /stepId/));
  });

  it('take_snapshot and restore_from_snapshot: same snapshot on retry, escapes and bad checksums are typed failures', async () => {
    mkdirSync(path.join(state, 'conf'));
    writeFileSync(path.join(state, 'conf', 'x.json'), '{"x":1}');
    const acts = createActionActivities(depsFor(state));
    const first = await acts.take_snapshot({ paths: ['conf'] } as never, meta('snap'));
    const second = await acts.take_snapshot({ paths: ['conf'] } as never, meta('snap'));
    assert.deepEqual(second, first);
    assert.deepEqual(readdirSync(path.join(state, 'snapshots', 'manual')), [first.snapshot], 'one snapshot directory');
    assert.equal(first.files, 1);

    writeFileSync(path.join(state, 'conf', 'x.json'), 'garbage');
    const restored = await acts.restore_from_snapshot({ path: 'conf/x.json' }, meta('restore'));
    assert.equal(restored.restored, true);
    assert.equal((await acts.restore_from_snapshot({ path: 'conf/x.json' }, meta('restore'))).restored, false);

    await assert.rejects(acts.take_snapshot({ paths: ['../etc'] } as never, meta('escape')), failsWith(ActionErrorType.PATH_ESCAPE, /escapes/));
    await assert.rejects(acts.restore_from_snapshot({ path: '../../etc/passwd' }, meta('escape')), failsWith(ActionErrorType.PATH_ESCAPE));
    await assert.rejects(acts.restore_from_snapshot({ path: 'conf/x.json', snapshot: 'snap-none' }, meta('r2')), failsWith(ActionErrorType.SNAPSHOT_NOT_FOUND));
    writeFileSync(path.join(state, 'snapshots', 'manual', first.snapshot, 'files', 'conf', 'x.json'), 'tampered');
    await assert.rejects(acts.restore_from_snapshot({ path: 'conf/x.json' }, meta('r3')), failsWith(ActionErrorType.CHECKSUM_MISMATCH));
  });

  it('kernel actions fail non-retryably when the control plane is not running', async () => {
    const temporal = {
      workflow: {
        getHandle: (id: string) => ({
          describe: async () => {
            throw new WorkflowNotFoundError('not found', id, undefined);
          },
        }),
      },
    };
    const acts = createActionActivities(depsFor(state, { temporal: temporal as never }));
    await assert.rejects(
      acts.restart_kernel({ kernel: 'immutable_log', reason: 'test' }, meta('restart')),
      (err: unknown) => failsWith(ActionErrorType.CONTROL_PLANE_NOT_RUNNING, /not running/)(err) && (err as ApplicationFailure).nonRetryable,
    );
    await assert.rejects(acts.set_kernel_state({ kernel: 'immutable_log', state: 'stopped' }, meta('stop')), failsWith(ActionErrorType.CONTROL_PLANE_NOT_RUNNING));
  });

  describe('the verification loop', () => {
    it('runs each check in the target with its command and reports each', async () => {
      const report = await runVerification({
        target: state,
        checks: ['types', 'lint'],
        commands: { types: 'pwd', lint: 'echo "2 problems" >&2; exit 3' },
      });
      assert.equal(report.ok, false);
      assert.deepEqual(report.results.map((r) => [r.check, r.ok, r.exitCode]), [
        ['types', true, 0],
        ['lint', false, 3],
      ]);
      assert.match(report.results[1].detail, /exit 3[\s\S]*2 problems/);
    });

    it('fails a check that runs past its timeout, and stops it', async () => {
      const started = Date.now();
      const report = await runVerification({ target: state, checks: ['tests'], commands: { tests: 'sleep 30' }, timeoutMs: 300 });
      assert.equal(report.results[0].timedOut, true);
      assert.equal(report.ok, false);
      assert.ok(Date.now() - started < 5_000);
    });

    it('run_verification heartbeats while a check runs and honours cancellation', async () => {
      const acts = createActionActivities(depsFor(state, { verificationCommands: { tests: 'sleep 30' } }));
      const env = new MockActivityEnvironment();
      let beats = 0;
      env.on('heartbeat', () => {
        beats++;
        if (beats === 1) env.cancel();
      });
      const started = Date.now();
      await assert.rejects(env.run(acts.run_verification, { target: state, checks: ['tests' as const] }, meta('verify')), CancelledFailure);
      assert.ok(Date.now() - started < 5_000, 'the running check was stopped');
    });

    it('run_verification passes with passing commands', async () => {
      const acts = createActionActivities(depsFor(state, { verificationCommands: { tests: 'true', lint: 'true', types: 'true' } }));
      const out: Awaited<ReturnType<typeof acts.run_verification>> = await new MockActivityEnvironment().run(acts.run_verification, { target: state, checks: ['tests', 'lint', 'types'] as Array<'tests' | 'lint' | 'types'> }, meta('verify-ok'));
      assert.equal(out.ok, true);
      assert.deepEqual(out.results.map((r) => r.check), ['tests', 'lint', 'types']);
    });
  });
});
