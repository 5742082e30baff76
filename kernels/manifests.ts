/**
 * Every kernel, in boot order: the one list the kernel names, the boot phases, the configuration
 * schema (`kernels:`) and the worker processes are derived from. Adding a kernel: see
 * docs/architecture.md ("How to add a kernel").
 */
import { codingAgentManifest } from './coding-agent/kernel-manifest';
import { immutableLogManifest } from './immutable-log/kernel-manifest';
import { messageBusManifest } from './message-bus/kernel-manifest';
import { selfHealingManifest } from './self-healing/kernel-manifest';

export const KERNEL_MANIFESTS = [messageBusManifest, immutableLogManifest, selfHealingManifest, codingAgentManifest] as const;
