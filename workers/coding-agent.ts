/**
 * The coding-agent worker: polls its own task queue, where unknown failures are turned into
 * proposed fixes by its fixers, and where the verification workflow runs its project checks (tests,
 * lint, types). At start it loads the knowledge base and registers its fixers, which is what its
 * readiness self-test reads ("fixers available", "knowledge loaded").
 */
// First: a spare must catch its promotion signal before the slow requires below.
import './standby';
import { REGISTRATIONS_COLLECTION } from '../src/clients/collections';
// `/index` spelled out: an older build's dist/src/coding-agent/fixers.js would shadow the folder.
import { configuredFixers, Fixers, FIXER_NAMES, type Failure } from '../src/coding-agent/fixers/index';
import { chooseRemedy, proposeKnownFix, type RemedyTask } from '../src/coding-agent/remedy';
import { REPO_ROOT } from '../src/stack/tools';
import { ensureModels, loadModels, type LoadedModels } from '../src/coding-agent/models';
import type { RemedyChoice } from '../src/healing/remedies';
import type { Evidence } from '../src/healing/evidence';

import { createProjectCheckActivities } from '../activities/verification';
import { createChangeSetActivities } from '../activities/change-sets';
import { runWorker, type WorkerContext } from './run-worker';

let fixers: Fixers | undefined;
/** How often refused model files are read again. */
const MODEL_RETRY_MS = 2_000;
/** The models this process loaded at start (null: refused as corrupt, see `modelError`). */
let models: LoadedModels | null = null;
let modelError: string | null = null;

runWorker({
  kernel: 'coding_agent',
  taskQueue: (config) => config.temporal.taskQueues.codingAgent,
  activities: (ctx: WorkerContext) => {
    fixers = new Fixers(ctx.db);
    const f = fixers;
    const remedyDeps = { fixers: configuredFixers(ctx.config), projectRoot: REPO_ROOT, stateDir: ctx.config.stateDir };
    return {
      /** Read-only: computes a signature and looks it up. */
      async proposeFix(failure: Failure) {
        // The fixer catalogue is the model: a fixer it does not list is not used.
        if (!models?.fixers.includes('signature_lookup')) {
          throw new Error(`no usable fixer: ${modelError ?? 'the loaded fixer catalogue does not list signature_lookup'}`);
        }
        return { ...(await f.signatureLookup(failure)), model: models.files['fixers.json'] };
      },
      /**
       * An incident's task for a signature the knowledge base does not auto-apply: analyse the
       * evidence and its diagnostics and answer with a remedy — a fixer's change set for a code
       * fault, else the playbook that matches best (src/coding-agent/remedy.ts).
       * Read-only: fixers and the playbook match only read the trees.
       */
      async chooseRemedy(task: RemedyTask): Promise<RemedyChoice> {
        return chooseRemedy(task, remedyDeps);
      },
      /** The knowledge base's learned fixer proposes again for new evidence, without analysis. Read-only, as chooseRemedy. */
      async proposeKnownFix(input: { fixer: string; evidence: Evidence }): Promise<RemedyChoice> {
        return proposeKnownFix(input, remedyDeps);
      },
      // The verification workflow's project checks (tests, lint, types), run here, one at a time.
      ...createProjectCheckActivities(ctx),
      // Change sets staged in a scratch copy, promoted with a backup, rolled back (workflows/change-set.ts).
      ...createChangeSetActivities(ctx),
    };
  },
  onStart: async (ctx) => {
    // The model files its fixers load, checksummed and snapshotted (src/coding-agent/models.ts).
    await ensureModels(ctx.config.stateDir);
    try {
      models = loadModels(ctx.config.stateDir);
    } catch (err) {
      // Keep running, so the agent still answers and its readiness says why: a corrupt model file
      // is the model_file_corruption playbook's to restore (then it restarts this worker).
      modelError = (err as Error).message;
      ctx.log.error({ err: modelError }, 'model files refused');
    }
    const enabled = enabledFixers(models);
    const knowledge = await fixers!.loadKnowledge();
    const registrations = ctx.db.collection<{ _id: string }>(REGISTRATIONS_COLLECTION);
    // Idempotent: one document per worker name, replaced by each start.
    await registrations.updateOne(
      { _id: ctx.name },
      { $set: { kernel: 'coding_agent', pid: process.pid, fixers: enabled, models: modelList(models), modelError, knowledge, at: new Date() } },
      { upsert: true },
    );
    ctx.log.info({ fixers: enabled, models: models?.files ?? null, knowledge }, 'coding agent registered');
    // Refused models are read again every few seconds: a file put back without a restart (by hand, or
    // a fault's restore) makes the agent usable again, and its registration (what readiness reads) says so.
    const retry = models
      ? null
      : setInterval(() => {
          try {
            models = loadModels(ctx.config.stateDir);
          } catch {
            return;
          }
          modelError = null;
          if (retry) clearInterval(retry);
          const now = enabledFixers(models);
          registrations
            .updateOne({ _id: ctx.name, pid: process.pid } as never, { $set: { fixers: now, models: modelList(models), modelError: null } })
            .then(() => ctx.log.info({ fixers: now, models: models?.files }, 'model files loaded after a refusal'))
            .catch((err: unknown) => ctx.log.warn({ err }, 'could not record the models loaded'));
        }, MODEL_RETRY_MS);
    return async () => {
      if (retry) clearInterval(retry);
      await registrations.deleteOne({ _id: ctx.name, pid: process.pid } as never);
    };
  },
}).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/** The fixers of this code that the loaded fixer catalogue lists (none when the models were refused). */
function enabledFixers(m: LoadedModels | null): string[] {
  return FIXER_NAMES.filter((n) => m?.fixers.includes(n));
}

/** As stored: a list, since the store refuses field names with a dot (`fixers.json`). */
function modelList(m: LoadedModels | null): Array<{ file: string; sha256: string }> | null {
  return m ? Object.entries(m.files).map(([file, sha256]) => ({ file, sha256 })) : null;
}
