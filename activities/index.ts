/**
 * Every activity, built by one factory from the clients it needs, so tests can hand in real or
 * fake clients without patching modules. Workflows import only the types.
 */
import type { ProcessManager } from '../src/process/manager';
import { createActionActivities } from './actions';
import { createBenchActivities } from './bench';
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
    ...createVerificationActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
