/**
 * Every activity, built by one factory from the clients it needs, so tests can hand in real or
 * fake clients without patching modules. Workflows import only the types.
 */
import type { ProcessManager } from '../src/process/manager';
import type { Evidence } from '../src/healing/evidence';
import { choosePlaybook, type RemedyChoice } from '../src/healing/remedies';
import { createActionActivities } from './actions';
import { createBenchActivities } from './bench';
import { createIncidentActivities } from './incidents';
import { createKernelActivities } from './kernels';
import { createPlaybookActivities } from './playbooks';
import { createPreflightActivities, type PreflightDeps } from './preflight';
import { createVerificationActivities } from './verification';

export interface ActivityDeps extends PreflightDeps {
  pm: ProcessManager;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createPreflightActivities(deps),
    ...createKernelActivities(deps),
    ...createPlaybookActivities(deps),
    ...createBenchActivities(),
    ...createActionActivities(deps),
    ...createIncidentActivities(deps),
    /** The healing worker's own answer when the coding agent does not answer (see workflows/incident.ts). */
    async chooseRemedy(task: { evidence: Evidence }): Promise<RemedyChoice> {
      return choosePlaybook(task.evidence);
    },
    ...createVerificationActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
