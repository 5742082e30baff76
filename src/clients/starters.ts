/**
 * Starting the long-lived and singleton workflows, typed by their contracts, from one place each:
 * the boot (CLI, tests, benches) and the control plane (boot phase 7, and the playbook actions'
 * fail-over when its run has closed).
 */
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, type Client, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { BOOT_WORKFLOW, BOOT_WORKFLOW_ID, type BootInput, type BootWorkflow } from '../../contracts/boot';
import {
  CONTROL_PLANE_WORKFLOW,
  CONTROL_PLANE_WORKFLOW_ID,
  type ControlPlaneInput,
  type ControlPlaneWorkflow,
} from '../../contracts/control-plane';
import { findable } from '../../contracts/search-attributes';
import type { LoadedConfig } from '../config/load';
import { BOOT_PHASES, KERNEL_NAMES } from '../domain/kernels';

/** The boot's input: the phases and kernels (from the kernel manifests), each kernel's criticality and readiness policy. */
export function bootInput(config: LoadedConfig): BootInput {
  return {
    phases: BOOT_PHASES.map((p) => ({ ...p, kernels: [...p.kernels] })),
    kernels: Object.fromEntries(
      KERNEL_NAMES.map((k) => [k, { critical: config.kernels[k].critical, readiness: config.kernels[k].readiness }]),
    ) as BootInput['kernels'],
    controlPlane: config.controlPlane,
  };
}

/**
 * Starts the boot, or attaches to the one running (conflict policy USE_EXISTING): one boot at a
 * time. A finished boot's id may be used again.
 */
export function startBoot(config: LoadedConfig, client: Client): Promise<WorkflowHandleWithFirstExecutionRunId<BootWorkflow>> {
  return client.workflow.start<BootWorkflow>(BOOT_WORKFLOW, {
    taskQueue: config.temporal.taskQueues.healing,
    workflowId: BOOT_WORKFLOW_ID,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    workflowExecutionTimeout: '10 minutes',
    ...findable({ kind: 'boot', summary: `boot of the kernels ${KERNEL_NAMES.join(', ')}` }),
    args: [bootInput(config)],
  });
}

/**
 * Starts the control plane, or returns the running one as is (conflict policy USE_EXISTING): its
 * id is fixed, so a retry never starts a second one.
 */
export function startControlPlane(config: LoadedConfig, client: Client, input: ControlPlaneInput): Promise<WorkflowHandleWithFirstExecutionRunId<ControlPlaneWorkflow>> {
  return client.workflow.start<ControlPlaneWorkflow>(CONTROL_PLANE_WORKFLOW, {
    taskQueue: config.temporal.taskQueues.healing,
    workflowId: CONTROL_PLANE_WORKFLOW_ID,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    ...findable({ kind: 'control-plane', summary: 'supervises the kernels: restarts, crash loops, kernel start/stop/restart' }),
    args: [input],
  });
}
