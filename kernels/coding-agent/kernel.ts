/**
 * The coding agent kernel's behaviour: its self-test. Its processes are the coding-agent workers
 * (its manifest's `worker`), which register their fixers and knowledge when they start.
 */
import { timedCheck } from '../../src/domain/checks';
import { readManifest } from '../../src/coding-agent/models';
import { REGISTRATIONS_COLLECTION } from '../../src/clients/collections';
import { livePollers, type KernelBehaviour } from '../kernel';

interface Registration {
  _id: string;
  kernel: string;
  pid: number;
  fixers: string[];
  /** Each model file with its SHA-256 as the worker loaded it; null when it refused them (see modelError). */
  models?: Array<{ file: string; sha256: string }> | null;
  modelError?: string | null;
  knowledge: number;
  at: Date;
}

export const codingAgentKernel: KernelBehaviour = {
  readiness: async (ctx) => {
    const queue = ctx.config.temporal.taskQueues.codingAgent;
    const pollers = await livePollers(ctx, queue).catch(() => [] as string[]);
    const regs = await ctx.db
      .collection<Registration>(REGISTRATIONS_COLLECTION)
      .find({ kernel: 'coding_agent' })
      .toArray()
      .catch(() => [] as Registration[]);
    // Only registrations of workers that are polling right now count.
    const live = regs.filter((r) => pollers.some((p) => p.startsWith(`${r._id}:${r.pid}@`)));
    return Promise.all([
      timedCheck('task_queue_pollers', async () => {
        if (pollers.length === 0) throw new Error(`no live poller on ${queue}`);
        return `${pollers.length} poller(s) on ${queue}`;
      }),
      timedCheck('fixers_available', async () => {
        const fixers = [...new Set(live.flatMap((r) => r.fixers))];
        if (fixers.length === 0) throw new Error('no live coding-agent worker has registered a fixer');
        return `fixers: ${fixers.join(', ')}`;
      }),
      timedCheck('models_loaded', async () => {
        if (live.length === 0) throw new Error('no live coding-agent worker has loaded its models');
        const manifest = readManifest(ctx.config.stateDir);
        // What each live worker really works with, against the manifest: a worker that refused a
        // corrupt file, or loaded one that differs, is not ready.
        const wrong = live.filter((r) => !r.models || Object.entries(manifest?.files ?? {}).some(([f, sha]) => !r.models?.some((m) => m.file === f && m.sha256 === sha)));
        if (wrong.length > 0) throw new Error(wrong.map((r) => `${r._id}: ${r.modelError ?? 'loaded models that differ from the manifest'}`).join('; '));
        return `models loaded and matching the manifest in ${live.map((r) => r._id).join(', ')}`;
      }),
      timedCheck('knowledge_loaded', async () => {
        if (live.length === 0) throw new Error('no live coding-agent worker has loaded the knowledge base');
        return `knowledge base loaded (${Math.max(...live.map((r) => r.knowledge))} signature(s))`;
      }),
    ]);
  },
};

