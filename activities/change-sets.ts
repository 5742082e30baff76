/**
 * The change-set activities (issue 16 "Apply safely"), on the coding agent's task queue
 * (workers/coding-agent.ts): they write files, so they run where the fixers run, one process. The
 * change-set workflows (workflows/change-set.ts) call them; the verification between staging and
 * promotion is the verification workflow, run as a child on the scratch copy.
 *
 * Each is idempotent, and says why at its definition. Facts go to the store's `change_sets`
 * (insert-once), promotions and rollbacks to the immutable log (src/coding-agent/records.ts).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Db } from 'mongodb';
import type { ChangeSetCommandReport, ChangeSetFileRecord, ChangeSetRollbackOutcome } from '../contracts/change-set';
import type { VerificationCheckReport, VerificationOutcome } from '../contracts/verification';
import { CHANGE_SETS_COLLECTION } from '../src/clients/collections';
import { immutableLogClient } from '../kernels/registry';
import { promote, readStaged, removeScratch, rollback, stageChangeSet } from '../src/coding-agent/apply';
import { UnsafeChangeError, type ChangeSet } from '../src/coding-agent/change-set';
import { appendChangeEntry, CHANGE_PROMOTED_KIND, CHANGE_ROLLED_BACK_KIND, factsOf, recordFact, type ChangeSetFact } from '../src/coding-agent/records';
import type { LoadedConfig } from '../src/config/load';
import { REPO_ROOT } from '../src/stack/tools';
import { activityContext, heartbeatWhile } from './actions/context';

/** The failure type of a change set refused as unsafe (a path, a diff that does not apply, a live file changed under it): not retried. */
export const UNSAFE_CHANGE = 'UnsafeChange';
/** How far back a retried log append looks for its own entry outside an activity. */
const LOG_LOOKBACK_MS = 60 * 60_000;

export interface ChangeSetActivityDeps {
  config: LoadedConfig;
  db: Db;
  /** The live project tree. @default this installation (REPO_ROOT) */
  projectRoot?: string;
}

export interface StageResult {
  ok: boolean;
  /** What the checks would see in the copy, as one hash: a verification of the same fingerprint holds for it. */
  fingerprint: string | null;
  scratchRoot: string | null;
  /** Project files changed, relative to the root: what the targeted tests are chosen by. */
  changedFiles: string[];
  files: ChangeSetFileRecord[];
  commands: ChangeSetCommandReport[];
  error: string | null;
}

const unsafe = (err: unknown): never => {
  if (err instanceof UnsafeChangeError) throw ApplicationFailure.create({ type: UNSAFE_CHANGE, message: err.message, nonRetryable: true });
  throw err;
};

/** The project files a staged change set changes, sorted: with the kernel, what selects the targeted tests and lint targets. */
const changedFilesOf = (staged: { files: Array<{ root: string; path: string }> }): string[] => staged.files.filter((f) => f.root === 'project').map((f) => f.path).sort();

/** The most diff text the file records returned to a workflow carry in all (the store's facts and the log have them whole). */
export const RETURNED_DIFF_CHARS = 48 * 1024;

/**
 * The file records with their diffs cut to a shared budget: a restored package is a hundred files
 * and a megabyte of diff, too much for the workflow's history; the hashes stay whole.
 */
export function boundedDiffs(files: ChangeSetFileRecord[], budget = RETURNED_DIFF_CHARS): ChangeSetFileRecord[] {
  let left = budget;
  return files.map((f) => {
    const keep = Math.max(0, Math.min(f.diff.length, left));
    left -= keep;
    return keep === f.diff.length ? f : { ...f, diff: `${f.diff.slice(0, keep)}\n… (${f.diff.length - keep} more characters: \`layer1 incidents show\` or the change_sets collection)\n` };
  });
}

export interface VerificationRecord {
  id: string;
  incidentId: string | null;
  changeSet: ChangeSet;
  outcome: VerificationOutcome;
  /** The change set whose checks were kept instead of run. */
  reusedFrom?: string | null;
  /** The kernel whose tests were the targeted ones. */
  kernel?: string | null;
}

export interface PriorVerification {
  changeSetId: string;
  checks: VerificationCheckReport[];
}

/** The first original `verified` fact with this fingerprint, kernel and changed files, every one of `checks` passing. */
async function findPriorVerification(db: Db, changedFiles: string[], want: { fingerprint: string; checks: string[]; kernel: string | null }): Promise<PriorVerification | null> {
  const facts = await db.collection<ChangeSetFact>(CHANGE_SETS_COLLECTION).find({ state: 'verified', fingerprint: want.fingerprint }).toArray();
  const changed = changedFiles.join('\n');
  const hit = facts.find(
    (f) =>
      !f.reusedFrom &&
      f.checkedFor !== undefined &&
      f.checkedFor.kernel === want.kernel &&
      f.checkedFor.changedFiles.join('\n') === changed &&
      want.checks.every((name) => f.checks.some((c) => c.name === name && c.ok)),
  );
  return hit ? { changeSetId: hit.changeSetId, checks: hit.checks.filter((c) => want.checks.includes(c.name)) } : null;
}

const sinceMs = (): number => (activityContext()?.info.scheduledTimestampMs ?? Date.now() - LOG_LOOKBACK_MS) - 60_000;

export function createChangeSetActivities({ config, db, projectRoot = REPO_ROOT }: ChangeSetActivityDeps) {
  const roots = { projectRoot, stateDir: config.stateDir };
  const base = (id: string, incidentId: string | null, cs: ChangeSet) => ({
    changeSetId: id, incidentId, fixer: cs.fixer, params: cs.params, summary: cs.summary, restartKernel: cs.restartKernel, at: new Date(),
  });
  const filesOf = (staged: Awaited<ReturnType<typeof readStaged>>): ChangeSetFileRecord[] =>
    staged.files.map(({ root, path, source, beforeSha256, afterSha256, diff }) => ({ root, path, source, beforeSha256, afterSha256, diff }));

  return {
    /**
     * Checks the change set and stages it in a fresh scratch copy (its files written there, its
     * commands run there); records the `staged` fact, or `failed` with why. Never writes live.
     * Idempotent: each attempt starts from a fresh copy, and the fact is inserted once.
     */
    async stageChangeSet({ id, incidentId, changeSet }: { id: string; incidentId: string | null; changeSet: ChangeSet }): Promise<StageResult> {
      let staged;
      try {
        staged = await heartbeatWhile(stageChangeSet(changeSet, { ...roots, id }));
      } catch (err) {
        if (!(err instanceof UnsafeChangeError)) throw err;
        await recordFact(db, { ...base(id, incidentId, changeSet), state: 'failed', files: [], commands: [], checks: [], error: `refused: ${err.message}` });
        return { ok: false, fingerprint: null, scratchRoot: null, changedFiles: [], files: [], commands: [], error: `refused: ${err.message}` };
      }
      const files = filesOf(staged);
      const error = staged.ok ? null : `a command failed in the scratch copy: ${staged.commands.find((c) => !c.ok)?.why ?? '?'}`;
      await recordFact(db, { ...base(id, incidentId, changeSet), state: staged.ok ? 'staged' : 'failed', files, commands: staged.commands, checks: [], error, fingerprint: staged.fingerprint ?? null });
      // A staging that failed is not verified: its copy is of no further use.
      if (!staged.ok) await removeScratch(config.stateDir, id);
      return { ok: staged.ok, fingerprint: staged.fingerprint ?? null, scratchRoot: staged.scratchRoot, changedFiles: staged.files.filter((f) => f.root === 'project').map((f) => f.path), files: boundedDiffs(files), commands: staged.commands, error };
    },

    /**
     * Records the verification's outcome (`verified`, or `failed` with every check's output) and
     * drops the scratch copy. Idempotent: an insert-once fact and a removal.
     */
    async recordChangeSetVerification({ id, incidentId, changeSet, outcome, reusedFrom = null, kernel = null }: VerificationRecord): Promise<void> {
      const staged = await readStaged(config.stateDir, id).catch(unsafe);
      const failed = outcome.checks.filter((c) => !c.ok).map((c) => c.name);
      await recordFact(db, {
        ...base(id, incidentId, changeSet),
        state: outcome.ok ? 'verified' : 'failed',
        files: filesOf(staged),
        commands: staged.commands,
        checks: outcome.checks,
        error: outcome.ok ? null : `verification failed in the scratch copy: ${failed.join(', ')}`,
        fingerprint: staged.fingerprint ?? null,
        reusedFrom,
        checkedFor: { kernel, changedFiles: changedFilesOf(staged) },
      });
      await removeScratch(config.stateDir, id);
    },

    /**
     * Read-only: an earlier change set verified on a scratch copy with this fingerprint, for the same
     * kernel and changed files (what selects the tests and lint targets), every one of `checks`
     * passing there — the checks would be the same and see the same bytes again — or null.
     */
    async priorVerification({ id, fingerprint, checks, kernel = null }: { id: string; fingerprint: string; checks: string[]; kernel?: string | null }): Promise<PriorVerification | null> {
      return findPriorVerification(db, changedFilesOf(await readStaged(config.stateDir, id).catch(unsafe)), { fingerprint, checks, kernel });
    },

    /**
     * Promotes a verified change set (backup, atomic writes, live commands) and records `promoted`
     * (the workflow appends the log entry once the kernel is back, `logChangeSetPromoted`). Refuses one without a `verified`
     * fact: verification is what allows promotion, whoever calls this.
     * Idempotent: promote() finds its backup manifest and skips files already written; the fact is
     * inserted once.
     */
    async promoteChangeSet({ id, incidentId, changeSet }: { id: string; incidentId: string | null; changeSet: ChangeSet }): Promise<{ ok: boolean; files: ChangeSetFileRecord[]; commands: ChangeSetCommandReport[] }> {
      const facts = await factsOf(db, id);
      if (!facts.some((f) => f.state === 'verified')) {
        throw ApplicationFailure.create({ type: UNSAFE_CHANGE, message: `change set ${id} was not verified: not promoted`, nonRetryable: true });
      }
      const promoted = await heartbeatWhile(promote(changeSet, { ...roots, id })).catch(unsafe);
      const files = filesOf(await readStaged(config.stateDir, id));
      await recordFact(db, { ...base(id, incidentId, changeSet), state: 'promoted', files, commands: promoted.commands, checks: [], error: promoted.ok ? null : 'a live command failed' });
      return { ok: promoted.ok, files: boundedDiffs(files), commands: promoted.commands };
    },

    /**
     * Appends `coding_agent.change_promoted` (the files with their diffs) to the immutable log.
     * Idempotent: the entry is looked up in the log's recent tail before it is appended.
     */
    async logChangeSetPromoted({ id, incidentId, changeSet }: { id: string; incidentId: string | null; changeSet: ChangeSet }): Promise<{ seq: number }> {
      const files = filesOf(await readStaged(config.stateDir, id).catch(unsafe));
      const entry = await appendChangeEntry(immutableLogClient(config, 10_000), CHANGE_PROMOTED_KIND, { changeSetId: id, incidentId, fixer: changeSet.fixer, summary: changeSet.summary, files }, sinceMs());
      return { seq: entry.seq };
    },

    /**
     * Restores a promoted change set's files from its backup (checked by hashes), runs its live
     * commands again, records `rolled_back` and appends `coding_agent.change_rolled_back`.
     * Idempotent: the backed-up bytes are the same however often they are written; fact and entry once.
     */
    async rollbackChangeSet({ id }: { id: string }): Promise<Omit<ChangeSetRollbackOutcome, 'kernel'> & { restartKernel: string | null }> {
      const facts = await factsOf(db, id);
      const promotedFact: ChangeSetFact | undefined = facts.find((f) => f.state === 'promoted');
      if (!promotedFact) throw ApplicationFailure.create({ type: UNSAFE_CHANGE, message: `change set ${id} was never promoted: nothing to roll back`, nonRetryable: true });
      const r = await heartbeatWhile(rollback({ ...roots, id })).catch(unsafe);
      const error = r.ok ? null : r.files.some((f) => !f.ok) ? 'a restored file does not have its before-hash' : 'a live command failed after the restore';
      await recordFact(db, { ...promotedFact, at: new Date(), state: 'rolled_back', commands: r.commands, checks: [], error });
      await appendChangeEntry(
        immutableLogClient(config, 10_000),
        CHANGE_ROLLED_BACK_KIND,
        { changeSetId: id, incidentId: promotedFact.incidentId, fixer: promotedFact.fixer, summary: promotedFact.summary, files: promotedFact.files },
        sinceMs(),
      );
      return { id, incidentId: promotedFact.incidentId, ok: r.ok, files: r.files, commands: r.commands, error, restartKernel: promotedFact.restartKernel };
    },
  };
}

export type ChangeSetActivities = ReturnType<typeof createChangeSetActivities>;
