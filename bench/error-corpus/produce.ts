/**
 * bench/error-corpus/produce — provokes real failures and writes the labelled error corpus.
 *
 *   npm run build && node dist/bench/error-corpus/produce.js [OUT]   (default bench/error-corpus/corpus.jsonl)
 *
 * Every message is the text of an error really raised by Node, the MongoDB driver against the
 * store, the NATS client against nats-server, the Temporal client against the dev server, or
 * Layer 1's own loaders — nothing is written by hand. Each failure is provoked several times with
 * different variable parts (ports, paths, ids, subjects, user, command and option names), and each
 * message is labelled with its cause. Multi-line errors contribute their first line, or for the
 * loaders' problem lists the problem line the CLI prints (`FILE:LINE:COL: message`).
 *
 * The stack is this folder's layer1.corpus.yaml (own ports and state dir); it is started here and
 * stopped at the end (also on failure). Its bus enforces the ACL policy's users and permissions,
 * which the authorisation failures step outside of.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promises as dns } from 'node:dns';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { connect as natsConnect } from '@nats-io/transport-node';
import { MongoClient } from 'mongodb';
import { connectBus } from '../../src/clients/bus';
import { natsServers, parseSeedList } from '../../src/config/bus-url';
import { formatProblem, loadConfig, parseConfig, ConfigError, type LoadedConfig } from '../../src/config/load';
import { loadPlaybookSources } from '../../src/playbooks/loader';
import { startServices, stopAll } from '../../src/stack/stack';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const CONFIG = path.join(REPO_ROOT, 'bench', 'error-corpus', 'layer1.corpus.yaml');
/** Repetitions of each provocation, each with other variable parts. */
const REPS = 14;

interface Sample {
  cause: string;
  message: string;
}

/** A small deterministic generator, so a re-run varies the same way. */
let seed = 20261206;
function random(): number {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
const NAMES = ['orders', 'billing', 'alice', 'bob', 'carol', 'ingest', 'reports', 'audit', 'edge', 'cache', 'metrics', 'search', 'mail', 'batch', 'queue', 'worker', 'gateway', 'users', 'ledger', 'inventory'];
const name = (): string => pick(NAMES);
const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('');

const samples: Sample[] = [];
const skipped: string[] = [];

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0];
}

/** Runs a provocation REPS times; each must fail, and its message (or messages) is recorded. */
async function provoke(cause: string, attempt: (i: number) => unknown, reps = REPS): Promise<void> {
  process.stderr.write(`  ${cause}\n`);
  for (let i = 0; i < reps; i++) {
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Stuck()), ATTEMPT_MS);
      });
      const result = await Promise.race([Promise.resolve().then(() => attempt(i)), deadline]);
      if (Array.isArray(result)) {
        for (const message of result as string[]) samples.push({ cause, message });
        continue;
      }
      skipped.push(`${cause}: attempt ${i} did not fail`);
    } catch (err) {
      if (err instanceof Stuck) skipped.push(`${cause}: attempt ${i} neither failed nor returned in ${ATTEMPT_MS} ms`);
      else samples.push({ cause, message: firstLine(err) });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** An attempt that hung: our harness's problem, never a sample. */
class Stuck extends Error {}
/** Longest one attempt may take. */
const ATTEMPT_MS = 8_000;

/** A port nothing listens on: bound once by us, then released. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function nodeErrors(tmp: string): Promise<void> {
  await provoke('fs_file_not_found', (i) => readFileSync(path.join(tmp, `${name()}-${i}`, `${name()}.${pick(['yaml', 'json', 'log'])}`)));
  await provoke('fs_read_a_directory', (i) => {
    const dir = path.join(tmp, `dir-${name()}-${i}`);
    mkdirSync(dir, { recursive: true });
    return readFileSync(dir);
  });
  await provoke('fs_path_through_a_file', (i) => {
    const file = path.join(tmp, `file-${name()}-${i}`);
    writeFileSync(file, 'x');
    return readFileSync(path.join(file, `${name()}.json`));
  });
  await provoke('fs_already_exists', (i) => {
    const dir = path.join(tmp, `exists-${name()}-${i}`);
    mkdirSync(dir, { recursive: true });
    mkdirSync(dir);
  });
  await provoke('fs_directory_not_empty', (i) => {
    const dir = path.join(tmp, `full-${name()}-${i}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'keep'), 'x');
    rmdirSync(dir);
  });
  // Root may write almost anywhere; the kernel's read-only attribute files still refuse it.
  const readOnly = readdirSync('/sys/kernel')
    .map((f) => path.join('/sys/kernel', f))
    .filter((f) => {
      try {
        return statSync(f).isFile() && (statSync(f).mode & 0o222) === 0;
      } catch {
        return false;
      }
    });
  if (readOnly.length > 0) await provoke('fs_permission_denied', () => writeFileSync(pick(readOnly), 'x'));
  else skipped.push('fs_permission_denied: no read-only file in /sys/kernel');
  if (process.getuid?.() !== 0) {
    await provoke('fs_permission_denied', (i) => {
      const file = path.join(tmp, `locked-${i}`);
      writeFileSync(file, 'x');
      chmodSync(file, 0o000);
      return readFileSync(file);
    });
  }
  await provoke('tcp_port_in_use', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    const second = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        second.once('error', reject);
        second.listen(port, '127.0.0.1', resolve);
      });
    } finally {
      second.close();
      holder.close();
    }
  });
  // A server process killed, then a client connecting to where it listened.
  await provoke('connection_refused', async (i) => {
    const server = execFile(process.execPath, ['-e', `require('net').createServer().listen(0, '127.0.0.1', function () { console.log(this.address().port) })`]);
    const port = await new Promise<number>((resolve) => server.stdout?.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
    server.kill(i % 2 ? 'SIGKILL' : 'SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', reject);
    });
  });
  await provoke('dns_unknown_host', (i) => dns.lookup(`${name()}-${i}.${pick(['invalid', 'test'])}`));
  await provoke('spawn_missing_program', (i) => {
    const r = spawnSync(`/opt/${name()}/bin/${name()}-${i}`);
    if (r.error) throw r.error;
  });
  await provoke('process_killed', (i) =>
    new Promise<void>((resolve, reject) => {
      const child = execFile('sleep', [String(30 + i)], (err) => (err ? reject(err) : resolve()));
      setTimeout(() => child.kill('SIGKILL'), 20);
    }),
  );
  await provoke('command_exited_non_zero', (i) => execFileSync('ls', [path.join(tmp, `missing-${name()}-${i}`)], { stdio: 'pipe' }));
  await provoke('json_truncated', (i) => JSON.parse(JSON.stringify({ id: i, name: name(), tags: [name(), name()] }).slice(0, 10 + i)));
  await provoke('json_trailing_comma', (i) => JSON.parse(`{"id": ${i}, "name": "${name()}",}`));
  // A server that accepts and never answers: the caller's own deadline fires.
  const silent = net.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as net.AddressInfo).port;
  try {
    await provoke('timeout_aborted', (i) => fetch(`http://127.0.0.1:${silentPort}/${name()}/${i}`, { signal: AbortSignal.timeout(30 + i) }));
  } finally {
    silent.close();
  }
}

/**
 * The first problem a loader reports, as the CLI prints it. One mistake can raise several problems
 * (a YAML parser reports the same bad indentation twice, in other words); the first names it.
 */
function configProblems(err: unknown): string[] {
  if (!(err instanceof ConfigError)) throw err;
  return [formatProblem(err.problems[0])];
}

async function loaderErrors(tmp: string): Promise<void> {
  const write = (file: string, text: string): string => {
    writeFileSync(file, text);
    return file;
  };
  await provoke('config_file_not_found', (i) => {
    try {
      loadConfig(path.join(tmp, `conf-${name()}-${i}`, 'layer1.yaml'));
    } catch (err) {
      return configProblems(err);
    }
  });
  await provoke('config_bad_port', (i) => {
    const file = write(path.join(tmp, `port-${i}.yaml`), `${pick(['temporal:\n  uiPort', 'bus:\n  monitorPort'])}: ${70000 + i * 37}\n`);
    try {
      parseConfig(readFileSync(file, 'utf8'), file, {});
    } catch (err) {
      return configProblems(err);
    }
  });
  await provoke('config_unknown_key', (i) => {
    const file = write(path.join(tmp, `key-${i}.yaml`), `store:\n  ${name()}${pick(['Timeout', 'Mode', 'Level', 'Size'])}: ${i}\n`);
    try {
      parseConfig(readFileSync(file, 'utf8'), file, {});
    } catch (err) {
      return configProblems(err);
    }
  });
  await provoke('config_yaml_syntax', (i) => {
    const file = write(path.join(tmp, `syntax-${i}.yaml`), `store:\n  uri: mongodb://127.0.0.1:${27000 + i}\n   database: ${name()}\n`);
    try {
      parseConfig(readFileSync(file, 'utf8'), file, {});
    } catch (err) {
      return configProblems(err);
    }
  });
  await provoke('playbook_unknown_action', (i) => {
    const file = path.join(tmp, `pb-${name()}-${i}.yaml`);
    const action = `${pick(['restart', 'drain', 'purge', 'rotate'])}_${name()}`;
    const text = `playbooks:\n  - name: ${name()}_${i}\n    description: d\n    trigger: { kernel: message_bus, events: [exited] }\n    steps:\n      - id: s${i}\n        action: ${action}\n`;
    const result = loadPlaybookSources([{ file, text }]);
    if (result.problems.length === 0) return undefined;
    return [formatProblem(result.problems[0])];
  });
  await provoke('playbook_unknown_kernel', (i) => {
    const file = path.join(tmp, `pbk-${name()}-${i}.yaml`);
    const text = `playbooks:\n  - name: pb_${i}\n    description: d\n    trigger: { kernel: ${name()}_${hex(3)}, events: [exited] }\n    steps:\n      - id: wait\n        action: wait_kernel_ready\n        with: { kernel: message_bus, timeoutMs: ${1000 + i} }\n`;
    const result = loadPlaybookSources([{ file, text }]);
    if (result.problems.length === 0) return undefined;
    return [formatProblem(result.problems[0])];
  });
}

/**
 * Runs the real CLI and returns the first line it wrote, when it failed: on stderr for its errors,
 * on stdout for `playbook validate`, which prints its problems there.
 */
function cli(args: string[], stream: 'stdout' | 'stderr' = 'stderr'): string[] | undefined {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'layer1.js'), ...args], { encoding: 'utf8', cwd: REPO_ROOT });
  if (r.status === 0) return undefined;
  const first = r[stream].split('\n').find((l) => l.trim() !== '');
  if (!first) throw new Error(`layer1 ${args.join(' ')} failed without a message`);
  return [first];
}

async function cliErrors(tmp: string): Promise<void> {
  await provoke('cli_unknown_command', (i) => cli([`${pick(['restart', 'purge', 'show', 'sync'])}-${name()}${i % 3 ? '' : 's'}`]), 8);
  await provoke('cli_unknown_option', () => cli(['playbook', 'list', `--${name()}${pick(['', '-all', '-dry-run'])}`]), 8);
  await provoke('cli_playbook_file_not_found', (i) => cli(['playbook', 'validate', path.join(tmp, `${name()}-${i}.yaml`)], 'stdout'), 8);
  await provoke('cli_unknown_playbook', (i) => cli(['playbook', 'run', `${pick(['restart', 'drain', 'repair'])}_${name()}_${i}`]), 8);
  await provoke('cli_unknown_kernel', () => cli(['kernel', pick(['start', 'stop', 'restart']), `${name()}_${pick(['bus', 'log', 'store'])}`]), 8);
  await provoke('cli_bad_integer_option', () => cli(['evidence', '--limit', pick(['-3', 'abc', '1.5', 'ten', '0'])]), 8);
  // Every verb that takes no argument, given one.
  const noArgs = ['setup', 'up', 'down', 'status', 'preflight', 'boot', 'actions', 'evidence'];
  await provoke('cli_too_many_arguments', () => cli([pick(noArgs), name()]), 8);
}

async function storeErrors(uri: string, database: string): Promise<void> {
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5_000 });
  await client.connect();
  try {
    const db = client.db(database);
    await provoke('store_duplicate_key', async (i) => {
      const collection = db.collection<{ _id: string }>(`${name()}_${i}`);
      const id = `${name()}-${hex(6)}`;
      await collection.insertOne({ _id: id });
      await collection.insertOne({ _id: id });
    });
    await provoke('store_unknown_command', (i) => db.command({ [`${name()}${pick(['Stats', 'Info', 'Sync', 'Check'])}${i}`]: 1 }));
    await provoke('store_update_without_operators', (i) => db.collection<{ _id: number }>(`c${i}`).updateOne({ _id: i }, { [name()]: i } as never));
  } finally {
    await client.close();
  }
  await provoke('store_bad_uri_option', (i) => new MongoClient(`mongodb://127.0.0.1:${27000 + i}/?${name()}${pick(['Mode', 'Limit', 'Ttl'])}=1`));
  await provoke('store_bad_uri_scheme', (i) => new MongoClient(`${pick(['mongo', 'http', 'postgres'])}://127.0.0.1:${27000 + i}/${name()}`));
}

/** After the stack stopped: the store's driver meets the same refused connection as any client. */
async function storeStopped(uri: string): Promise<void> {
  await provoke('connection_refused', async (i) => {
    const client = new MongoClient(uri, { serverSelectionTimeoutMS: 200 + i * 10 });
    try {
      await client.connect();
    } finally {
      await client.close();
    }
  });
}

/**
 * Against the stack's own bus, whose users and permissions come from the ACL policy
 * (kernels/message-bus): wrong passwords, and each user stepping outside what it may do.
 */
async function busErrors(config: LoadedConfig): Promise<void> {
  const url = natsServers(parseSeedList(config.bus.url));
  const users = ['control_plane', 'immutable_log', 'self_healing', 'coding_agent', 'probe'];
  await provoke('bus_bad_credentials', async (i) => {
    const nc = await natsConnect({ servers: url, user: pick([...users, name()]), pass: `${name()}${i}`, reconnect: false, timeout: 2000 });
    await nc.close();
  });
  const probe = await connectBus(config, { user: 'probe', name: 'corpus-probe' });
  try {
    // The server reports a denied publish asynchronously, as a status event of the connection.
    const statusErrors: Error[] = [];
    void (async () => {
      for await (const s of probe.status()) if (s.type === 'error') statusErrors.push(s.error);
    })();
    await provoke('bus_publish_denied', async (i) => {
      const before = statusErrors.length;
      probe.publish(`${pick(['system.control', 'layer1.log', 'orders'])}.${name()}.${i}`, 'x');
      await probe.flush();
      for (let wait = 0; wait < 50 && statusErrors.length === before; wait++) await new Promise((r) => setTimeout(r, 20));
      if (statusErrors.length > before) throw statusErrors[statusErrors.length - 1];
    });
    await provoke('bus_subscribe_denied', async (i) => {
      const sub = probe.subscribe(`${pick(['system.control', 'layer1.log', 'billing'])}.${name()}.${hex(4)}.${i}`);
      const closed = await sub.closed;
      if (closed instanceof Error) throw closed;
    });
  } finally {
    await probe.close();
  }
  const operator = await connectBus(config, { user: 'operator', name: 'corpus-operator' });
  try {
    await provoke('bus_no_responders', (i) => operator.request(`layer1.${name()}.${hex(4)}.${i}`, 'x', { timeout: 1000 }));
    await provoke('bus_request_timeout', async (i) => {
      const subject = `layer1.${name()}.${i}`;
      const sub = operator.subscribe(subject); // listens, never answers
      try {
        await operator.request(subject, 'x', { timeout: 20 + i });
      } finally {
        sub.unsubscribe();
      }
    });
  } finally {
    await operator.close();
  }
  await provoke('bus_unreachable', async () => {
    const nc = await natsConnect({ servers: `127.0.0.1:${await freePort()}`, reconnect: false });
    await nc.close();
  });
}

async function workflowErrors(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection, namespace });
    await provoke('workflow_not_found', (i) => client.workflow.getHandle(`${name()}-${hex(8)}-${i}`).describe());
    await provoke('workflow_already_started', async (i) => {
      const workflowId = `corpus-${name()}-${hex(6)}-${i}`;
      const options = { taskQueue: `corpus-${name()}`, workflowId };
      await client.workflow.start('noSuchWorkflowType', options);
      try {
        await client.workflow.start('noSuchWorkflowType', options);
      } finally {
        await client.workflow.getHandle(workflowId).terminate('corpus');
      }
    });
    await provoke('workflow_namespace_not_found', (i) =>
      new Client({ connection, namespace: `${name()}-${i}` }).workflow.getHandle(`wf-${hex(6)}`).describe(),
    );
  } finally {
    await connection.close();
  }
  await provoke('workflow_service_unreachable', async (i) => {
    const c = await Connection.connect({ address: `127.0.0.1:${await freePort()}`, connectTimeout: 200 + i * 10 });
    await c.close();
  });
}

async function main(): Promise<void> {
  const out = path.resolve(process.argv[2] ?? path.join(REPO_ROOT, 'bench', 'error-corpus', 'corpus.jsonl'));
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'layer1-corpus-'));
  const config = loadConfig(CONFIG);
  const progress = (m: string): void => {
    process.stderr.write(`  [stack] ${m}\n`);
  };
  try {
    await nodeErrors(tmp);
    await loaderErrors(tmp);
    await cliErrors(tmp);
    await stopAll(config, progress);
    await startServices(config, progress);
    await storeErrors(config.store.uri, config.store.database);
    await busErrors(config);
    await workflowErrors(config.temporal.address, config.temporal.namespace);
  } finally {
    await stopAll(config, progress);
    rmSync(tmp, { recursive: true, force: true });
  }
  // With the stack stopped: the store is gone.
  await storeStopped(config.store.uri);

  writeFileSync(out, samples.map((s) => JSON.stringify(s)).join('\n') + '\n');
  const causes = new Set(samples.map((s) => s.cause));
  process.stderr.write(`${samples.length} messages over ${causes.size} causes → ${out}\n`);
  for (const s of skipped) process.stderr.write(`  skipped: ${s}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
