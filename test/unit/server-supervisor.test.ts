import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { downServerOf, serverDownError } from '../../scripts/cli-support';
import { parseConfig } from '../../src/config/load';
import type { ProcessInfo, ProcessManager } from '../../src/process/manager';
import type { Evidence } from '../../src/healing/evidence';
import { beatFile, reviveDeadServers, ServerSupervisor, type ServerOutage } from '../../src/healing/server-supervisor';
import type { ServiceName } from '../../src/stack/services';
import { startServerOnce, type ServerStart } from '../../src/stack/server-start';

const quiet = { warn: () => undefined, info: () => undefined, error: () => undefined } as unknown as ConstructorParameters<typeof ServerSupervisor>[0]['log'];

/** A process table the test edits: name → {pid, alive, stopping}; healing-1 is this process. */
function fakePm(table: Record<string, { pid: number; alive: boolean; stopping?: boolean; stopped?: boolean } | undefined>): ProcessManager & { signals: string[] } {
  const signals: string[] = [];
  const info = (name: string): ProcessInfo => {
    const r = table[name];
    return { name, pid: r?.alive ? r.pid : null, alive: !!r?.alive, logPath: `/logs/${name}.log`, stale: !!r && !r.alive, recordedPid: r?.pid ?? null, stopping: !!r?.stopping };
  };
  return {
    signals,
    info,
    isAlive: (n: string) => info(n).alive,
    pid: (n: string) => info(n).pid,
    signal: (n: string, sig: string) => {
      signals.push(`${n}:${sig}`);
      // A Go server exits on SIGQUIT (after writing its goroutines), unless it is stopped (SIGSTOP).
      if ((sig === 'SIGKILL' || (sig === 'SIGQUIT' && !table[n]?.stopped)) && table[n]) table[n]!.alive = false;
      return true;
    },
  } as unknown as ProcessManager & { signals: string[] };
}

describe('server supervisor', () => {
  // Its beat files (leadership) go to the state directory: a real one, removed after.
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'layer1-supervisor-'));
  after(() => rmSync(stateDir, { recursive: true, force: true }));
  const config = parseConfig(
    `stateDir: ${stateDir}\nservers: { temporalHungMs: 5000, storeHungMs: 10000, probeEveryMs: 1000, backoff: { initialMs: 1000, maxMs: 4000, windowMs: 60000 } }`,
    path.join(stateDir, 'temporal.config.yaml'),
    {},
  );
  let now: number;
  let table: Record<string, { pid: number; alive: boolean; stopping?: boolean; stopped?: boolean } | undefined>;
  let healthy: Record<string, boolean>;
  let starts: ServiceName[];
  let reports: Array<{ e: Evidence; o: ServerOutage }>;
  let sup: ServerSupervisor;
  let pm: ReturnType<typeof fakePm>;

  const make = (name = 'healing-1'): ServerSupervisor =>
    new ServerSupervisor({
      config,
      pm,
      name,
      log: quiet,
      now: () => now,
      health: async (svc) => ({ healthy: healthy[svc.name] ?? true, detail: 'fake' }),
      start: async (server): Promise<ServerStart> => {
        starts.push(server);
        const pid = 1000 + starts.length;
        table[server] = { pid, alive: true };
        return { outcome: 'started', pid, deadPid: null };
      },
      report: async (e, o) => {
        reports.push({ e, o });
        return true;
      },
    });

  /** reviveDeadServers' start and probe: the dead store (pid 11) started as pid 500, answering. */
  const reviveFake = () => ({
    start: async (server: ServiceName): Promise<ServerStart> => {
      starts.push(server);
      table[server] = { pid: 500, alive: true };
      return { outcome: 'started', pid: 500, deadPid: 11 };
    },
    health: async () => ({ healthy: true, detail: 'fake' }),
  });

  beforeEach(() => {
    now = 1_000_000;
    table = { 'healing-1': { pid: process.pid, alive: true }, 'healing-2': { pid: 2, alive: true }, temporal: { pid: 10, alive: true }, store: { pid: 11, alive: true }, bus: { pid: 12, alive: true } };
    healthy = {};
    starts = [];
    reports = [];
    pm = fakePm(table);
    sup = make();
  });

  it('restarts a dead store at once and reports one server_restarted once it answers', async () => {
    table.store!.alive = false;
    await sup.tick();
    assert.deepEqual(starts, ['store']);
    now += 250;
    await sup.tick();
    now += 250;
    await sup.tick();
    assert.equal(reports.length, 1);
    const { e, o } = reports[0];
    assert.equal(e.kind, 'server_restarted');
    assert.equal(e.process, 'store');
    assert.equal(o.cause, 'exited');
    assert.equal(o.deadPid, 11);
    assert.equal(o.newPid, 1001);
    assert.equal(e.data.downMs, 250);
    assert.equal(e.id, 'server_restarted:-:store:11');
  });

  it('a replica starting finds a dead store and starts it before connecting; its supervisor reports that outage once', async () => {
    table.store!.alive = false;
    table.temporal = { pid: 10, alive: false, stopping: true }; // being stopped: not ours
    table.bus!.alive = false; // the control plane's
    const fake = reviveFake();
    const revived = await reviveDeadServers(config, pm, quiet, fake);
    assert.deepEqual(starts, ['store']);
    assert.deepEqual(revived.map((r) => [r.server, r.deadPid, r.newPid]), [['store', 11, 500]]);
    // Again (the other replica, or a retry): the store lives, nothing is started.
    assert.deepEqual(await reviveDeadServers(config, pm, quiet, fake), []);
    assert.deepEqual(starts, ['store']);
    sup.adopt(revived);
    await sup.tick();
    await sup.tick();
    assert.equal(reports.length, 1);
    assert.equal(reports[0].o.cause, 'exited');
    assert.equal(reports[0].o.deadPid, 11);
    assert.equal(reports[0].e.id, 'server_restarted:-:store:11');
    assert.deepEqual(starts, ['store'], 'the supervisor did not start it again');
  });

  it('a replica starting leaves a server alone that was never started or is being stopped, and with servers.supervise off', async () => {
    table.store = undefined;
    table.temporal = { pid: 10, alive: false, stopping: true };
    const start = async (server: ServiceName): Promise<ServerStart> => {
      starts.push(server);
      return { outcome: 'started', pid: 1, deadPid: null };
    };
    assert.deepEqual(await reviveDeadServers(config, pm, quiet, { start }), []);
    table.store = { pid: 11, alive: false };
    const off = parseConfig(`stateDir: ${stateDir}\nservers: { supervise: false }`, path.join(stateDir, 'temporal.config.yaml'), {});
    assert.deepEqual(await reviveDeadServers(off, pm, quiet, { start }), []);
    assert.deepEqual(starts, []);
  });

  it('never touches the bus (its kernel is restarted by the control plane), nor a server being stopped or never started', async () => {
    table.bus!.alive = false;
    table.temporal = { pid: 10, alive: false, stopping: true };
    table.store = undefined;
    await sup.tick();
    assert.deepEqual(starts, []);
  });

  it('forgets an outage that someone ended by stopping the server', async () => {
    healthy.store = false;
    table.store!.alive = false;
    await sup.tick();
    table.store = undefined; // `layer1 down`: the pid file is gone
    now += 250;
    await sup.tick();
    table.store = { pid: 77, alive: true }; // `layer1 up` later
    healthy.store = true;
    now += 1_000;
    await sup.tick();
    assert.deepEqual(reports, []);
  });

  it('the outage a replica ended before connecting is reported by it though another replica leads (that one found the store alive)', async () => {
    // healing-1 leads (alive, beating) but started second: the store was already running again,
    // so it has no outage to report. healing-2 started it, and reports it.
    table['healing-2']!.pid = process.pid;
    await make('healing-1').tick(); // healing-1's beat (this process too, here)
    table['healing-1']!.pid = 1;
    table.store!.alive = false;
    const fake = reviveFake();
    const revived = await reviveDeadServers(config, pm, quiet, fake);
    const second = make('healing-2');
    second.adopt(revived);
    assert.equal(second.leads(), false, 'healing-1 leads');
    await second.tick();
    assert.equal(reports.length, 1, 'healing-2 reported the outage it ended');
    assert.deepEqual([reports[0].e.id, reports[0].o.deadPid, reports[0].o.newPid], ['server_restarted:-:store:11', 11, 500]);
    await second.tick();
    assert.equal(reports.length, 1, 'once');
    assert.deepEqual(starts, ['store'], 'nothing started again');
  });

  it('only the lowest live healing replica whose supervisor beats acts', async () => {
    table.store!.alive = false;
    table['healing-2']!.pid = process.pid;
    await make('healing-1').tick(); // healing-1's beat (here it is this process too)
    table['healing-1']!.pid = 1;
    starts.length = 0;
    table.store!.alive = false;
    await make('healing-2').tick();
    assert.deepEqual(starts, [], 'healing-1 is alive and beats: healing-2 does not act');
    const old = new Date(Date.now() - 60_000);
    utimesSync(beatFile(config, 'healing-1'), old, old);
    await make('healing-2').tick();
    assert.deepEqual(starts, ['store'], 'healing-1 is alive but its supervisor is silent (hung): healing-2 acts');
    writeFileSync(beatFile(config, 'healing-1'), '1');
    table['healing-1']!.alive = false;
    table.store!.alive = false;
    await make('healing-2').tick();
    assert.deepEqual(starts, ['store', 'store'], 'healing-1 is dead: healing-2 acts');
  });

  it('backs off a server that keeps dying', async () => {
    table.temporal!.alive = false;
    await sup.tick();
    table.temporal!.alive = false;
    now += 500;
    await sup.tick();
    assert.equal(starts.length, 1, 'the second restart in the window waits initialMs');
    now += 600;
    await sup.tick();
    assert.equal(starts.length, 2);
    table.temporal!.alive = false;
    now += 1_500;
    await sup.tick();
    assert.equal(starts.length, 2, 'the third waits 2 × initialMs');
    now += 600;
    await sup.tick();
    assert.equal(starts.length, 3);
  });

  it('kills and restarts a Temporal that stays alive without answering for temporalHungMs', async () => {
    await sup.tick();
    healthy.temporal = false;
    for (let i = 0; i < 4; i++) {
      now += 1_000;
      await sup.tick();
    }
    assert.deepEqual(starts, [], 'not before temporalHungMs');
    now += 1_000;
    await sup.tick();
    assert.deepEqual(pm.signals, ['temporal:SIGQUIT'], 'SIGQUIT (a Go server writes its goroutines and exits), no SIGKILL needed');
    assert.deepEqual(starts, ['temporal']);
    healthy.temporal = true;
    now += 1_000;
    await sup.tick();
    assert.equal(reports.length, 1);
    assert.equal(reports[0].o.cause, 'hung');
    assert.equal(reports[0].o.deadPid, 10);
  });

  it('leaves a silent store to the dependency_unreachable playbook until storeHungMs', async () => {
    healthy.store = false;
    table.store!.stopped = true;
    for (let i = 0; i < 9; i++) {
      now += 1_000;
      await sup.tick();
    }
    assert.deepEqual(starts, []);
    now += 1_500;
    await sup.tick();
    assert.deepEqual(starts, ['store']);
    assert.deepEqual(pm.signals, ['store:SIGQUIT', 'store:SIGKILL'], 'a stopped store ignores SIGQUIT: SIGKILL after a second');
  });

  it('gives up on a probe stuck for several bounds and asks again: a store that answers new probes is not killed', async () => {
    // The first probe never settles (a client stuck in it); every later one is answered.
    let probes = 0;
    sup = new ServerSupervisor({
      config, pm, name: 'healing-1', log: quiet, now: () => now,
      health: (svc) => (svc.name === 'store' && ++probes === 1 ? new Promise<never>(() => undefined) : Promise.resolve({ healthy: true, detail: 'fake' })),
      start: async (server): Promise<ServerStart> => {
        starts.push(server);
        return { outcome: 'started', pid: 2000, deadPid: null };
      },
      report: async (e, o) => {
        reports.push({ e, o });
        return true;
      },
    });
    await sup.tick(); // waits out the stuck probe's bound (2 s of real time)
    for (let i = 0; i < 14; i++) {
      now += 1_000;
      await sup.tick();
    }
    assert.ok(probes >= 2, `a new probe was made (${probes})`);
    assert.deepEqual(starts, [], 'the store answered new probes: not killed at storeHungMs (10 s)');
    assert.deepEqual(pm.signals, []);
  });

  it('does nothing for servers that are not embedded', async () => {
    const external = parseConfig(`stateDir: ${stateDir}\nstore: { embedded: false }\ntemporal: { embedded: false }`, path.join(stateDir, 'temporal.config.yaml'), {});
    table.store!.alive = false;
    table.temporal!.alive = false;
    await new ServerSupervisor({ config: external, pm, name: 'healing-1', log: quiet, report: async () => true, start: async (s) => (starts.push(s), { outcome: 'not_embedded' }) }).tick();
    assert.deepEqual(starts, []);
  });
});

describe('startServerOnce: idempotent and exclusive', () => {
  let dir: string;
  let config: ReturnType<typeof parseConfig>;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-start-'));
    // A port nothing here listens on: the start waits for the server's ports to be free first.
    config = parseConfig(`stateDir: ${dir}\nstore: { uri: "mongodb://127.0.0.1:59917/?retryWrites=false" }`, path.join(dir, 'temporal.config.yaml'), {});
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const pmWith = (alive: boolean): ProcessManager & { started: number } => {
    const pm = {
      started: 0,
      info: (name: string) => ({ name, pid: alive ? 42 : null, alive, logPath: '', stale: !alive, recordedPid: 41, stopping: false }),
      start: async () => {
        pm.started++;
        return { pid: 43 };
      },
    };
    return pm as unknown as ProcessManager & { started: number };
  };

  it('leaves a live server alone', async () => {
    const pm = pmWith(true);
    assert.deepEqual(await startServerOnce(config, pm, 'store'), { outcome: 'already_running', pid: 42 });
    assert.equal(pm.started, 0);
  });

  it('does nothing while another caller holds the start claim, and takes over a stale claim', async () => {
    const pm = pmWith(false);
    mkdirSync(path.join(dir, 'run'), { recursive: true });
    const claim = path.join(dir, 'run', 'store.pid.start-claim');
    writeFileSync(claim, '');
    assert.deepEqual(await startServerOnce(config, pm, 'store'), { outcome: 'claimed_elsewhere' });
    assert.equal(pm.started, 0);
    const old = new Date(Date.now() - 60_000);
    utimesSync(claim, old, old);
    const r = await startServerOnce(config, pm, 'store').catch((err: Error) => err);
    // Past the claim: it started, or (no tools on this machine) said which tool is missing.
    if (r instanceof Error) assert.match(r.message, /cannot start store: .* is missing/);
    else assert.deepEqual(r, { outcome: 'started', pid: 43, deadPid: 41 });
    assert.ok(!existsSync(claim), 'the claim is released');
  });

  it('never starts a server that is not embedded', async () => {
    const external = parseConfig(`stateDir: ${dir}\nstore: { embedded: false }`, path.join(dir, 'temporal.config.yaml'), {});
    assert.deepEqual(await startServerOnce(external, pmWith(false), 'store'), { outcome: 'not_embedded' });
  });
});

describe('the CLI names the server an error says is down', () => {
  it('knows the store driver, Temporal and the bus by their errors', () => {
    const named = (name: string, message: string, extra: object = {}): Error => Object.assign(new Error(message), { name }, extra);
    assert.equal(downServerOf(named('MongoServerSelectionError', 'connect ECONNREFUSED')), 'store');
    assert.equal(downServerOf(new Error('Failed to connect before the deadline')), 'temporal');
    assert.equal(downServerOf(named('ServiceError', 'Failed to describe workflow', { cause: Object.assign(new Error('14 UNAVAILABLE: No connection established'), { code: 14 }) })), 'temporal');
    assert.equal(downServerOf(named('ConnectionError', 'connection refused')), 'bus');
    assert.equal(downServerOf(new Error('something else')), null);
    assert.equal(downServerOf(new Error('wrapped', { cause: named('MongoNetworkError', 'x') })), 'store');
  });

  it('says which server, where, and what to do, in one line', () => {
    const config = parseConfig('stateDir: /s\nstore: { uri: "mongodb://127.0.0.1:27018/?retryWrites=false" }', '/x/temporal.config.yaml', {});
    const e = serverDownError(config, 'store');
    assert.equal(e.exitCode, 4);
    assert.equal(e.message, 'the store (FerretDB at 127.0.0.1:27018) is not reachable: run `layer1 up` or check /s/logs/store.log');
    assert.equal(serverDownError(config, 'temporal').message, 'the Temporal dev server at 127.0.0.1:7233 is not reachable: run `layer1 up` or check /s/logs/temporal.log');
    assert.equal(serverDownError(config, 'bus').message, 'the bus (nats-server at 127.0.0.1:4222) is not reachable: run `layer1 up` or check /s/logs/bus.log');
    assert.ok(!serverDownError(config, 'store').message.includes('\n'));
  });
});
