/**
 * What every verb shares: how it finds its config and how it reports progress. Light on purpose:
 * every verb file imports it at registration, so what it needs at run time it loads then.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/common';
import type { Command } from 'commander';
import type { Store } from '../src/clients/store';
import type { LoadedConfig } from '../src/config/load';
import { ExitCode, UserError } from '../src/errors';

/** Progress goes to stderr, so `--json` output on stdout stays machine-readable. */
export const progress = (message: string): void => {
  process.stderr.write(`• ${message}\n`);
};

export async function configOf(cmd: Command): Promise<LoadedConfig> {
  const { loadConfigCached } = await import('../src/config/cache');
  return loadConfigCached(cmd.optsWithGlobals<{ config?: string }>().config);
}

/** How long a verb that reads the store waits for it before saying it cannot reach it. */
const STORE_TIMEOUT_MS = 3_000;

const storeUnreachable = (config: LoadedConfig, err: unknown): UserError =>
  new UserError(`cannot reach the store at ${config.store.uri}: is it running? (layer1 status)`, ExitCode.PREREQUISITE, { cause: err });

/** Connection failures of the driver, before or during a call (named, so mongodb loads only when used). */
const isUnreachable = (err: unknown): boolean => err instanceof Error && /^Mongo(ServerSelection|Network|NetworkTimeout|TopologyClosed)Error$/.test(err.name);

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
    throw storeUnreachable(config, err);
  }
  try {
    return await fn(store);
  } catch (err) {
    throw isUnreachable(err) ? storeUnreachable(config, err) : err;
  } finally {
    await store.close().catch(() => undefined);
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
