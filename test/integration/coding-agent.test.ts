/**
 * The coding agent repairs what no restart can (issue 16), on the real stack, each fault produced for
 * real and the kernel crashing or failing its self-test because of it:
 *  - a syntax error in the immutable log kernel's compiled code;
 *  - a package missing from node_modules for the coding agent's worker (the healing worker stands in
 *    for the agent, which cannot start);
 *  - an invalid value in the configuration the coding agent's worker loads;
 *  - a corrupted model file of the coding agent (its playbook's step is the model fixer's change set).
 * Each: incident → agent → change set → verified in the scratch copy → promoted → kernel ready →
 * incident closed → KB remedy recorded; then the same fault again is auto-applied from the KB, and
 * both times to heal are printed. Every test restores what it broke, whatever happens.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Incident } from '../../contracts/incident';
import * as faults from '../../src/chaos/faults';
import type { ScenarioContext } from '../../src/chaos/scenarios';
import { CHANGE_SETS_COLLECTION, REGISTRATIONS_COLLECTION } from '../../src/clients/collections';
import { awaitEndedIncident, remedyChangeSet } from '../../src/incidents/await';
import { connectStore, type Store } from '../../src/clients/store';
import { connectClient } from '../../src/clients/temporal';
import { readManifest } from '../../src/coding-agent/models';
import type { ChangeSetFact } from '../../src/coding-agent/records';
import { KnowledgeBase } from '../../src/knowledge/kb';
import type { KnowledgeEntry } from '../../src/knowledge/types';
import { allKernelsReady } from '../../src/stack/kernel-readiness';
import { processManager } from '../../src/stack/stack';
import { REPO_ROOT } from '../../src/stack/tools';
import { sha256File } from '../../src/snapshots/store';
import { stackAvailable, testConfig, TEST_CONFIG_FILE } from '../support/env';

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('the coding agent: faults no restart repairs, fixed by verified change sets and learned', function () {
  this.timeout(900_000);
  const config = testConfig();
  const pm = processManager(config);
  let client: Client;
  let store: Store;
  let ctx: ScenarioContext;
  const times: Record<string, { new: number; known: number; fixNew: number; fixKnown: number }> = {};

  before(async function () {
    if (!stackAvailable()) this.skip();
    client = await connectClient(config);
    store = await connectStore(config);
    ctx = { config, pm, db: store.db, temporal: client };
    await allKernelsReady(ctx, 60_000);
  });

  after(async () => {
    for (const [name, t] of Object.entries(times)) console.log(`      ${name}: time to heal new ${t.new} ms, known ${t.known} ms; evidence → fix promoted new ${t.fixNew} ms, known ${t.fixKnown} ms`);
    await client?.connection.close();
    await store?.close();
  });

  const kbEntry = (sig: string): Promise<KnowledgeEntry | null> => new KnowledgeBase(store.db, config.incidents.knowledge).get(sig);
  const factsOf = (changeSetId: string) => store.db.collection<ChangeSetFact>(CHANGE_SETS_COLLECTION).find({ changeSetId }).toArray();

  const awaitIncident = (match: (i: Incident) => boolean, since: number): Promise<Incident> => awaitEndedIncident(store.db, match, since);

  async function scheduledActivities(i: Incident): Promise<string[]> {
    const history = await client.workflow.getHandle(i.workflowId, i.runId).fetchHistory();
    return (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name!);
  }

  const why = (i: Incident): string => JSON.stringify({ state: i.state, remedy: i.remedy, errors: i.errors, checks: i.verification?.checks.map((c) => [c.name, c.ok, c.output.slice(-300)]) }, null, 1);

  /** The change set went staged → verified → promoted, and what is live is what it promoted (by hashes). */
  async function assertPromoted(changeSetId: string, fixer: string): Promise<ChangeSetFact> {
    const facts = await factsOf(changeSetId);
    const states = facts.map((f) => f.state);
    for (const s of ['staged', 'verified', 'promoted']) assert.ok(states.includes(s as ChangeSetFact['state']), `${changeSetId}: ${states.join(', ')}`);
    assert.ok(!states.includes('failed'), `${changeSetId}: ${states.join(', ')}`);
    const verified = facts.find((f) => f.state === 'verified')!;
    assert.ok(verified.checks.length > 0 && verified.checks.every((c) => c.ok), `checks in the scratch copy: ${JSON.stringify(verified.checks.map((c) => [c.name, c.ok]))}`);
    const promoted = facts.find((f) => f.state === 'promoted')!;
    assert.equal(promoted.fixer, fixer);
    for (const f of promoted.files) {
      const live = path.join(f.root === 'project' ? REPO_ROOT : config.stateDir, f.path);
      assert.equal(existsSync(live) ? sha(live) : null, f.afterSha256, `${f.root}:${f.path} is what was promoted`);
    }
    return promoted;
  }

  /**
   * Breaks, waits for the incident, twice: the first is new (the agent analyses), the second known
   * (the KB's fixer, auto-applied). Returns both incidents.
   */
  async function twice(name: string, breakIt: () => Promise<void>, match: (i: Incident) => boolean): Promise<[Incident, Incident]> {
    let since = Date.now();
    await breakIt();
    const first = await awaitIncident(match, since);
    assert.equal(first.state, 'closed', why(first));
    assert.equal(first.autoApplied, false);
    await allKernelsReady(ctx, 120_000);
    since = Date.now();
    await breakIt();
    const again = await awaitIncident((i) => match(i) && i.id !== first.id, since);
    assert.equal(again.state, 'closed', why(again));
    assert.equal(again.signature, first.signature, 'the same fault is the same signature');
    assert.equal(again.known, true);
    assert.equal(again.autoApplied, true, why(again));
    assert.equal(again.remedy?.chosenBy, 'knowledge_base');
    assert.ok(!(await scheduledActivities(again)).includes('chooseRemedy'), 'no analysis the second time');
    // Why it is faster: no analysis, and its scratch copy was byte-identical to the first's, whose
    // checks it kept instead of running them again.
    const [firstCs, againCs] = [await remedyChangeSet(client, first), await remedyChangeSet(client, again)];
    assert.ok(firstCs && againCs && firstCs !== againCs, JSON.stringify({ firstCs, againCs }));
    const verified = (await factsOf(againCs)).find((f) => f.state === 'verified');
    assert.equal(verified?.reusedFrom, firstCs, `the known fix's checks are the first's: ${JSON.stringify({ firstCs, againCs, reusedFrom: verified?.reusedFrom })}`);
    // Time to the fix: from the first evidence to the change set promoted (decision, proposal,
    // staging, checks, promotion).
    const promotedAfter = async (inc: Incident, cs: string): Promise<number> => new Date((await factsOf(cs)).find((f) => f.state === 'promoted')!.at).getTime() - inc.evidence.first.at;
    const [fixNew, fixKnown] = [await promotedAfter(first, firstCs), await promotedAfter(again, againCs)];
    // Printed, not compared: on a loaded 2-core machine a few seconds of scheduling noise can outweigh
    // the analysis saved (CI once saw 5.4 s known vs 4.3 s new). What makes the known path faster is
    // asserted above (no analysis, the checks reused); how much faster is bench/fixers.ts's job.
    times[name] = { new: first.timeToHealMs!, known: again.timeToHealMs!, fixNew, fixKnown };
    await allKernelsReady(ctx, 120_000);
    return [first, again];
  }

  it("a syntax error in the immutable log kernel's code: restored from its source, verified, promoted, the kernel ready", async () => {
    let injected: Awaited<ReturnType<typeof faults.syntaxErrorInCode>> | undefined;
    const match = (i: Incident) => i.kernel === 'immutable_log' && i.evidence.first.text.includes('SyntaxError');
    try {
      const [first, again] = await twice('syntax_error', async () => void (injected = await faults.syntaxErrorInCode(ctx)), match);
      for (const inc of [first, again]) {
        assert.equal(inc.remedy?.kind, 'fix');
        assert.equal(inc.remedy?.name, 'syntax_error');
        await assertPromoted(inc.remedy!.runId!, 'syntax_error');
      }
      assert.equal(first.remedy?.chosenBy, 'coding_agent');
      // The file parses again, and the kernel that loads it passes its self-test (allKernelsReady above).
      assert.equal(spawnSync(process.execPath, ['--check', path.join(REPO_ROOT, injected!.file)]).status, 0);
      const kb = (await kbEntry(first.signature))!;
      assert.deepEqual([kb.remedy?.kind, kb.remedy?.name, kb.successes], ['fix', 'syntax_error', 2]);
      assert.equal(kb.remedy?.changeSet, again.remedy?.runId, 'the KB names the change set of its last verified fix');
      assert.equal(kb.remedy?.params.file, injected!.file);
    } finally {
      await injected?.restore();
      await allKernelsReady(ctx, 120_000);
    }
  });

  it('a package missing from node_modules for the coding agent: restored from the npm cache offline, by the healing worker standing in', async () => {
    const pkgDir = path.join(REPO_ROOT, 'node_modules', 'diff');
    const pkgJson = sha(path.join(pkgDir, 'package.json'));
    let injected: Awaited<ReturnType<typeof faults.missingPackage>> | undefined;
    const match = (i: Incident) => i.kernel === 'coding_agent' && /Cannot find module 'diff'/.test(i.evidence.first.text);
    try {
      const [first, again] = await twice('import_error', async () => void (injected = await faults.missingPackage(ctx, { pkg: 'diff' })), match);
      for (const inc of [first, again]) {
        assert.equal(inc.remedy?.kind, 'fix');
        assert.equal(inc.remedy?.name, 'import_error');
        const promoted = await assertPromoted(inc.remedy!.runId!, 'import_error');
        assert.ok(promoted.files.length > 10 && promoted.files.every((f) => f.path.startsWith('node_modules/diff/')));
      }
      // The agent could not answer: the healing worker ran its fixers in its stead.
      assert.match(first.remedy?.reason ?? '', /healing worker answered in its stead/);
      assert.equal(sha(path.join(pkgDir, 'package.json')), pkgJson, 'the locked version, byte for byte');
      const kb = (await kbEntry(first.signature))!;
      assert.deepEqual([kb.remedy?.kind, kb.remedy?.name, kb.remedy?.params.package], ['fix', 'import_error', 'diff']);
    } finally {
      await injected?.restore();
      await allKernelsReady(ctx, 120_000);
    }
  });

  it('an invalid value in the configuration the coding agent loads: restored to its newest valid version', async function () {
    const rel = path.relative(REPO_ROOT, TEST_CONFIG_FILE);
    const tracked = !rel.startsWith('..') && spawnSync('git', ['ls-files', '--error-unmatch', rel], { cwd: REPO_ROOT }).status === 0;
    if (!tracked) this.skip(); // a config outside the project (LAYER1_TEST_CONFIG) has no last good version here
    const committed = execFileSync('git', ['show', `HEAD:${rel}`], { cwd: REPO_ROOT });
    let injected: Awaited<ReturnType<typeof faults.invalidConfigValue>> | undefined;
    const match = (i: Incident) => i.kernel === 'coding_agent' && i.evidence.first.text.includes('invalid configuration in');
    try {
      const [first, again] = await twice('config_restore', async () => void (injected = await faults.invalidConfigValue(ctx)), match);
      for (const inc of [first, again]) {
        assert.equal(inc.remedy?.kind, 'fix');
        assert.equal(inc.remedy?.name, 'config_restore');
        await assertPromoted(inc.remedy!.runId!, 'config_restore');
      }
      assert.ok(readFileSync(TEST_CONFIG_FILE).equals(committed), 'the configuration as committed');
      const kb = (await kbEntry(first.signature))!;
      assert.deepEqual([kb.remedy?.kind, kb.remedy?.name, kb.remedy?.params.file], ['fix', 'config_restore', rel]);
    } finally {
      await injected?.restore();
      await allKernelsReady(ctx, 120_000);
    }
  });

  it("a corrupted model file: its playbook's step is the model fixer's change set; the agent loads the restored model", async () => {
    let injected: Awaited<ReturnType<typeof faults.corruptModelFile>> | undefined;
    const breakIt = async (): Promise<void> => {
      injected = await faults.corruptModelFile(ctx);
    };
    const match = (i: Incident) => i.kernel === 'coding_agent' && i.evidence.first.kind === 'model_corruption';
    try {
      const [first, again] = await twice('model_restore', breakIt, match);
      for (const inc of [first, again]) {
        assert.equal(inc.remedy?.kind, 'playbook');
        assert.equal(inc.remedy?.name, 'model_file_corruption');
        // Its step applied the model fixer's change set.
        const changeSet = await remedyChangeSet(client, inc);
        assert.ok(changeSet, `the playbook run ${inc.remedy!.runId} applied a change set`);
        await assertPromoted(changeSet, 'model_restore');
      }
      // The file has its manifest's checksum, and the live agent registered that checksum as what it loaded.
      const manifest = readManifest(config.stateDir)!;
      const name = path.basename(injected!.file);
      const now = await sha256File(path.join(config.stateDir, injected!.file));
      assert.equal(now, manifest.files[name]);
      const reg = await store.db.collection<{ _id: string; pid: number; models?: Array<{ file: string; sha256: string }> | null }>(REGISTRATIONS_COLLECTION).findOne({ _id: 'coding-agent-1' });
      assert.equal(reg?.pid, pm.pid('coding-agent-1'));
      assert.ok(reg?.models?.some((m) => m.file === name && m.sha256 === now), JSON.stringify(reg?.models));
      const kb = (await kbEntry(first.signature))!;
      assert.deepEqual([kb.remedy?.kind, kb.remedy?.name], ['playbook', 'model_file_corruption']);
    } finally {
      const manifest = readManifest(config.stateDir);
      if (injected && manifest && (await sha256File(path.join(config.stateDir, injected.file))) !== manifest.files[path.basename(injected.file)]) await injected.restore();
      await allKernelsReady(ctx, 120_000);
    }
  });
});
