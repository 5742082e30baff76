/**
 * What every verb shares: how it finds its config and how it reports progress. Light on purpose:
 * every verb file imports it at registration, so what it needs at run time it loads then.
 */
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';
import type { Command } from 'commander';
import type { Store } from '../src/clients/store';
import type { LoadedConfig } from '../src/config/load';
import { ExitCode, UserError } from '../src/errors';

/** Progress goes to stderr, so `--json` output on stdout stays machine-readable. */
export const progress = (message: string): void => {
  process.stderr.write(`• ${message}\n`);
};

/** The config the running verb loaded: the last-resort handler in cli/layer1.ts names its servers. */
let loaded: LoadedConfig | undefined;

export function loadedConfig(): LoadedConfig | undefined {
  return loaded;
}

export async function configOf(cmd: Command): Promise<LoadedConfig> {
  const { loadConfigCached } = await import('../src/config/cache');
  loaded = await loadConfigCached(cmd.optsWithGlobals<{ config?: string }>().config);
  return loaded;
}

/** How long a verb that reads the store waits for it before saying it cannot reach it. */
const STORE_TIMEOUT_MS = 3_000;
/** How long a verb waits to connect to Temporal before saying it cannot reach it. */
const TEMPORAL_CONNECT_TIMEOUT_MS = 5_000;

export type ServerName = 'temporal' | 'store' | 'bus';

/** `host:port` of a URL-ish address (mongodb://…, nats://…), without loading anything. */
function hostPortOf(url: string, defaultPort: number): string {
  const m = /^[a-z+]+:\/\/(?:[^@/]*@)?([^/?,]+)/i.exec(url);
  const hp = m?.[1] ?? url;
  return /:\d+$/.test(hp) ? hp : `${hp}:${defaultPort}`;
}

/**
 * The one line a verb prints when a server it needs does not answer: which server, where, and what
 * to do (exit code 4, {@link ExitCode.PREREQUISITE}). An embedded server is ours: `layer1 up` starts
 * it again (the server supervisor of the healing workers restarts a crashed Temporal or store by
 * itself within seconds), and its log says why it stopped. An external one is the operator's.
 */
export function serverDownError(config: LoadedConfig, server: ServerName, cause?: unknown): UserError {
  const where =
    server === 'temporal'
      ? { what: config.temporal.embedded ? 'the Temporal dev server' : 'the Temporal server', at: config.temporal.address, embedded: config.temporal.embedded, key: 'temporal.address' }
      : server === 'store'
        ? { what: config.store.embedded ? 'the store (FerretDB' : 'the store (MongoDB', at: hostPortOf(config.store.uri, 27017), embedded: config.store.embedded, key: 'store.uri' }
        : { what: config.bus.embedded ? 'the bus (nats-server' : 'the bus (NATS', at: config.bus.url.split(',').map((u) => hostPortOf(u.trim(), 4222)).join(','), embedded: config.bus.embedded, key: 'bus.url' };
  const name = where.what.includes('(') ? `${where.what} at ${where.at})` : `${where.what} at ${where.at}`;
  const todo = where.embedded
    ? `run \`layer1 up\` or check ${path.join(config.stateDir, 'logs', `${server}.log`)}`
    : `check that it runs and that ${where.key} in ${config.configFile} names it`;
  return new UserError(`${name} is not reachable: ${todo}`, ExitCode.PREREQUISITE, { cause });
}

/**
 * The server an error says is unreachable, if it says so: the store driver's connection errors
 * (named, so mongodb loads only when used), Temporal's UNAVAILABLE or DEADLINE_EXCEEDED and its
 * failed connect, the bus's refused connection. Follows `cause`.
 */
export function downServerOf(err: unknown): ServerName | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (/^Mongo(ServerSelection|Network|NetworkTimeout|TopologyClosed)Error$/.test(e.name)) return 'store';
    const code = (e as { code?: unknown }).code;
    if (e.name === 'ServiceError' && e.cause instanceof Error && [4, 14].includes((e.cause as { code?: number }).code ?? -1)) return 'temporal';
    if ((code === 14 || code === 4) && /UNAVAILABLE|DEADLINE_EXCEEDED/.test(e.message)) return 'temporal';
    if (/^Failed to connect before the deadline/.test(e.message) || e.name === 'TransportError') return 'temporal';
    if (e.name === 'ConnectionError' && /connection refused|timeout/i.test(e.message)) return 'bus';
  }
  return null;
}

/**
 * Runs `fn` with a store connection and closes it after. A store that is down (or goes down during
 * the call) is one line naming it, with exit code 4, not a stack trace.
 */
export async function withStore<T>(config: LoadedConfig, fn: (store: Store) => Promise<T>): Promise<T> {
  const { connectStore } = await import('../src/clients/store');
  let store: Store;
  try {
    store = await connectStore(config, STORE_TIMEOUT_MS);
  } catch (err) {
    throw serverDownError(config, 'store', err);
  }
  try {
    return await fn(store);
  } catch (err) {
    throw downServerOf(err) === 'store' ? serverDownError(config, 'store', err) : err;
  } finally {
    await store.close().catch(() => undefined);
  }
}

/**
 * Runs `fn` with a Temporal client and closes it after. Temporal down (or going down during the
 * call) is one line naming it, with exit code 4; so is a store or bus the call found down.
 */
export async function withTemporal<T>(config: LoadedConfig, fn: (client: Client) => Promise<T>): Promise<T> {
  const { connectClient } = await import('../src/clients/temporal');
  let client: Client;
  try {
    client = await connectClient(config, TEMPORAL_CONNECT_TIMEOUT_MS);
  } catch (err) {
    throw serverDownError(config, 'temporal', err);
  }
  try {
    return await fn(client);
  } catch (err) {
    const down = downServerOf(err);
    throw down ? serverDownError(config, down, err) : err;
  } finally {
    await client.connection.close().catch(() => undefined);
  }
}

/**
 * Waits for a run's result while polling one of its queries for progress, one query in flight at
 * a time and none left when it returns (the caller may close the connection next). A run that
 * failed with one of `reportFailureTypes` carries its report as the failure's first detail: that
 * report is returned, so callers print it the same way as a success.
 */
export async function followRun<R>(
  handle: WorkflowHandle,
  query: QueryDefinition<R>,
  onProgress: (progress: R) => void,
  reportFailureTypes: string[],
): Promise<R> {
  const { WorkflowFailedError } = await import('@temporalio/client');
  let inflight: Promise<void> | null = null;
  const poll = setInterval(() => {
    if (inflight) return;
    inflight = handle
      .query(query)
      .then(onProgress)
      .catch(() => undefined)
      .finally(() => {
        inflight = null;
      });
  }, 200);
  try {
    return (await handle.result()) as R;
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause as { type?: string; details?: unknown[] } | undefined;
      if (cause?.type && reportFailureTypes.includes(cause.type) && cause.details?.[0]) return cause.details[0] as R;
    }
    throw err;
  } finally {
    clearInterval(poll);
    await inflight;
  }
}
