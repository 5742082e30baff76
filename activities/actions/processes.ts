/** The process actions: kill_process, a signal to one managed process; start_server, an embedded server started again if dead. */
import { ACTION_RECORDS_COLLECTION } from '../../src/clients/collections';
import { startServerOnce } from '../../src/stack/server-start';
import { action, ActionErrorType, failure, idempotencyKey, type ActionDeps, type ActionGroup } from './shared';

export function processActions({ config, db, pm }: ActionDeps): ActionGroup<'kill_process' | 'start_server'> {
  return {
    // Idempotent: starts only a dead server, under the claim the server supervisor also takes (src/stack/server-start.ts).
    start_server: action('start_server', async ({ server }) => {
      const r = await startServerOnce(config, pm, server);
      return { server, outcome: r.outcome, pid: 'pid' in r ? r.pid : pm.pid(server) };
    }),
    kill_process: action('kill_process', async ({ process: name, signal }, meta) => {
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
        return { process: name, pid, signalled: pid !== null && pm.signal(name, signal) };
      }
      const records = db.collection<{ _id: string; process: string; pid: number | null; signal: string; at: Date }>(ACTION_RECORDS_COLLECTION);
      const _id = `${idempotencyKey(meta)}:kill_process`;
      // Idempotent: the pid this step targets is recorded (insert-only) before any signal, so a
      // retry signals that pid again only while it still runs, never a successor started meanwhile.
      await records.updateOne({ _id }, { $setOnInsert: { process: name, pid: pm.pid(name), signal, at: new Date() } }, { upsert: true });
      const target = (await records.findOne({ _id }))?.pid ?? null;
      if (target === null || pm.pid(name) !== target) return { process: name, pid: target, signalled: false };
      return { process: name, pid: target, signalled: pm.signal(name, signal) };
    }),
  };
}
