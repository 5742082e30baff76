/**
 * Every activity, built by one factory from the clients it needs, so tests can hand in real or
 * fake clients without patching modules. Workflows import only the types.
 */
import { createBenchActivities } from './bench';
import { createPreflightActivities, type PreflightDeps } from './preflight';

export type ActivityDeps = PreflightDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createPreflightActivities(deps),
    ...createBenchActivities(),
  };
}

export type Activities = ReturnType<typeof createActivities>;
