/**
 * `layer1 incidents` — the incidents the self-healing layer opened, newest first.
 * `layer1 incidents show ID` — one incident the way the seed tells it: its steps, diagnostics,
 * remedy, verification and time to heal (ID may be a unique prefix, with or without `inc-`).
 * `--json` prints incidents with the names of contracts/incident.ts (src/incidents/format.ts).
 */
import type { Command } from 'commander';
import { ExitCode, UserError } from '../src/errors';
import type { IncidentDoc } from '../src/incidents/format';
import { configOf, withStore } from './cli-support';

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
      const [{ INCIDENTS_COLLECTION }, { incidentDetail, incidentIdPattern, incidentJson, resolveIncidentId }] = await Promise.all([
        import('../src/clients/collections'),
        import('../src/incidents/format'),
      ]);
      const doc = await withStore(config, async (store) => {
        const collection = store.db.collection<IncidentDoc>(INCIDENTS_COLLECTION);
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
      });
      const incident = incidentJson(doc);
      if (opts.json) console.log(JSON.stringify(incident));
      else for (const line of incidentDetail(incident)) console.log(line);
    });
}
