/**
 * The three servers of the embedded stack — Temporal dev server, FerretDB store, NATS bus — each
 * described once: how to start it, where it listens, and what "healthy" means for real
 * (Temporal answers gRPC; the store pings, writes and reads back; the bus answers /healthz with
 * JetStream enabled).
 */
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Connection } from '@temporalio/client';
import { HEALTH_COLLECTION } from '../clients/collections';
import { errorText } from '../domain/errors';
import { within } from '../deadline';
import { hostText, parseSeedList, seedAddresses } from '../config/bus-url';
import type { LoadedConfig } from '../config/load';
import { clusterHealth } from './bus-health';
import type { ProcessSpec } from '../process/manager';
import type { Tools } from './tools';
import { splitHostPort } from '../net-probe';

export type ServiceName = 'temporal' | 'store' | 'bus';
export const SERVICE_NAMES: ServiceName[] = ['temporal', 'store', 'bus'];

export interface HealthResult {
  healthy: boolean;
  detail: string;
}

export interface HealthOptions {
  /** The cheapest probe that still proves the server answers (the store: a ping, no write). */
  quick?: boolean;
  /** Temporal: ask over this open connection (the caller's, left open) instead of a new one. */
  connection?: Pick<Connection, 'workflowService'>;
}

export interface ServiceDef {
  name: ServiceName;
  /** Whether this stack starts it, or it is a real server reached by configuration. */
  embedded: boolean;
  /** Where clients reach it. */
  address: string;
  /** The local TCP ports it must bind (checked before start). */
  ports: Array<{ host: string; port: number; what: string; path: string }>;
  /** Async: what it loads to say how to start the server (the bus's config renderer) is loaded then. */
  spec(tools: Tools): Promise<ProcessSpec>;
  /** Healthy for real; see {@link HealthOptions} for `layer1 status` without `--deep`. */
  health(timeoutMs: number, opts?: HealthOptions): Promise<HealthResult>;
}

function hostPortOfUrl(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url.replace(/^mongodb(\+srv)?:/, 'http:'));
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : defaultPort };
}

/**
 * The Temporal Web UI, or null when there is none: the embedded dev server's (http://HOST:uiPort),
 * else `temporal.webUiUrl` (a real cluster's temporal-ui) when it is configured.
 */
export function webUiUrl(config: LoadedConfig): string | null {
  if (!config.temporal.embedded) return config.temporal.webUiUrl ?? null;
  const { host } = splitHostPort(config.temporal.address);
  return `http://${host}:${config.temporal.uiPort}`;
}

export function temporalService(config: LoadedConfig): ServiceDef {
  // The embedded dev server has one address (the schema says so); a cluster's first frontend here.
  const { host, port } = splitHostPort(config.temporal.address.split(',')[0].trim());
  const dir = path.join(config.stateDir, 'temporal');
  return {
    name: 'temporal',
    embedded: config.temporal.embedded,
    address: config.temporal.address,
    ports: [
      { host, port, what: 'Temporal frontend', path: 'temporal.address' },
      { host, port: config.temporal.uiPort, what: 'Temporal Web UI', path: 'temporal.uiPort' },
    ],
    spec: async (tools) => {
      mkdirSync(dir, { recursive: true });
      return {
        name: 'temporal',
        command: tools.temporal,
        args: [
          'server', 'start-dev',
          '--db-filename', path.join(dir, 'temporal.db'),
          '--ip', host,
          '--port', String(port),
          '--ui-port', String(config.temporal.uiPort),
          '--namespace', config.temporal.namespace,
          '--log-level', 'warn',
          ...Object.entries((await import('./search-attributes')).SEARCH_ATTRIBUTES).flatMap(([k, t]) => ['--search-attribute', `${k}=${t}`]),
        ],
      };
    },
    health: async (timeoutMs, opts) => {
      let connection: Connection | undefined;
      try {
        if (opts?.connection) return await temporalHealth(opts.connection, config.temporal.namespace);
        const { connectTemporal } = await import('../clients/temporal');
        connection = await connectTemporal(config, timeoutMs);
        return await temporalHealth(connection, config.temporal.namespace);
      } catch (err) {
        return { healthy: false, detail: errorText(err) };
      } finally {
        await connection?.close().catch(() => undefined);
      }
    },
  };
}

/** The server answers gRPC and knows the namespace. */
async function temporalHealth(connection: Pick<Connection, 'workflowService'>, namespace: string): Promise<HealthResult> {
  const [info] = await Promise.all([connection.workflowService.getSystemInfo({}), connection.workflowService.describeNamespace({ namespace })]);
  return { healthy: true, detail: `gRPC ok (server ${info.serverVersion || 'unknown'})` };
}

export function storeService(config: LoadedConfig): ServiceDef {
  const { host, port } = hostPortOfUrl(config.store.uri, 27017);
  const dir = path.join(config.stateDir, 'store');
  return {
    name: 'store',
    embedded: config.store.embedded,
    address: `${host}:${port}`,
    ports: [{ host, port, what: 'document store', path: 'store.uri' }],
    spec: async (tools) => {
      mkdirSync(dir, { recursive: true });
      return {
        name: 'store',
        command: tools.ferretdb,
        args: ['--listen', `${host}:${port}`, '--data-dir', dir, '--log-level', 'warn'],
      };
    },
    health: (timeoutMs, opts) => storeHealth(config.store.uri, config.store.database, timeoutMs, opts),
  };
}

/** Ping, write and read back: a store that accepts connections but cannot write is not healthy. */
export async function storeHealth(uri: string, database: string, timeoutMs: number, opts: { quick?: boolean } = {}): Promise<HealthResult> {
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(uri, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    socketTimeoutMS: timeoutMs * 2,
  });
  try {
    await client.connect();
    const db = client.db(database);
    await db.command({ ping: 1 });
    if (opts.quick) return { healthy: true, detail: 'ping ok' };
    const probe = `health-${process.pid}-${Date.now()}`;
    const coll = db.collection<{ _id: string; at: Date }>(HEALTH_COLLECTION);
    // Idempotent: keyed on a probe id unique to this call.
    await coll.updateOne({ _id: probe }, { $set: { at: new Date() } }, { upsert: true });
    const back = await coll.findOne({ _id: probe });
    await coll.deleteOne({ _id: probe });
    if (!back) return { healthy: false, detail: 'wrote a probe document but could not read it back' };
    return { healthy: true, detail: 'ping, write and read ok' };
  } catch (err) {
    return { healthy: false, detail: errorText(err) };
  } finally {
    // Bounded too: the probe's answer is given, and a close that hangs must not hold its caller.
    await within(client.close().catch(() => undefined), timeoutMs);
  }
}

/**
 * The bus: the embedded nats-server (its one seed's address, /healthz on bus.monitorPort), or an
 * external cluster, healthy when any of its nodes answers (src/stack/bus-health.ts).
 */
export function busService(config: LoadedConfig): ServiceDef {
  const seeds = parseSeedList(config.bus.url);
  const { host, port } = seeds[0];
  const monitor = config.bus.monitorPort;
  return {
    name: 'bus',
    embedded: config.bus.embedded,
    address: seedAddresses(seeds),
    ports: config.bus.embedded
      ? [
          { host, port, what: 'NATS client port', path: 'bus.url' },
          { host, port: monitor, what: 'NATS monitoring port', path: 'bus.monitorPort' },
        ]
      : seeds.map((s) => ({ host: s.host, port: s.port, what: 'NATS seed', path: 'bus.url' })),
    spec: async (tools) => {
      if (!config.bus.embedded) throw new Error('the bus is external (bus.embedded: false): Layer 1 starts no nats-server');
      // Listeners, JetStream and the users with their permissions all come from the ACL policy.
      const { renderBus } = await import('../../kernels/message-bus/render');
      const { confFile } = renderBus(config);
      return { name: 'bus', command: tools.natsServer, args: ['-c', confFile] };
    },
    health: async (timeoutMs) => {
      if (!config.bus.embedded) return clusterHealth(config, timeoutMs);
      try {
        const res = await fetch(`http://${hostText(host)}:${monitor}/healthz?js-enabled-only=true`, {
          signal: AbortSignal.timeout(timeoutMs),
        });
        const body = (await res.json()) as { status?: string; error?: string };
        return res.ok && body.status === 'ok'
          ? { healthy: true, detail: 'healthz ok, JetStream enabled' }
          : { healthy: false, detail: body.error ?? `healthz answered ${res.status}` };
      } catch (err) {
        return { healthy: false, detail: errorText(err) };
      }
    },
  };
}

export function tcpHealth(host: string, port: number, timeoutMs: number): Promise<HealthResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ healthy: true, detail: 'TCP connect ok' });
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ healthy: false, detail: `no answer within ${timeoutMs} ms` });
    });
    socket.once('error', (err) => resolve({ healthy: false, detail: err.message }));
  });
}

/** Resolves true when something already listens on host:port. */
export function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(true));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

export function services(config: LoadedConfig): ServiceDef[] {
  return [temporalService(config), storeService(config), busService(config)];
}
