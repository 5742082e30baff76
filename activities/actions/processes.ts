/**
 * The process actions: kill_process, a signal to one managed process (escalated to SIGKILL after a
 * grace); start_server, an embedded server started again if dead.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ACTION_RECORDS_COLLECTION } from '../../src/clients/collections';
import { procStartTicks, procStatFields } from '../../src/process/manager';
import { startServerOnce } from '../../src/stack/server-start';
import { heartbeat } from './context';
import { action, ActionErrorType, failure, idempotencyKey, type ActionDeps, type ActionGroup } from './shared';

export function processActions({ config, db, pm }: ActionDeps): ActionGroup<'kill_process' | 'start_server'> {
  return {
    // Idempotent: starts only a dead server, under the claim the server supervisor also takes (src/stack/server-start.ts).
    start_server: action('start_server', async ({ server }) => {
      const r = await startServerOnce(config, pm, server);
      return { server, outcome: r.outcome, pid: 'pid' in r ? r.pid : pm.pid(server) };
    }),
    kill_process: action('kill_process', async ({ process: name, signal, graceMs }, meta) => {
      const known = pm.list();
      if (!known.includes(name)) {
        throw failure(ActionErrorType.UNKNOWN_PROCESS, `no managed process named "${name}" (known: ${known.join(', ') || 'none'})`, {
          process: name,
          known,
        });
      }
      // Idempotent by nature: continuing a process that runs does nothing. No record either, so
      // resuming a stopped store does not wait on that store.
      if (signal === 'SIGCONT') {
        const pid = pm.pid(name);
        return { process: name, pid, signalled: pid !== null && pm.signal(name, signal), escalated: false, gone: null };
      }
      const records = db.collection<{ _id: string; process: string; pid: number | null; signal: string; at: Date }>(ACTION_RECORDS_COLLECTION);
      const _id = `${idempotencyKey(meta)}:kill_process`;
      // Idempotent: the pid this step targets is recorded (insert-only) before any signal, so a
      // retry signals that pid again only while it still runs, never a successor started meanwhile.
      await records.updateOne({ _id }, { $setOnInsert: { process: name, pid: pm.pid(name), signal, at: new Date() } }, { upsert: true });
      const target = (await records.findOne({ _id }))?.pid ?? null;
      if (target === null || pm.pid(name) !== target) {
        return { process: name, pid: target, signalled: false, escalated: false, gone: graceMs > 0 ? target === null || !running(target) : null };
      }
      const ticks = procStartTicks(target);
      const signalled = pm.signal(name, signal);
      if (signal !== 'SIGTERM' || graceMs === 0) return { process: name, pid: target, signalled, escalated: false, gone: null };
      // TERM asks; a runaway in a busy loop never runs its handler, and one that ignores TERM stays.
      if (await exits(target, ticks, graceMs)) return { process: name, pid: target, signalled, escalated: false, gone: true };
      // Still the same process (its start time guards against a recycled pid): KILL cannot be ignored.
      if (procStartTicks(target) === ticks) process.kill(target, 'SIGKILL');
      const gone = await exits(target, ticks, KILL_WAIT_MS);
      if (!gone) {
        throw failure(ActionErrorType.PROCESS_SURVIVED, `${name} (pid ${target}) is still running ${graceMs} ms after SIGTERM and ${KILL_WAIT_MS} ms after SIGKILL`, {
          process: name,
          pid: target,
          state: procStatFields(target)?.[0] ?? null,
        });
      }
      return { process: name, pid: target, signalled, escalated: true, gone };
    }),
  };
}

/** How long a SIGKILLed process may take to be gone (it is reaped by its parent, or by init). */
const KILL_WAIT_MS = 5_000;

/** The process is gone, or a zombie (dead, only not reaped yet), or another process took its pid. */
function running(pid: number, ticks: number | null = procStartTicks(pid)): boolean {
  const state = procStatFields(pid)?.[0];
  return state !== undefined && state !== 'Z' && state !== 'X' && procStartTicks(pid) === ticks;
}

/** Waits up to `ms` for `pid` to stop running; heartbeats so the wait is not taken for a dead worker. */
async function exits(pid: number, ticks: number | null, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (running(pid, ticks)) {
    if (Date.now() >= deadline) return false;
    heartbeat({ waitingFor: pid });
    await sleep(50);
  }
  return true;
}
