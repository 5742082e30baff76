/**
 * The stack's own servers are supervised like kernels: `kill -9` of the store or of the Temporal dev
 * server, and with no one acting the server is back, the stack healthy, and one `server_restarted`
 * evidence recorded for the outage. Disruptive, so each test waits until the whole stack is healthy
 * again before it ends: the files after this one find it as it was.
 */
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { connectClient } from '../../src/clients/temporal';
import { connectStore, type Store } from '../../src/clients/store';
import { EVIDENCE_COLLECTION } from '../../src/clients/collections';
import type { StoredEvidence } from '../../src/healing/seam';
import { stackHealthy, stackStaysHealthy } from '../../src/stack/kernel-readiness';
import { processManager } from '../../src/stack/stack';
import { runCli } from '../support/cli';
import { incidentsSettled } from '../support/incidents';
import { stackAvailable, testConfig, TEST_CONFIG_FILE } from '../support/env';

describe('the servers are supervised: kill -9 and they come back with no one acting', () => {
  const config = testConfig();
  const pm = processManager(config);
  let client: Client;
  let store: Store;
  const ctx = () => ({ config, pm, db: store.db, temporal: client });

  before(async function () {
    if (!stackAvailable()) this.skip();
    this.timeout(120_000);
    client = await connectClient(config);
    store = await connectStore(config);
    await stackHealthy(ctx(), 90_000);
  });

  after(async function () {
    this.timeout(180_000);
    // Leave the stack as the next files expect it: healthy, and still healthy a few seconds later
    // (after a Temporal restart the workers' pollers may drop out and come back once).
    if (client && store) await stackStaysHealthy(ctx(), 150_000);
    await client?.connection.close();
    await store?.close();
  });

  async function killAndWait(server: 'store' | 'temporal'): Promise<{ backMs: number; healthyMs: number; deadPid: number }> {
    const deadPid = pm.pid(server);
    assert.ok(deadPid, `${server} runs`);
    const t0 = Date.now();
    // Our own managed process, by its pid file: nothing else on the machine is touched.
    assert.ok(pm.signal(server, 'SIGKILL'));
    let backMs = -1;
    while (Date.now() - t0 < 30_000) {
      const pid = pm.pid(server);
      if (pid !== null && pid !== deadPid) {
        const h = await (await import('../../src/stack/services')).services(config).find((s) => s.name === server)!.health(1_000, { quick: true });
        if (h.healthy) {
          backMs = Date.now() - t0;
          break;
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(backMs >= 0, `${server} was not back within 30 s`);
    const healthyMs = (await stackHealthy(ctx(), 90_000)) - t0;
    return { backMs, healthyMs, deadPid };
  }

  async function restartEvidence(server: string, deadPid: number): Promise<StoredEvidence[]> {
    const coll = store.db.collection<StoredEvidence>(EVIDENCE_COLLECTION);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const docs = await coll.find({ kind: 'server_restarted', process: server, 'data.deadPid': deadPid }).toArray();
      // The seam records the evidence, then what it did with it (`dispatch`): wait for both.
      if ((docs.length > 0 && docs.every((d) => d.dispatch !== undefined)) || Date.now() > deadline) return docs;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('kill -9 of the store: back, the stack healthy, one server_restarted evidence, nothing dispatched', async function () {
    this.timeout(150_000);
    const { backMs, healthyMs, deadPid } = await killAndWait('store');
    assert.ok(backMs < 10_000, `the store back in ${backMs} ms`);
    const docs = await restartEvidence('store', deadPid);
    assert.equal(docs.length, 1, JSON.stringify(docs));
    assert.equal(docs[0].data.cause, 'exited');
    assert.equal((docs[0].dispatch as { outcome?: string } | undefined)?.outcome, 'repaired');
    process.stderr.write(`      store back in ${backMs} ms, stack healthy in ${healthyMs} ms\n`);
  });

  it('kill -9 of the Temporal dev server: back, workers polling again, the stack healthy, one evidence', async function () {
    this.timeout(150_000);
    const { backMs, healthyMs, deadPid } = await killAndWait('temporal');
    assert.ok(backMs < 20_000, `Temporal back in ${backMs} ms`);
    const docs = await restartEvidence('temporal', deadPid);
    assert.equal(docs.length, 1, JSON.stringify(docs));
    // This process's client reconnected by itself: a workflow call works.
    await client.workflow.getHandle('layer1-control-plane').describe();
    process.stderr.write(`      Temporal back in ${backMs} ms, stack healthy in ${healthyMs} ms\n`);
  });

  it("Temporal's death does not stop the process watch: a kernel killed meanwhile is restarted once Temporal is back", async function () {
    this.timeout(150_000);
    const logPid = pm.pid('immutable-log');
    assert.ok(logPid);
    const t0 = Date.now();
    assert.ok(pm.signal('temporal', 'SIGKILL'));
    assert.ok(pm.signal('immutable-log', 'SIGKILL'));
    const healthyMs = (await stackHealthy(ctx(), 120_000)) - t0;
    assert.notEqual(pm.pid('immutable-log'), logPid, 'the immutable log runs as a new process');
    process.stderr.write(`      Temporal and the immutable log killed together: stack healthy in ${healthyMs} ms\n`);
  });

  it('a hung Temporal (SIGSTOP) is killed and restarted after servers.temporalHungMs', async function () {
    const { temporalHungMs, probeTimeoutMs } = config.servers;
    this.timeout(temporalHungMs + 150_000);
    const hungPid = pm.pid('temporal');
    assert.ok(hungPid);
    const t0 = Date.now();
    assert.ok(pm.signal('temporal', 'SIGSTOP'));
    try {
      while (pm.pid('temporal') === hungPid || pm.pid('temporal') === null) {
        if (Date.now() - t0 > temporalHungMs + probeTimeoutMs + 30_000) throw new Error('the hung Temporal was not restarted');
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      // Whatever happened, never leave a stopped process behind (a no-op once it is killed).
      try {
        process.kill(hungPid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    const restartedMs = Date.now() - t0;
    // Silence counts from its last answer, which may be up to a probe period before the SIGSTOP.
    assert.ok(restartedMs >= temporalHungMs - config.servers.probeEveryMs, `not before temporalHungMs (${restartedMs} ms)`);
    const healthyMs = (await stackHealthy(ctx(), 120_000)) - t0;
    const docs = await restartEvidence('temporal', hungPid);
    assert.equal(docs.length, 1, JSON.stringify(docs));
    assert.equal(docs[0].data.cause, 'hung');
    process.stderr.write(`      hung Temporal restarted after ${restartedMs} ms, stack healthy in ${healthyMs} ms\n`);
  });

  it('a store killed while the self-healing kernel is stopped stays dead until the replicas start, which start it first; one evidence', async function () {
    this.timeout(480_000);
    const cli = (args: string[]) => runCli(['--config', TEST_CONFIG_FILE, ...args], { timeoutMs: 240_000 });
    const stop = await cli(['kernel', 'stop', 'self_healing', '--json']);
    assert.equal(stop.code, 0, stop.stderr);
    const deadPid = pm.pid('store');
    assert.ok(deadPid, 'the store runs');
    let start: Awaited<ReturnType<typeof cli>>;
    try {
      assert.ok(pm.signal('store', 'SIGKILL'));
      // No replica runs, so nothing restarts it: what the replicas' start below must repair.
      await new Promise((r) => setTimeout(r, 1_500));
      assert.equal(pm.isAlive('store'), false, 'the store stayed dead with the self-healing kernel stopped');
    } finally {
      start = await cli(['kernel', 'start', 'self_healing', '--json']);
    }
    assert.equal(start.code, 0, start.stderr);
    const newPid = pm.pid('store');
    assert.ok(newPid !== null && newPid !== deadPid && pm.isAlive('store'), `the store runs again (pid ${newPid}, was ${deadPid})`);
    const docs = await restartEvidence('store', deadPid);
    assert.equal(docs.length, 1, JSON.stringify(docs));
    assert.equal(docs[0].data.cause, 'exited');
    await stackHealthy(ctx(), 120_000);
    // The outage lasted seconds, and the kernels that need the store reported it: the files after
    // this one must not find those incidents still under way (a drill's evidence would join them).
    const open = await incidentsSettled(store.db, 180_000);
    if (open > 0) process.stderr.write(`      ${open} incident(s) still open after 180 s\n`);
  });
});
