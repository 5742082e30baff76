/**
 * Crash survival of playbook runs on the suite's stack (the CI-sized bench/playbook-crash.ts): three
 * runs of the ten-step crash playbook, each with one `kill -9` of the healing replica executing it
 * at a random moment. Every run must succeed and every side effect — log entries, backlog
 * documents, stream messages, snapshot directories — is counted from its source of truth and must
 * be there exactly once. The control plane restarts the replica; the test waits until
 * self_healing's self-test passes again after each kill, so the files after this one find the
 * stack healthy.
 */
import assert from 'node:assert/strict';
import { cleanupCrashRuns, connectCrashDeps, crashRun, waitReplicasReady, type CrashDeps, type CrashRunResult } from '../../bench/playbook-crash';
import { stackAvailable, testConfig, uniqueId } from '../support/env';

describe('playbook runs survive kill -9 of the healing replica running them', function () {
  this.timeout(300_000);
  const config = testConfig();
  let deps: CrashDeps;
  let close: (() => Promise<void>) | undefined;
  const ids: string[] = [];
  const runId = uniqueId('crash');

  before(async function () {
    if (!stackAvailable()) this.skip();
    ({ deps, close } = await connectCrashDeps(config));
    // Start from both replicas up and ready (an earlier file may have just killed one).
    await waitReplicasReady(deps, null);
  });

  after(async () => {
    if (deps) {
      await waitReplicasReady(deps, null).catch(() => undefined);
      await cleanupCrashRuns(deps, ids).catch(() => undefined);
    }
    await close?.();
  });

  const describeRun = (r: CrashRunResult): string =>
    JSON.stringify({ ...r, effects: { ...r.effects, counts: Object.fromEntries(r.effects.counts) } }, null, 1);

  let window = 0;
  it('a run without a kill succeeds with each side effect exactly once', async () => {
    const id = `${runId}-warm`;
    ids.push(id);
    const r = await crashRun(deps, id, null);
    assert.equal(r.outcome, 'succeeded', describeRun(r));
    assert.deepEqual([r.effects.duplicates, r.effects.missing, r.effects.unexpected], [[], [], []], describeRun(r));
    assert.equal(r.effects.counts.size, 22, 'ten steps: 12 workflow audit entries, 3 audit steps, 3 events, 2 backlog items, 2 snapshots');
    window = r.ms;
  });

  for (let i = 1; i <= 3; i++) {
    it(`run ${i}: one kill -9 mid-run; it completes, each side effect exactly once, and the replica is back`, async () => {
      assert.ok(window > 0, 'the run without a kill passed');
      // Spread the kills over the run: early, middle, late (each at a random moment in its third).
      let killAfter = Math.floor((((i - 1) + Math.random()) / 3) * window * 0.8);
      let r: Awaited<ReturnType<typeof crashRun>>;
      // A run can finish before a late kill lands (runs vary): then try again, killing earlier.
      for (let attempt = 1; ; attempt++) {
        const id = `${runId}-${i}-${attempt}`;
        ids.push(id);
        r = await crashRun(deps, id, killAfter);
        if (r.kill || attempt === 3) break;
        killAfter = Math.floor(killAfter / 2);
      }
      assert.ok(r.kill, `a healing replica was killed mid-run: ${describeRun(r)}`);
      assert.equal(r.outcome, 'succeeded', describeRun(r));
      for (const [key, n] of r.effects.counts) assert.equal(n, 1, `${key} happened ${n} times\n${describeRun(r)}`);
      assert.deepEqual(r.effects.unexpected, [], describeRun(r));
      // crashRun waited for it; the self-test passing again is the stack healthy for the files after this one.
      assert.ok(r.replica && r.replica.readyMs > 0, describeRun(r));
    });
  }
});
