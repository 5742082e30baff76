/**
 * `layer1 incidents` — the incidents the self-healing layer opened, newest first.
 * `layer1 incidents show ID` — one incident the way the seed tells it: its steps, diagnostics,
 * remedy, verification and time to heal (ID may be a unique prefix, with or without `inc-`).
 * `layer1 incidents rollback ID` — rolls back the incident's last promoted change set (or the change
 * set ID names): files restored from the backup, checked by hashes, kernel restarted (exit 1 if not).
 * `--json` prints incidents with the names of contracts/incident.ts (src/incidents/format.ts).
 */
import type { Command } from 'commander';
import { ExitCode, UserError } from '../src/errors';
import type { IncidentDoc } from '../src/incidents/format';
import type { Db } from 'mongodb';
import type { ChangeSetRollbackWorkflow } from '../contracts/change-set';
import { configOf, progress, withStore, withTemporal } from './cli-support';

/** Candidates fetched for a prefix: enough to name a few in the "ambiguous" message. */
const PREFIX_CANDIDATES = 10;

export function registerIncidentVerbs(program: Command): void {
  const incidents = program
    .command('incidents')
    .description('List incidents (newest first): id, state, signature, kernel, opened, time to heal, remedy; `incidents show ID` for one')
    .option('--state <state>', 'only open (not yet closed or reopened), closed or reopened incidents')
    .option('-n, --limit <n>', 'how many', (v) => Number(v), 20)
    .option('--json', 'print a JSON array of incidents')
    .action(async (_opts: unknown, cmd: Command) => {
      const opts = cmd.opts<{ state?: string; limit: number; json?: boolean }>();
      if (!Number.isInteger(opts.limit) || opts.limit < 1) throw new UserError('--limit expects a positive integer', ExitCode.USAGE);
      const { INCIDENT_STATE_FILTERS, incidentJson, incidentsTable, isIncidentStateFilter } = await import('../src/incidents/format');
      if (opts.state !== undefined && !isIncidentStateFilter(opts.state)) {
        throw new UserError(`--state expects one of ${Object.keys(INCIDENT_STATE_FILTERS).join(', ')}, got "${opts.state}"`, ExitCode.USAGE);
      }
      const config = await configOf(cmd);
      const { INCIDENTS_COLLECTION } = await import('../src/clients/collections');
      const docs = await withStore(config, (store) =>
        store.db
          .collection<IncidentDoc>(INCIDENTS_COLLECTION)
          .find(opts.state ? { state: { $in: INCIDENT_STATE_FILTERS[opts.state as keyof typeof INCIDENT_STATE_FILTERS] } } : {})
          .sort({ openedAt: -1, _id: -1 })
          .limit(opts.limit)
          .toArray(),
      );
      const rows = docs.map(incidentJson);
      if (opts.json) {
        console.log(JSON.stringify(rows));
        return;
      }
      if (rows.length === 0) console.log(opts.state ? `no ${opts.state} incidents` : 'no incidents recorded');
      else for (const line of incidentsTable(rows)) console.log(line);
    });

  incidents
    .command('show <id>')
    .description('Show one incident: the steps taken, diagnostics, remedy, verification checks and time to heal (ID may be a unique prefix)')
    .option('--json', 'print the incident as JSON')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{ json?: boolean }>();
      const config = await configOf(cmd);
      const { incidentDetail, incidentJson } = await import('../src/incidents/format');
      const { changeSetsOf } = await import('../src/coding-agent/records');
      const [doc, changeSets] = await withStore(config, async (store) => {
        const found = await findIncident(store.db, id);
        return [found, await changeSetsOf(store.db, found._id)] as const;
      });
      const incident = incidentJson(doc);
      // Added after the contract's fields: the coding agent's change sets for this incident, with their diffs and hashes.
      if (opts.json) console.log(JSON.stringify({ ...incident, changeSets }));
      else {
        for (const line of incidentDetail(incident)) console.log(line);
        for (const cs of changeSets) {
          console.log(`change set ${cs.id} (${cs.fixer}): ${cs.state}${cs.error ? ` — ${cs.error}` : ''}; ${cs.summary}`);
          for (const f of cs.files) console.log(`  ${f.root}:${f.path} ${f.beforeSha256?.slice(0, 12) ?? 'absent'} → ${f.afterSha256?.slice(0, 12) ?? 'absent'}`);
        }
      }
    });

  incidents
    .command('rollback <id>')
    .description("Roll back an incident's last promoted change set (or the change set ID names): its files restored from the backup, checked by hashes, and its kernel restarted")
    .option('--json', 'print the rollback as JSON')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{ json?: boolean }>();
      const config = await configOf(cmd);
      const { factsOf, lastPromotedOf } = await import('../src/coding-agent/records');
      // The change set: ID itself when it names one, else the incident's newest promoted one not rolled back.
      const target = await withStore(config, async (store) => {
        const facts = await factsOf(store.db, id);
        if (facts.length > 0) {
          const promoted = facts.find((f) => f.state === 'promoted');
          if (!promoted) throw new UserError(`change set ${id} was never promoted (it is ${facts[facts.length - 1]!.state}): nothing to roll back`, ExitCode.USAGE);
          return promoted;
        }
        const incident = await findIncident(store.db, id);
        const last = await lastPromotedOf(store.db, incident._id);
        if (!last) throw new UserError(`incident ${incident._id} has no promoted change set to roll back`, ExitCode.USAGE);
        return last;
      });
      const [{ CHANGE_SET_ROLLBACK_WORKFLOW, changeSetRollbackWorkflowId }, { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, WorkflowFailedError }, { findable }] = await Promise.all([
        import('../contracts/change-set'),
        import('@temporalio/client'),
        import('../contracts/search-attributes'),
      ]);
      if (!opts.json) progress(`rolling back change set ${target.changeSetId}${target.incidentId ? ` of ${target.incidentId}` : ''}: ${target.summary}`);
      const outcome = await withTemporal(config, async (client) => {
        // A durable workflow, one per change set: a CLI interrupted mid-way leaves the rollback running, and running the verb again waits for the same one.
        const handle = await client.workflow.start<ChangeSetRollbackWorkflow>(CHANGE_SET_ROLLBACK_WORKFLOW, {
          taskQueue: config.temporal.taskQueues.healing,
          workflowId: changeSetRollbackWorkflowId(target.changeSetId),
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          workflowExecutionTimeout: '15 minutes',
          ...findable({ kind: 'change-set-rollback', incident: target.incidentId, summary: `rollback of change set ${target.changeSetId}: ${target.summary}` }),
          args: [{ id: target.changeSetId, restartKernel: target.restartKernel }],
        });
        try {
          return await handle.result();
        } catch (err) {
          if (err instanceof WorkflowFailedError) throw new UserError(`rollback of change set ${target.changeSetId} failed: ${err.cause?.message ?? err.message}`, ExitCode.FAILURE, { cause: err });
          throw err;
        }
      });
      if (opts.json) console.log(JSON.stringify(outcome));
      else {
        for (const f of outcome.files) {
          const sha = f.restoredSha256 ? `sha256 ${f.restoredSha256}` : 'absent (deleted)';
          console.log(`${f.ok ? 'restored' : 'MISMATCH'} ${f.root}:${f.path} ${sha}${f.ok ? '' : `, expected ${f.expectedSha256 ?? 'absent'}`}`);
        }
        for (const c of outcome.commands) console.log(`${c.ok ? 'ran' : 'FAILED'} ${c.why}: ${c.command}`);
        if (outcome.kernel) console.log(`kernel ${outcome.kernel.name}: ${outcome.kernel.ready ? 'ready' : 'NOT READY'} (${outcome.kernel.detail})`);
        console.log(outcome.ok ? `change set ${outcome.id} rolled back` : `change set ${outcome.id} rolled back with errors: ${outcome.error ?? '?'}`);
      }
      if (!outcome.ok) process.exitCode = ExitCode.FAILURE;
    });
}

/** The incident `id` names, exactly or as a unique prefix (with or without `inc-`). @throws UserError (exit 2) when none or several */
async function findIncident(db: Db, id: string): Promise<IncidentDoc> {
  const [{ INCIDENTS_COLLECTION }, { incidentIdPattern, resolveIncidentId }] = await Promise.all([import('../src/clients/collections'), import('../src/incidents/format')]);
  const collection = db.collection<IncidentDoc>(INCIDENTS_COLLECTION);
  const exact = await collection.findOne({ _id: id });
  if (exact) return exact;
  const candidates = await collection
    .find({ _id: { $regex: incidentIdPattern(id) } }, { projection: { _id: 1 } })
    .limit(PREFIX_CANDIDATES)
    .toArray();
  const found = resolveIncidentId(
    id,
    candidates.map((c) => c._id),
  );
  if ('error' in found) {
    if (found.error === 'none') throw new UserError(`no incident ${id} (see layer1 incidents)`, ExitCode.USAGE);
    const more = found.matches.length >= PREFIX_CANDIDATES ? ', …' : '';
    throw new UserError(`incident ${id} is ambiguous: ${found.matches.join(', ')}${more}`, ExitCode.USAGE);
  }
  const one = await collection.findOne({ _id: found.id });
  if (!one) throw new UserError(`no incident ${id} (see layer1 incidents)`, ExitCode.USAGE);
  return one;
}
