/**
 * Every workflow the healing worker runs, by the name its contract (contracts/) registers.
 * Deterministic code only: no Node built-ins, no I/O, no clients — those live in activities/ (the
 * ESLint config enforces it).
 */
export { preflightWorkflow } from './preflight';
export { bootWorkflow } from './boot';
export { controlPlaneWorkflow } from './control-plane';
export { playbookWorkflow } from './playbook';
export { verificationWorkflow } from './verification';
export { noopActivitiesWorkflow } from './bench';
export { incidentWorkflow, incidentCloseWorkflow } from './incident';
export { changeSetWorkflow, changeSetRollbackWorkflow } from './change-set';
export { snapshotsWorkflow } from './snapshots';
export { telemetryWorkflow } from './telemetry';
export { chaosDrillWorkflow, chaosBatchWorkflow } from './chaos';
