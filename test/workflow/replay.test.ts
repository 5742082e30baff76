/**
 * Replays committed histories of real runs (test/histories/, recorded by
 * scripts/capture-histories.ts) against today's workflow code: a change that breaks determinism
 * fails here before it can break a running boot, control plane or playbook. See docs/replay.md.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { REPO_ROOT } from '../../src/stack/tools';

const DIR = path.join(REPO_ROOT, 'test', 'histories');

describe('replay of committed histories', function () {
  this.timeout(120_000);
  let bundle: WorkflowBundleWithSourceMap;
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

  before(async () => {
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows') });
  });

  it('has histories of boot, the control plane and playbooks', () => {
    const expected = ['boot.json', 'boot-before-snapshots.json', 'control-plane.json', 'playbook-approved.json', 'playbook-compensated.json', 'playbook-dispatched.json'];
    for (const f of expected) {
      assert.ok(files.includes(f), `test/histories/${f} is missing`);
    }
  });

  for (const file of files) {
    it(`replays ${file} deterministically`, async () => {
      const history = JSON.parse(readFileSync(path.join(DIR, file), 'utf8'));
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, file.replace(/\.json$/, ''));
    });
  }
});
