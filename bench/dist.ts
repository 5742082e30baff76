/**
 * The embedded stack and the distributed deployment side by side, the same measures for each:
 *  - servers: from stopped to answering (embedded: `up` starts the dev server, FerretDB on SQLite and
 *    nats-server; distributed: deploy/dist/up.sh --no-layer1, PostgreSQL, 2 × 4 Temporal services,
 *    FerretDB on PostgreSQL, 3 NATS nodes);
 *  - boot: Layer 1's own part of `layer1 up` on running servers (search attributes, side processes,
 *    workers polling, the 7-phase boot) until every kernel's self-test passes (`stackHealthy`);
 *  - kill → ready: `kill -9` of the store, of Temporal (the dev server; every Temporal process) and of
 *    the bus (the embedded nats-server, restarted by the control plane; the NATS node leading
 *    LAYER1_TELEMETRY), then the time until that server runs again (embedded: the server supervisor or
 *    the control plane at once; distributed: the deployment's restart policy, DIST_RESTART_SEC) and
 *    until the whole stack is healthy, asked over a new connection as `layer1 status` would;
 *  - playbook throughput: --playbooks runs of bench/fixtures/dist/throughput.yaml (audit, publish,
 *    audit; no kernel lock) started at once on the stack's own healing workers, completed per second.
 * Embedded: bench/layer1.bench.yaml (its state removed first); distributed: deploy/dist/layer1.dist.yaml
 * on the deployment of deploy/dist/up.sh (built and started if needed, stopped after unless
 * LAYER1_DIST_KEEP=1).
 *
 *   npm run build && npm run bench:dist -- [--runs 3] [--kills 3] [--playbooks 20] [--only embedded|distributed]
 *     [--servers store,temporal,bus]   which servers' kills (all three by default)
 */
import { rmSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { connectClient } from '../src/clients/temporal';
import { connectStore } from '../src/clients/store';
import type { LoadedConfig } from '../src/config/load';
import { stackHealthy } from '../src/stack/kernel-readiness';
import { services, type ServiceName } from '../src/stack/services';
import { processManager, startServices, startWorkers, stopAll } from '../src/stack/stack';
import { runBoot } from '../scripts/kernel-verbs';
import { findPlaybook, resolveRunParams } from '../src/playbooks/loader';
import { PLAYBOOK_WORKFLOW, PLAYBOOK_WORKFLOW_TASK_TIMEOUT, type PlaybookWorkflow } from '../contracts/playbook';
import { REPO_ROOT } from '../src/stack/repo-root';
import { crash, distConfig, distScript, DRILL_STREAM, restarted, serverPid, streamLeaders } from '../deploy/dist/support';
import { argOf, benchConfig, ms, percentile, printTable, progress } from './support';

type Kill = { what: string; run: () => Promise<number> };

interface StackUnderTest {
  label: string;
  config: LoadedConfig;
  serversDown: () => Promise<void>;
  serversUp: () => Promise<void>;
  /** Each kill's crash (store, temporal, bus); resolves when the killed server runs again (epoch ms). */
  kills: Kill[];
}

/** kill -9 of an embedded server by its pid file; resolves when a new process of it answers. */
function embeddedKill(config: LoadedConfig, server: ServiceName): Kill {
  const pm = processManager(config);
  const svc = services(config).find((s) => s.name === server)!;
  return {
    what: server === 'bus' ? 'bus (nats-server)' : server === 'temporal' ? 'temporal (dev server)' : 'store (FerretDB on SQLite)',
    run: async () => {
      const dead = pm.pid(server);
      if (dead === null) throw new Error(`${server} does not run`);
      pm.signal(server, 'SIGKILL');
      for (;;) {
        const pid = pm.pid(server);
        if (pid !== null && pid !== dead && (await svc.health(1_000, { quick: true })).healthy) return Date.now();
        await sleep(20);
      }
    },
  };
}

function embedded(): StackUnderTest {
  const config = benchConfig(['--config', `${REPO_ROOT}/bench/layer1.bench.yaml`]);
  rmSync(config.stateDir, { recursive: true, force: true });
  return {
    label: 'embedded',
    config,
    serversDown: () => stopAll(config, () => undefined),
    serversUp: () => startServices(config, () => undefined),
    kills: (['store', 'temporal', 'bus'] as ServiceName[]).map((s) => embeddedKill(config, s)),
  };
}

function distKill(what: string, names: () => Promise<string[]>): Kill {
  return {
    what,
    run: async () => {
      const targets = await names();
      return restarted(targets, crash(targets));
    },
  };
}

function distributed(): StackUnderTest {
  const config = distConfig();
  const temporal = ['temporal', 'temporal2'].flatMap((h) => ['frontend', 'history', 'matching', 'worker'].map((s) => `${h}-${s}`));
  return {
    label: 'distributed',
    config,
    serversDown: async () => {
      distScript('down.sh');
    },
    serversUp: async () => {
      distScript('up.sh', ['--no-layer1']);
    },
    kills: [
      distKill('store (FerretDB on PostgreSQL)', async () => ['store']),
      distKill('temporal (every process of 2 hosts)', async () => temporal.filter((n) => serverPid(n) !== null)),
      distKill(`bus (the NATS node leading ${DRILL_STREAM})`, async () => [`nats-${/dist-n(\d)/.exec((await streamLeaders(config))[DRILL_STREAM])?.[1]}`]),
    ],
  };
}

/** Every kernel ready, asked over a new Temporal connection (a long-lived one may sit in its reconnect back-off). */
async function healthyNow(config: LoadedConfig, timeoutMs = 180_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const store = await connectStore(config, 30_000);
  // A server that runs again may not listen yet: its frontends refuse a while longer.
  let client: Client | null = null;
  while (!client) {
    client = await connectClient(config, 5_000).catch((err: unknown) => {
      if (Date.now() > deadline) throw err;
      return null;
    });
    if (!client) await sleep(100);
  }
  try {
    return await stackHealthy({ config, pm: processManager(config), db: store.db, temporal: client }, deadline - Date.now(), 100);
  } finally {
    await client.connection.close();
    await store.close();
  }
}

/** Servers from stopped, then Layer 1's part of `up` until healthy: `runs` times. */
async function bootRuns(s: StackUnderTest, runs: number): Promise<{ servers: number[]; boot: number[] }> {
  const servers: number[] = [];
  const boot: number[] = [];
  for (let i = 0; i < runs; i++) {
    await stopAll(s.config, () => undefined);
    await s.serversDown();
    let t = Date.now();
    await s.serversUp();
    servers.push(Date.now() - t);
    t = Date.now();
    await startServices(s.config, () => undefined);
    await startWorkers(s.config, () => undefined);
    const client = await connectClient(s.config, 30_000);
    try {
      const report = await runBoot(s.config, client);
      if (!report.ok) throw new Error(`${s.label}: boot failed: ${report.failedChecks.join('; ')}`);
    } finally {
      await client.connection.close();
    }
    await healthyNow(s.config);
    boot.push(Date.now() - t);
    progress(`${s.label} boot ${i + 1}/${runs}: servers ${servers.at(-1)} ms, layer1 up → healthy ${boot.at(-1)} ms`);
  }
  return { servers, boot };
}

async function killRuns(s: StackUnderTest, kill: Kill, kills: number): Promise<{ back: number[]; ready: number[] }> {
  const back: number[] = [];
  const ready: number[] = [];
  for (let i = 0; i < kills; i++) {
    const t0 = Date.now();
    const backAt = await kill.run();
    const readyAt = await healthyNow(s.config);
    back.push(backAt - t0);
    ready.push(readyAt - t0);
    progress(`${s.label} kill -9 ${kill.what} ${i + 1}/${kills}: back ${backAt - t0} ms, ready ${readyAt - t0} ms`);
    await sleep(2_000);
  }
  return { back, ready };
}

/** `n` runs of the throughput playbook at once; completed per second. */
async function throughput(config: LoadedConfig, n: number): Promise<number> {
  const playbook = findPlaybook('dist_throughput', `${REPO_ROOT}/bench/fixtures/dist`);
  const client: Client = await connectClient(config, 30_000);
  try {
    const t0 = Date.now();
    const handles = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        client.workflow.start<PlaybookWorkflow>(PLAYBOOK_WORKFLOW, {
          taskQueue: config.temporal.taskQueues.healing,
          workflowId: `bench-dist-${t0}-${i}`,
          workflowTaskTimeout: PLAYBOOK_WORKFLOW_TASK_TIMEOUT,
          args: [{ playbook, params: resolveRunParams(playbook, {}), kernel: null, startedBy: 'bench:dist' }],
        }),
      ),
    );
    const outcomes = await Promise.all(handles.map((h) => h.result().then((r) => r.outcome)));
    const bad = outcomes.filter((o) => o !== 'succeeded');
    if (bad.length > 0) throw new Error(`${bad.length}/${n} throughput runs did not succeed: ${bad.join(', ')}`);
    return (n * 1000) / (Date.now() - t0);
  } finally {
    await client.connection.close();
  }
}

async function measure(s: StackUnderTest, opts: { runs: number; kills: number; playbooks: number; servers: string[] }): Promise<Array<Record<string, string>>> {
  progress(`${s.label}: ${s.config.configFile}`);
  const { servers, boot } = await bootRuns(s, opts.runs);
  const rows: Array<Record<string, string>> = [
    { stack: s.label, measure: 'servers: stopped → answering', p50: ms(percentile(servers, 50)), max: ms(Math.max(...servers)), runs: String(servers.length) },
    { stack: s.label, measure: 'boot: layer1 up on running servers → healthy', p50: ms(percentile(boot, 50)), max: ms(Math.max(...boot)), runs: String(boot.length) },
  ];
  for (const [i, k] of s.kills.entries()) {
    if (!opts.servers.includes(['store', 'temporal', 'bus'][i])) continue;
    const r = await killRuns(s, k, opts.kills);
    rows.push({ stack: s.label, measure: `kill -9 ${k.what} → running again`, p50: ms(percentile(r.back, 50)), max: ms(Math.max(...r.back)), runs: String(r.back.length) });
    rows.push({ stack: s.label, measure: `kill -9 ${k.what} → ready`, p50: ms(percentile(r.ready, 50)), max: ms(Math.max(...r.ready)), runs: String(r.ready.length) });
  }
  const perSecond = await throughput(s.config, opts.playbooks);
  rows.push({ stack: s.label, measure: `playbook throughput (${opts.playbooks} at once, 3 steps)`, p50: `${perSecond.toFixed(2)} /s`, max: '—', runs: '1' });
  return rows;
}

async function main(): Promise<void> {
  const opts = {
    runs: Number(argOf('runs') ?? 3),
    kills: Number(argOf('kills') ?? 3),
    playbooks: Number(argOf('playbooks') ?? 20),
    servers: (argOf('servers') ?? 'store,temporal,bus').split(','),
  };
  const only = argOf('only');
  const rows: Array<Record<string, string>> = [];
  for (const make of [embedded, distributed]) {
    if (only && only !== make.name) continue;
    const s = make();
    try {
      rows.push(...(await measure(s, opts)));
    } finally {
      await stopAll(s.config, () => undefined);
      if (s.label === 'embedded' || !process.env.LAYER1_DIST_KEEP) await s.serversDown();
    }
  }
  const restartSec = process.env.DIST_RESTART_SEC ?? '5';
  console.log(`\nLayer 1, embedded and distributed side by side (${new Date().toISOString()}, ${os.cpus().length} cores)\n`);
  printTable(rows);
  console.log(`\nThe distributed servers are started again by the deployment's restart policy after DIST_RESTART_SEC (${restartSec} s): "running again" includes it.`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
