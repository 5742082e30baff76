import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ExitCode } from '../../src/errors';
import { connectClient } from '../../src/clients/temporal';
import { connectStore } from '../../src/clients/store';
import { stackStaysHealthy } from '../../src/stack/kernel-readiness';
import { startServerOnce } from '../../src/stack/server-start';
import { processManager } from '../../src/stack/stack';
import { runCli } from '../support/cli';
import { stackAvailable, testConfig, TEST_CONFIG_FILE } from '../support/env';

// The configs below name fixed ports under 32768, outside Linux's ephemeral range: a port there may be
// the local end of one of the suite's own connections, and `up` then rightly calls it taken (seen in CI).
describe('the CLI refuses bad input before anything starts', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-cli-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  function writeConfig(text: string): string {
    const file = path.join(dir, 'temporal.config.yaml');
    writeFileSync(file, text);
    return file;
  }

  const startedNothing = (): void => {
    const run = path.join(dir, 'state', 'run');
    assert.ok(!existsSync(run) || readdirSync(run).length === 0, 'no process was started');
  };

  it('reports an unknown key and a wrong type with file:line:col and exits 3', async () => {
    const file = writeConfig(['stateDir: state', 'temporal:', '  adress: 127.0.0.1:7233', '  uiPort: eighty'].join('\n'));
    const res = await runCli(['--config', file, 'up']);
    assert.equal(res.code, ExitCode.CONFIG);
    assert.match(res.stderr, new RegExp(`${file}:3:3: unknown key "adress" → at temporal.adress`));
    assert.match(res.stderr, new RegExp(`${file}:4:11: .*expected number.* → at temporal.uiPort`));
    startedNothing();
  });

  it('reports a /metrics port another program holds, with its setting, and exits 3', async () => {
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen({ host: '127.0.0.1', port: 0 }, resolve));
    try {
      const { port } = other.address() as net.AddressInfo;
      const file = writeConfig(
        ['stateDir: state', 'temporal: { address: "127.0.0.1:31233", uiPort: 31234 }', 'store: { uri: "mongodb://127.0.0.1:31017/?retryWrites=false" }', 'bus: { url: "nats://127.0.0.1:31222", monitorPort: 31223 }', `metrics: { port: ${port} }`].join('\n'),
      );
      const res = await runCli(['--config', file, 'up']);
      assert.equal(res.code, ExitCode.CONFIG, res.stderr);
      assert.match(res.stderr, new RegExp(`:5:\\d+: port ${port} \\(the /metrics endpoint\\) is already in use by another program → at metrics\\.port`));
      startedNothing();
    } finally {
      other.close();
    }
  });

  it('reports a dashboard port another program holds, with its setting, and exits 3', async () => {
    const other = net.createServer();
    await new Promise<void>((resolve) => other.listen({ host: '127.0.0.1', port: 0 }, resolve));
    try {
      const { port } = other.address() as net.AddressInfo;
      const file = writeConfig(
        ['stateDir: state', 'temporal: { address: "127.0.0.1:31233", uiPort: 31234 }', 'store: { uri: "mongodb://127.0.0.1:31017/?retryWrites=false" }', 'bus: { url: "nats://127.0.0.1:31222", monitorPort: 31223 }', 'metrics: { port: 31464 }', `dashboard: { port: ${port} }`].join('\n'),
      );
      const res = await runCli(['--config', file, 'up']);
      assert.equal(res.code, ExitCode.CONFIG, res.stderr);
      assert.match(res.stderr, new RegExp(`:6:\\d+: port ${port} \\(the dashboard page\\) is already in use by another program → at dashboard\\.port`));
      startedNothing();
    } finally {
      other.close();
    }
  });

  it('reports an unreachable external server with its setting and exits 3', async () => {
    const file = writeConfig(
      ['stateDir: state', 'store:', '  embedded: false', '  uri: mongodb://127.0.0.1:1/?retryWrites=false'].join('\n'),
    );
    const res = await runCli(['--config', file, 'up']);
    assert.equal(res.code, ExitCode.CONFIG, res.stderr);
    assert.match(res.stderr, /:4:3: cannot reach store at 127\.0\.0\.1:1.* → at store\.uri/);
    startedNothing();
  });

  it('names a missing prerequisite and how to get it, and exits 4', async () => {
    const file = writeConfig(
      ['stateDir: state', 'temporal: { address: "127.0.0.1:31233", uiPort: 31234 }', 'store: { uri: "mongodb://127.0.0.1:31017/?retryWrites=false" }', 'bus: { url: "nats://127.0.0.1:31222", monitorPort: 31223 }', 'metrics: { port: 31464 }', 'dashboard: { port: 31466 }'].join('\n'),
    );
    // An empty tool cache and a PATH without Python or Go: nothing can be obtained.
    const res = await runCli(['--config', file, 'up'], {
      env: { ...process.env, LAYER1_CACHE_DIR: path.join(dir, 'cache'), PATH: path.join(dir, 'empty-bin') },
    });
    assert.equal(res.code, ExitCode.PREREQUISITE, res.stderr);
    assert.match(res.stderr, /missing prerequisite: (Python 3 with pip and venv|Go 1\.24 or later)\. Install/);
    startedNothing();
  });

  it('names a store that is down in one line and exits 4, for the verbs that read it', async () => {
    const file = writeConfig(['stateDir: state', 'store:', '  uri: mongodb://127.0.0.1:1/?retryWrites=false'].join('\n'));
    for (const args of [['incidents'], ['incidents', 'show', 'inc-1'], ['kb'], ['kb', 'set', 'sig', '--auto-apply', 'off'], ['evidence']]) {
      const res = await runCli(['--config', file, ...args]);
      assert.equal(res.code, ExitCode.PREREQUISITE, `${args.join(' ')}: ${res.stderr}`);
      assert.equal(res.stderr, `layer1: the store (FerretDB at 127.0.0.1:1) is not reachable: run \`layer1 up\` or check ${path.join(dir, 'state', 'logs', 'store.log')}\n`);
    }
  });

  it('refuses a bad --auto-apply or --state value before reaching the store, with exit code 2', async () => {
    const file = writeConfig(['stateDir: state', 'store:', '  uri: mongodb://127.0.0.1:1/?retryWrites=false'].join('\n'));
    assert.equal((await runCli(['--config', file, 'kb', 'set', 'sig', '--auto-apply', 'maybe'])).code, ExitCode.USAGE);
    assert.equal((await runCli(['--config', file, 'kb', 'set', 'sig'])).code, ExitCode.USAGE);
    const state = await runCli(['--config', file, 'incidents', '--state', 'bogus']);
    assert.equal(state.code, ExitCode.USAGE);
    assert.equal(state.stderr, 'layer1: --state expects one of open, closed, reopened, got "bogus"\n');
  });

  it('exits 2 on unknown verbs and options', async () => {
    const res = await runCli(['frobnicate']);
    assert.equal(res.code, ExitCode.USAGE);
  });
});

describe('every verb meeting a server that is down names it in one line', () => {
  const config = testConfig();
  const pm = processManager(config);
  const line = (server: 'temporal' | 'store'): string =>
    server === 'temporal'
      ? `layer1: the Temporal dev server at ${config.temporal.address} is not reachable: run \`layer1 up\` or check ${path.join(config.stateDir, 'logs', 'temporal.log')}\n`
      : `layer1: the store (FerretDB at ${config.store.uri.replace(/^mongodb:\/\/([^/]+).*$/, '$1')}) is not reachable: run \`layer1 up\` or check ${path.join(config.stateDir, 'logs', 'store.log')}\n`;

  before(function () {
    if (!stackAvailable()) this.skip();
  });

  it('stops Temporal and the store for real, checks each verb, and leaves the stack healthy', async function () {
    this.timeout(240_000);
    // Stopped, not killed: the server supervisor leaves a stopped server alone, and with Temporal
    // stopped first no playbook can start the store again while the verbs run.
    await pm.stop('temporal', 10_000);
    await pm.stop('store', 10_000);
    try {
      const cases: Array<[string[], 'temporal' | 'store']> = [
        [['preflight'], 'temporal'],
        [['boot'], 'temporal'],
        [['kernel', 'restart', 'immutable_log'], 'temporal'],
        [['playbook', 'run', 'stale_snapshot'], 'temporal'],
        [['playbook', 'approve', 'playbook-x', 'confirm'], 'temporal'],
        [['playbook', 'rehearse', 'dependency_unreachable'], 'temporal'],
        [['evidence'], 'store'],
        [['incidents'], 'store'],
        [['incidents', 'show', 'inc-1'], 'store'],
        [['kb'], 'store'],
        [['kb', 'show', 'sig'], 'store'],
        [['kb', 'set', 'sig', '--auto-apply', 'off'], 'store'],
      ];
      // Side by side: each waits out its connect timeout.
      const results = await Promise.all(cases.map(([args]) => runCli(['--config', TEST_CONFIG_FILE, ...args])));
      results.forEach((res, i) => {
        const [args, server] = cases[i];
        assert.equal(res.code, ExitCode.PREREQUISITE, `${args.join(' ')}: ${res.stderr}`);
        assert.equal(res.stderr.split('\n').filter((l) => l.startsWith('layer1:')).join('\n') + '\n', line(server), `${args.join(' ')}: ${res.stderr}`);
        assert.doesNotMatch(res.stderr, /\n\s+at /, `${args.join(' ')}: no stack trace`);
      });
      // Status is the report, not an error: exit 1, and it names both servers as down.
      const status = await runCli(['--config', TEST_CONFIG_FILE, 'status', '--json']);
      assert.equal(status.code, ExitCode.FAILURE, status.stderr);
      const s = JSON.parse(status.stdout);
      assert.equal(s.healthy, false);
      assert.equal(s.services.temporal.healthy, false);
      assert.equal(s.services.store.healthy, false);
    } finally {
      await startServerOnce(config, pm, 'store');
      await startServerOnce(config, pm, 'temporal');
    }
    const client = await connectClient(config, 30_000);
    const store = await connectStore(config, 30_000);
    try {
      await stackStaysHealthy({ config, pm, db: store.db, temporal: client }, 150_000);
    } finally {
      await client.connection.close();
      await store.close();
    }
  });
});
