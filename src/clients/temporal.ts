/**
 * Temporal connections built from configuration alone, so the same code reaches the embedded dev
 * server or a real cluster / Temporal Cloud (addresses, namespace, TLS).
 *
 * The SDK's connections take one address. A cluster's frontends are listed in `temporal.address`,
 * comma-separated, and a process connects to the first that answers ({@link connectFirst}); it stays
 * on that frontend (the SDK reconnects to it) until it connects again. For failover of processes
 * already connected, give the address of a load balancer in front of the frontends instead
 * (docs/deploy.md).
 */
import { readFileSync } from 'node:fs';
import { splitHostPort, tcpRefusal } from '../net-probe';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { TLSConfig } from '@temporalio/client';
import type { LoadedConfig } from '../config/load';
import { errorText } from '../domain/errors';

/** The frontend addresses of `temporal.address`, in the order they are tried. */
export function temporalAddresses(config: Pick<LoadedConfig, 'temporal'>): string[] {
  return config.temporal.address
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
}

/**
 * `temporal.tls` as the SDK takes it (Connection and NativeConnection alike): `true` is TLS with the
 * system's root CAs; files are read now, relative to the config file.
 */
export function tlsOptions(config: Pick<LoadedConfig, 'temporal' | 'rootDir'>): TLSConfig | undefined {
  const tls = config.temporal.tls;
  if (!tls) return undefined;
  if (tls === true) return {};
  const read = (f?: string): Buffer | undefined => (f ? readFileSync(path.resolve(config.rootDir, f)) : undefined);
  const cert = read(tls.certFile);
  const key = read(tls.keyFile);
  return {
    serverNameOverride: tls.serverName,
    serverRootCACertificate: read(tls.caFile),
    clientCertPair: cert && key ? { crt: cert, key } : undefined,
  };
}

/** No frontend of `temporal.address` could be connected to; `cause` is the last one's error. */
export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
  constructor(
    readonly failures: Array<{ address: string; error: string }>,
    options?: { cause?: unknown },
  ) {
    super(`could not connect to any Temporal frontend: ${failures.map((f) => `${f.address} (${f.error})`).join('; ')}`, options);
  }
}

/** Null when `address` (HOST:PORT) accepts a TCP connection within `timeoutMs`, else why not. */
function addressRefusal(address: string, timeoutMs: number): Promise<string | null> {
  const { host, port } = splitHostPort(address);
  return tcpRefusal(host, port, timeoutMs);
}

/** How long the TCP look at each of several frontends may take before the connections are tried. */
const TCP_LOOK_MS = 1_000;

/**
 * Connects to the first of `addresses` that answers, in order. With one address its own error is
 * thrown unchanged; with several, one naming each address tried and why it failed. Several are
 * first looked at over TCP, side by side: one that refuses is passed over at once, not after the
 * SDK's connect timeout (it keeps retrying a refused address until its deadline).
 */
export async function connectFirst<T>(
  addresses: readonly string[],
  connect: (address: string) => Promise<T>,
  look: (address: string) => Promise<string | null> = (a) => addressRefusal(a, TCP_LOOK_MS),
): Promise<T> {
  if (addresses.length === 0) throw new Error('temporal.address names no frontend');
  if (addresses.length === 1) return connect(addresses[0]);
  const refusals = await Promise.all(addresses.map(look));
  const failures: Array<{ address: string; error: string }> = [];
  let last: unknown;
  for (const [i, address] of addresses.entries()) {
    if (refusals[i] !== null) {
      failures.push({ address, error: refusals[i] });
      continue;
    }
    try {
      return await connect(address);
    } catch (err) {
      failures.push({ address, error: errorText(err) });
      last = err;
    }
  }
  throw new TemporalUnreachableError(failures, { cause: last });
}

/** A client connection to the first frontend that answers. */
export function connectTemporal(config: LoadedConfig, connectTimeoutMs = 5_000): Promise<Connection> {
  const tls = tlsOptions(config);
  return connectFirst(temporalAddresses(config), (address) => Connection.connect({ address, tls, connectTimeout: connectTimeoutMs }));
}

export async function connectClient(config: LoadedConfig, connectTimeoutMs = 5_000): Promise<Client> {
  const connection = await connectTemporal(config, connectTimeoutMs);
  return new Client({ connection, namespace: config.temporal.namespace });
}
