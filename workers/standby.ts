/**
 * The spare's side of the process manager's standby protocol (ProcessSpec.standby): a worker
 * started with LAYER1_STANDBY=1 loads the SDK, connects and creates its Temporal worker, writes its
 * pid to the warm file, and only then waits for SIGUSR2 to start polling. Promotion therefore
 * costs milliseconds instead of the seconds a cold start spends loading.
 *
 * Imported first by each worker entry: SIGUSR2's default action kills the process, so the handler
 * must exist before the slow requires (the manager also checks /proc that it does before it sends
 * the signal).
 */
import { writeFileSync } from 'node:fs';
// Node built-ins only: cheap to load before the handler is installed.
import { PROMOTE_SIGNAL, STANDBY_ENV, STANDBY_WARM_FILE_ENV } from '../src/process/manager';

export const isStandby = process.env[STANDBY_ENV] === '1';

let promotedAt: number | null = isStandby ? null : 0;
const waiters: Array<() => void> = [];
if (isStandby) {
  process.on(PROMOTE_SIGNAL, () => {
    if (promotedAt !== null) return; // a repeated signal changes nothing
    promotedAt = Date.now();
    // From now on a worker like any other: nothing it starts may take itself for a spare.
    delete process.env[STANDBY_ENV];
    delete process.env[STANDBY_WARM_FILE_ENV];
    for (const w of waiters.splice(0)) w();
  });
}

/** Resolves at once in a normal process; in a spare, once it has been promoted. */
export function promotion(): Promise<void> {
  if (promotedAt !== null) return Promise.resolve();
  return new Promise((resolve) => waiters.push(resolve));
}

/**
 * In a spare: true once promoted, false when it was told to stop first (SIGTERM/SIGINT; the
 * Temporal runtime's own shutdown hook has no running worker to stop yet). True at once otherwise.
 */
export async function awaitPromotion(): Promise<boolean> {
  if (promotedAt !== null) return true;
  let onStop: (() => void) | undefined;
  const stopped = new Promise<false>((resolve) => {
    onStop = () => resolve(false);
    process.once('SIGTERM', onStop);
    process.once('SIGINT', onStop);
  });
  try {
    return await Promise.race([promotion().then(() => true as const), stopped]);
  } finally {
    process.off('SIGTERM', onStop!);
    process.off('SIGINT', onStop!);
  }
}

/** A spare tells the manager its start-up is done (a no-op in a normal process). */
export function announceWarm(): void {
  const file = process.env[STANDBY_WARM_FILE_ENV];
  if (!isStandby || !file || promotedAt !== null) return;
  try {
    writeFileSync(file, `${process.pid}\n`);
  } catch {
    // Only a status hint: a spare not known to be warm is promoted all the same.
  }
}
