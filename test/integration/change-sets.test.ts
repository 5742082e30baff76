/**
 * Change sets on the real stack (issue 16 "Apply safely"): `changeSetWorkflow` stages a change set in
 * a scratch copy, verifies it there with the verification workflow, promotes it with a backup and
 * restarts its kernel; `layer1 incidents rollback ID` restores the file exactly (by hashes) and the
 * kernel is ready again. A change set that fails verification leaves the live file byte-identical.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MongoClient, type Db } from 'mongodb';
import { changeSetWorkflowId, CHANGE_SET_WORKFLOW, type ChangeSetInput, type ChangeSetOutcome, type ChangeSetWorkflow } from '../../contracts/change-set';
import { immutableLogClient } from '../../kernels/registry';
import { CHANGE_SETS_COLLECTION, INCIDENTS_COLLECTION } from '../../src/clients/collections';
import { connectClient } from '../../src/clients/temporal';
import type { ChangeSet } from '../../src/coding-agent/change-set';
import { CHANGE_PROMOTED_KIND, CHANGE_ROLLED_BACK_KIND } from '../../src/coding-agent/records';
import { ExitCode } from '../../src/errors';
import { REPO_ROOT } from '../../src/stack/tools';
import { runCli } from '../support/cli';
import { stackAvailable, testConfig, TEST_CONFIG_FILE, uniqueId } from '../support/env';

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('change sets: staged, verified, promoted, rolled back', function () {
  this.timeout(240_000);
  const config = testConfig();
  let mongo: MongoClient;
  let db: Db;
  const hex = (): string => Math.random().toString(16).slice(2, 10).padEnd(8, '0');
  const incidentId = `inc-${hex()}`;
  const cli = (...args: string[]) => runCli(['--config', TEST_CONFIG_FILE, ...args], { timeoutMs: 180_000 });

  async function runChangeSet(input: ChangeSetInput): Promise<ChangeSetOutcome> {
    const client = await connectClient(config);
    try {
      const handle = await client.workflow.start<ChangeSetWorkflow>(CHANGE_SET_WORKFLOW, {
        taskQueue: config.temporal.taskQueues.healing,
        workflowId: changeSetWorkflowId(input.id),
        args: [input],
      });
      return await handle.result();
    } finally {
      await client.connection.close();
    }
  }

  before(async function () {
    if (!stackAvailable()) this.skip();
    mongo = new MongoClient(config.store.uri, { serverSelectionTimeoutMS: 10_000 });
    await mongo.connect();
    db = mongo.db(config.store.database);
    await db.collection(INCIDENTS_COLLECTION).insertOne({ _id: incidentId as never, id: incidentId, signature: 'change_set_test', kernel: 'immutable_log', state: 'closed', openedAt: new Date().toISOString() });
  });

  after(async () => {
    if (!mongo) return;
    await db.collection(INCIDENTS_COLLECTION).deleteOne({ _id: incidentId as never });
    await mongo.close();
  });

  it('promotes a verified change set (record, log entry, kernel ready) and `incidents rollback` restores the file by hashes', async () => {
    const rel = path.join('change-set-test', `${uniqueId('conf')}.yaml`);
    const live = path.join(config.stateDir, rel);
    mkdirSync(path.dirname(live), { recursive: true });
    writeFileSync(live, 'value: good\n');
    const before = sha(live);
    const id = `cs-${incidentId}-1`;
    const changeSet: ChangeSet = {
      fixer: 'test_fixer',
      params: { file: rel },
      summary: 'rewrites a test config under the state dir',
      files: [{ root: 'state', path: rel, content: { encoding: 'utf8', data: 'value: changed\n' }, source: 'test' }],
      commands: [],
      restartKernel: 'immutable_log',
    };
    const t0 = Date.now();
    // The immutable log's declared unit tests run in the scratch copy (its compiled dist/).
    const out = await runChangeSet({ id, incidentId, changeSet, kernel: 'immutable_log', checks: ['tests'] });
    assert.equal(out.state, 'promoted', JSON.stringify(out));
    assert.equal(out.error, null);
    assert.equal(out.checks.length, 1);
    assert.ok(out.checks[0]!.ok, out.checks[0]!.output);
    assert.equal(out.kernel?.ready, true, out.kernel?.detail);
    assert.equal(readFileSync(live, 'utf8'), 'value: changed\n');
    assert.equal(out.files[0]!.beforeSha256, before);
    assert.match(out.files[0]!.diff, /-value: good\n\+value: changed/);
    process.stderr.write(`    change set staged, verified, promoted and kernel ready in ${Date.now() - t0} ms\n`);

    const facts = await db.collection(CHANGE_SETS_COLLECTION).find({ changeSetId: id }).toArray();
    assert.deepEqual(facts.map((f) => f.state as string).sort(), ['promoted', 'staged', 'verified']);
    const tail = (await immutableLogClient(config, 10_000).tail(50)).entries;
    assert.ok(tail.some((e) => e.kind === CHANGE_PROMOTED_KIND && (e.data as { changeSetId?: string }).changeSetId === id));

    // The incident shows its change set, with the diff and hashes.
    const show = await cli('incidents', 'show', incidentId, '--json');
    assert.equal(show.code, 0, show.stderr);
    const shown = JSON.parse(show.stdout) as { changeSets: Array<{ id: string; state: string; files: Array<{ diff: string; beforeSha256: string }> }> };
    assert.equal(shown.changeSets.find((c) => c.id === id)?.state, 'promoted');
    assert.equal(shown.changeSets.find((c) => c.id === id)?.files[0]?.beforeSha256, before);

    const r = await cli('incidents', 'rollback', incidentId, '--json');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const rolled = JSON.parse(r.stdout) as { ok: boolean; files: Array<{ restoredSha256: string; expectedSha256: string; ok: boolean }>; kernel: { ready: boolean } };
    assert.equal(rolled.ok, true);
    assert.equal(rolled.files[0]!.restoredSha256, before);
    assert.equal(rolled.files[0]!.expectedSha256, before);
    assert.equal(sha(live), before);
    assert.equal(rolled.kernel.ready, true);
    assert.ok(await db.collection(CHANGE_SETS_COLLECTION).findOne({ _id: `${id}:rolled_back` as never }));
    const tail2 = (await immutableLogClient(config, 10_000).tail(50)).entries;
    assert.ok(tail2.some((e) => e.kind === CHANGE_ROLLED_BACK_KIND && (e.data as { changeSetId?: string }).changeSetId === id));

    // Nothing promoted is left on the incident: one line, exit 2; an unknown id too.
    const again = await cli('incidents', 'rollback', incidentId);
    assert.equal(again.code, ExitCode.USAGE, again.stderr);
    assert.match(again.stderr, /no promoted change set/);
    const unknown = await cli('incidents', 'rollback', 'inc-ffffffff');
    assert.equal(unknown.code, ExitCode.USAGE, unknown.stderr);
    assert.equal(unknown.stderr.trim().split('\n').length, 1, unknown.stderr);
  });

  it('a change set that fails verification in the scratch copy is never promoted: the live file is byte-identical', async () => {
    const rel = 'src/coding-agent/change-set.ts';
    const live = path.join(REPO_ROOT, rel);
    const before = sha(live);
    const id = `cs-${incidentId}-2`;
    const changeSet: ChangeSet = {
      fixer: 'test_fixer',
      params: {},
      summary: 'a change that does not lint',
      files: [{ root: 'project', path: rel, content: { encoding: 'utf8', data: 'export const = ;\n' }, source: 'test' }],
      commands: [],
      restartKernel: null,
    };
    const out = await runChangeSet({ id, incidentId, changeSet, kernel: null, checks: ['lint'] });
    assert.equal(out.state, 'failed');
    assert.match(out.error ?? '', /verification failed in the scratch copy: lint/);
    assert.equal(out.checks[0]!.ok, false);
    assert.equal(sha(live), before);
    const facts = await db.collection(CHANGE_SETS_COLLECTION).find({ changeSetId: id }).toArray();
    assert.deepEqual(facts.map((f) => f.state as string).sort(), ['failed', 'staged']);
  });
});
