/**
 * The self-healing kernel's behaviour: its self-test. Its processes are the healing workers
 * (its manifest's `worker`), which run every workflow and the trigger monitors.
 */
import { formatProblem } from '../../src/config/load';
import { timedCheck } from '../../src/domain/checks';
import { loadPlaybooks } from '../../src/playbooks/loader';
import { workerProcesses } from '../../src/stack/workers';
import { SIGNATURES_COLLECTION, TRIGGER_MONITORS_COLLECTION } from '../../src/clients/collections';
import { livePollers, type KernelBehaviour } from '../kernel';
import { MONITOR_FRESH_MS, selfHealingManifest } from './kernel-manifest';

export { MONITOR_FRESH_MS };

/** Every playbook under playbooks/ loads and validates (none at all is fine). */
async function playbooksLoaded(): Promise<string> {
  const { playbooks, problems } = loadPlaybooks();
  if (problems.length > 0) {
    throw new Error(`${problems.length} problem(s): ${problems.slice(0, 3).map(formatProblem).join('; ')}`);
  }
  return playbooks.length === 0 ? 'no playbooks defined yet' : `${playbooks.length} playbook(s) valid`;
}

export const selfHealingKernel: KernelBehaviour = {
  readiness: async (ctx) =>
    Promise.all([
      timedCheck('playbooks_loaded', playbooksLoaded),
      timedCheck('triggers_subscribed', async () => {
        const replicas = workerProcesses(ctx.config, selfHealingManifest).filter((p) => ctx.pm.isAlive(p));
        if (replicas.length === 0) throw new Error('no healing replica is running');
        const fresh = await ctx.db
          .collection<{ _id: string; pid: number; at: Date; subscribed: boolean }>(TRIGGER_MONITORS_COLLECTION)
          .find({ at: { $gte: new Date(Date.now() - MONITOR_FRESH_MS) }, subscribed: true })
          .toArray();
        const live = replicas.filter((r) => fresh.some((m) => m._id === r && m.pid === ctx.pm.pid(r)));
        if (live.length === 0) throw new Error(`no trigger monitor heartbeat within ${MONITOR_FRESH_MS} ms from ${replicas.join(', ')}`);
        return `trigger monitors live in ${live.join(', ')}`;
      }),
      timedCheck('knowledge_base', async () => {
        await ctx.db.command({ ping: 1 });
        const n = await ctx.db.collection(SIGNATURES_COLLECTION).estimatedDocumentCount();
        return `store reachable, ${n} known signature(s)`;
      }),
      timedCheck('replicas_polling', async () => {
        const queue = ctx.config.temporal.taskQueues.healing;
        const pollers = await livePollers(ctx, queue);
        const replicas = workerProcesses(ctx.config, selfHealingManifest);
        const missing = replicas.filter((r) => !pollers.some((p) => p.startsWith(`${r}:`)));
        // Every configured replica must poll: one down means a crash would stop the healing.
        if (missing.length > 0) throw new Error(`not polling ${queue}: ${missing.join(', ')} (${pollers.length}/${replicas.length} live)`);
        return `${pollers.length}/${replicas.length} replicas polling ${queue}`;
      }),
    ]),
};

