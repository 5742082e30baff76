/**
 * Every activity, built by one factory from the clients it needs, so tests can hand in real or
 * fake clients without patching modules. Workflows import only the types.
 */
import type { ProcessManager } from '../src/process/manager';
import type { Evidence } from '../src/healing/evidence';
import type { RemedyChoice } from '../src/healing/remedies';
import { chooseRemedy, proposeKnownFix, type RemedyTask } from '../src/coding-agent/remedy';
// `/index` spelled out: an older build's dist/src/coding-agent/fixers.js would shadow the folder.
import { configuredFixers } from '../src/coding-agent/fixers/index';
import { REPO_ROOT } from '../src/stack/tools';
import { createChangeSetActivities } from './change-sets';
import { createActionActivities } from './actions';
import { createBenchActivities } from './bench';
import { createIncidentActivities } from './incidents';
import { createKernelActivities } from './kernels';
import { createPlaybookActivities } from './playbooks';
import { createPreflightActivities, type PreflightDeps } from './preflight';
import { createProjectCheckActivities, createVerificationActivities } from './verification';

export interface ActivityDeps extends PreflightDeps {
  pm: ProcessManager;
}

export function createActivities(deps: ActivityDeps) {
  const remedyDeps = { fixers: configuredFixers(deps.config), projectRoot: REPO_ROOT, stateDir: deps.config.stateDir };
  return {
    ...createPreflightActivities(deps),
    ...createKernelActivities(deps),
    ...createPlaybookActivities(deps),
    ...createBenchActivities(),
    ...createActionActivities(deps),
    ...createIncidentActivities(deps),
    /**
     * The healing worker's own answer when the coding agent does not answer, or is the kernel at
     * fault (see workflows/incident.ts): the agent's own chooser, fixers included.
     * Read-only (src/coding-agent/remedy.ts).
     */
    async chooseRemedy(task: RemedyTask): Promise<RemedyChoice> {
      return chooseRemedy(task, remedyDeps);
    },
    /** The learned fixer proposes again (read-only, as chooseRemedy). */
    async proposeKnownFix(input: { fixer: string; evidence: Evidence }): Promise<RemedyChoice> {
      return proposeKnownFix(input, remedyDeps);
    },
    // The coding agent's file work and project checks, for when the agent is the kernel at fault.
    ...createChangeSetActivities(deps),
    ...createProjectCheckActivities(deps),
    ...createVerificationActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
