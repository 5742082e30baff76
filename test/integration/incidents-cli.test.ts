/**
 * `layer1 incidents` and `layer1 kb` against the suite's store, as a user runs them: the JSON names
 * of the contract, prefixes, and one-line errors with their exit codes.
 */
import assert from 'node:assert/strict';
import { MongoClient, type Db } from 'mongodb';
import { INCIDENTS_COLLECTION, KNOWLEDGE_BASE_COLLECTION, KNOWLEDGE_BASE_EVENTS_COLLECTION } from '../../src/clients/collections';
import { ExitCode } from '../../src/errors';
import { KnowledgeBase } from '../../src/knowledge/kb';
import { runCli } from '../support/cli';
import { stackAvailable, testConfig, TEST_CONFIG_FILE, uniqueId } from '../support/env';

describe('layer1 incidents and layer1 kb', function () {
  const config = testConfig();
  let client: MongoClient;
  let db: Db;
  const hex = (): string => Math.random().toString(16).slice(2, 10).padEnd(8, '0');
  const incidentId = `inc-${hex()}`;
  const signature = uniqueId('cli_test_sig');
  const cli = (...args: string[]) => runCli(['--config', TEST_CONFIG_FILE, ...args]);

  before(async function () {
    if (!stackAvailable()) this.skip();
    client = new MongoClient(config.store.uri, { serverSelectionTimeoutMS: 10_000 });
    await client.connect();
    db = client.db(config.store.database);
    await db.collection(INCIDENTS_COLLECTION).insertOne({
      _id: incidentId as never,
      id: incidentId,
      signature,
      kernel: 'message_bus',
      state: 'closed',
      openedAt: new Date().toISOString(),
      closedAt: new Date().toISOString(),
      evidenceCount: 1,
      known: false,
      autoApplied: false,
      remedy: { kind: 'playbook', name: 'restart_message_bus', runId: 'dispatch-test-1' },
      diagnostics: { logLines: ['boom'], heartbeats: [], resources: {} },
      verification: { ok: true, healedAt: 1, checks: [{ name: 'readiness', ok: true, command: 'self-test message_bus', exitCode: 0, output: '', ms: 3, startedAt: new Date().toISOString() }] },
      timeToHealMs: 1234,
      clarity: { seen: 's', decided: 'd', why: 'w', outcome: 'o', steps: ['first step', 'second step'] },
      attempts: 1,
    });
    await new KnowledgeBase(db, config.incidents.knowledge).observe({
      evidenceId: 'ev-1',
      signature,
      template: 'ACL denied <*>',
      kernel: 'message_bus',
      errorType: 'ACLViolation',
      text: 'ACL denied x',
      at: Date.now(),
    });
  });

  after(async () => {
    if (!client) return;
    await db.collection(INCIDENTS_COLLECTION).deleteOne({ _id: incidentId as never });
    await db.collection(KNOWLEDGE_BASE_COLLECTION).deleteOne({ _id: signature as never });
    await db.collection(KNOWLEDGE_BASE_EVENTS_COLLECTION).deleteMany({ signature });
    await client.close();
  });

  it('shows an incident by a unique prefix, with the contract names in --json', async () => {
    const res = await cli('incidents', 'show', incidentId.slice(4), '--json');
    assert.equal(res.code, ExitCode.OK, res.stderr);
    const json = JSON.parse(res.stdout);
    for (const k of ['id', 'signature', 'kernel', 'state', 'openedAt', 'closedAt', 'evidenceCount', 'known', 'autoApplied', 'remedy', 'diagnostics', 'verification', 'timeToHealMs', 'clarity']) assert.ok(k in json, k);
    assert.deepEqual([json.id, json.remedy.runId, json.verification.checks[0].exitCode], [incidentId, 'dispatch-test-1', 0]);
    const human = await cli('incidents', 'show', incidentId);
    assert.equal(human.code, ExitCode.OK, human.stderr);
    assert.match(human.stdout, /1\. first step\n.*2\. second step/);
    assert.match(human.stdout, /`self-test message_bus` +exit 0/);
  });

  it('lists incidents, filtered by state', async () => {
    const closed = JSON.parse((await cli('incidents', '--state', 'closed', '-n', '200', '--json')).stdout) as Array<{ id: string; state: string }>;
    assert.ok(closed.some((i) => i.id === incidentId));
    assert.ok(closed.every((i) => i.state === 'closed'));
    const open = JSON.parse((await cli('incidents', '--state', 'open', '-n', '200', '--json')).stdout) as Array<{ id: string }>;
    assert.ok(!open.some((i) => i.id === incidentId));
    const table = await cli('incidents', '-n', '200');
    assert.match(table.stdout, new RegExp(`${incidentId}\\s+closed\\s+${signature}\\s+message_bus`));
  });

  it('an unknown incident is one line and exit code 2', async () => {
    const res = await cli('incidents', 'show', 'inc-nosuch00');
    assert.equal(res.code, ExitCode.USAGE);
    assert.equal(res.stderr, 'layer1: no incident inc-nosuch00 (see layer1 incidents)\n');
    assert.equal(res.stdout, '');
  });

  it('shows and switches a knowledge-base entry', async () => {
    const show = await cli('kb', 'show', signature, '--json');
    assert.equal(show.code, ExitCode.OK, show.stderr);
    const entry = JSON.parse(show.stdout);
    for (const k of ['signature', 'template', 'kernel', 'errorType', 'occurrences', 'remedy', 'successes', 'failures', 'confidence', 'autoApply', 'mtthKnownMs', 'mtthNewMs', 'firstSeen', 'lastSeen']) assert.ok(k in entry, k);
    assert.deepEqual([entry.signature, entry.occurrences, entry.autoApply], [signature, 1, false]);
    const off = await cli('kb', 'set', signature, '--auto-apply', 'off', '--json');
    assert.equal(off.code, ExitCode.OK, off.stderr);
    assert.deepEqual([JSON.parse(off.stdout).manualOnly, JSON.parse(off.stdout).autoApply], [true, false]);
    const list = JSON.parse((await cli('kb', '--json', '-n', '500')).stdout) as Array<{ signature: string; manualOnly: boolean }>;
    assert.equal(list.find((e) => e.signature === signature)?.manualOnly, true);
  });

  it('an unknown signature is one line and exit code 2, for show and set', async () => {
    for (const args of [['kb', 'show', 'no_such_signature'], ['kb', 'set', 'no_such_signature', '--auto-apply', 'on']]) {
      const res = await cli(...args);
      assert.equal(res.code, ExitCode.USAGE, args.join(' '));
      assert.equal(res.stderr, 'layer1: no knowledge of signature no_such_signature (see layer1 kb)\n');
    }
  });

  it('a bad --auto-apply value is a usage error', async () => {
    const res = await cli('kb', 'set', signature, '--auto-apply', 'maybe');
    assert.equal(res.code, ExitCode.USAGE);
    assert.match(res.stderr, /argument 'maybe' is invalid\. Allowed choices are on, off/);
  });
});
