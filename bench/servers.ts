/**
 * Server benchmark on its own stack (bench/layer1.bench.yaml, or `--config FILE`): `kill -9` of the
 * store (FerretDB) and of the Temporal dev server, N times each, with no one acting — the server
 * supervisor in the healing replicas restarts them (src/healing/server-supervisor.ts). Per kill:
 *  - back: the kill → a new process of that server answers its health probe;
 *  - healthy: the kill → the whole stack healthy, asked now over a new Temporal connection (every
 *    server answers, every worker polls, every kernel's self-test passes:
 *    src/stack/kernel-readiness.ts `stackHealthy`);
 *  - and that the outage was recorded once (one `server_restarted` evidence for the dead pid).
 * The bench config turns the supervisor's back-off off (`servers.backoff`), as the kernel
 * benchmark does the control plane's: N kills in a row would otherwise measure the policy.
 *
 *   npm run build && npm run bench:servers -- [--kills 5] [--config FILE]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectClient } from '../src/clients/temporal';
import { connectStore } from '../src/clients/store';
import { EVIDENCE_COLLECTION } from '../src/clients/collections';
import type { StoredEvidence } from '../src/healing/seam';
import { stackHealthy } from '../src/stack/kernel-readiness';
import { services, type ServiceName } from '../src/stack/services';
import { processManager, stopAll } from '../src/stack/stack';
import { runBoot } from '../scripts/kernel-verbs';
import { argOf, benchConfig, freshStack, ms, percentile, printTable, progress } from './support';

async function main(): Promise<void> {
  const kills = Number(argOf('kills') ?? 5);
  const config = benchConfig();
  const pm = processManager(config);
  progress(`fresh stack from ${config.configFile}`);
  await freshStack(config, progress);
  const client = await connectClient(config);
  const store = await connectStore(config);
  const ctx = { config, pm, db: store.db, temporal: client };
  const rows: Array<Record<string, string | number>> = [];
  try {
    const boot = await runBoot(config, client);
    if (!boot.ok) throw new Error(`boot failed: ${boot.failedChecks.join('; ')}`);
    await stackHealthy(ctx, 120_000);
    for (const server of ['store', 'temporal'] as ServiceName[]) {
      const svc = services(config).find((s) => s.name === server)!;
      const back: number[] = [];
      const healthy: number[] = [];
      let recordedOnce = 0;
      for (let i = 0; i < kills; i++) {
        const deadPid = pm.pid(server);
        if (deadPid === null) throw new Error(`${server} does not run`);
        const t0 = Date.now();
        pm.signal(server, 'SIGKILL');
        let backAt = 0;
        while (!backAt) {
          if (Date.now() - t0 > 60_000) throw new Error(`${server} not back 60 s after kill ${i + 1}`);
          const pid = pm.pid(server);
          if (pid !== null && pid !== deadPid && (await svc.health(1_000, { quick: true })).healthy) backAt = Date.now();
          else await sleep(20);
        }
        // Asked over a new connection, as `layer1 status` would: a long-lived client's channel may
        // still be in its own reconnect back-off, which is the client's delay, not the stack's.
        const fresh = await connectClient(config, 30_000);
        const healthyAt = await stackHealthy({ ...ctx, temporal: fresh }, 120_000, 100).finally(() => fresh.connection.close());
        back.push(backAt - t0);
        healthy.push(healthyAt - t0);
        // The evidence is recorded once the store answers; give it a moment, then count.
        const coll = store.db.collection<StoredEvidence>(EVIDENCE_COLLECTION);
        const filter = { kind: 'server_restarted' as const, process: server, 'data.deadPid': deadPid };
        for (let w = 0; w < 50 && (await coll.countDocuments(filter)) === 0; w++) await sleep(100);
        if ((await coll.countDocuments(filter)) === 1) recordedOnce++;
        progress(`${server} kill ${i + 1}/${kills}: back in ${backAt - t0} ms, stack healthy in ${healthyAt - t0} ms`);
        await sleep(1_000);
      }
      rows.push({
        server,
        'kill → back (p50)': ms(percentile(back, 50)),
        'kill → back (max)': ms(Math.max(...back)),
        'kill → stack healthy (p50)': ms(percentile(healthy, 50)),
        'kill → stack healthy (max)': ms(Math.max(...healthy)),
        'evidence once': `${recordedOnce}/${kills}`,
      });
    }
  } finally {
    await client.connection.close();
    await store.close();
    await stopAll(config, () => undefined);
  }
  console.log(`\nLayer 1 server benchmark: kill -9, no one acting (${new Date().toISOString()})\n`);
  printTable(rows);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
