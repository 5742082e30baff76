/**
 * Every kernel: its manifest (kernels/manifests.ts: name, phase, config, bus user, workers) and
 * its behaviour (kernels/<kernel>/kernel.ts: processes, start, probes, self-test), joined into one
 * `KernelDef`, and the lifecycle every kernel shares — start what is not running, then its
 * afterStart; stop, with or without its warm spares.
 *
 * BEHAVIOURS is keyed by the manifests' names, so a manifest without a behaviour does not compile.
 */
import { ApplicationFailure } from '@temporalio/common';
import { UNKNOWN_KERNEL } from '../contracts/control-plane';
import type { LoadedConfig } from '../src/config/load';
import { isKernelName, KERNEL_NAMES, type KernelName } from '../src/domain/kernels';
import { standbyName } from '../src/process/manager';
import { workerDefsOf, workerSpec } from '../src/stack/workers';
import { codingAgentKernel } from './coding-agent/kernel';
import { immutableLogKernel } from './immutable-log/kernel';
import { pidAlive, type KernelBehaviour, type KernelContext, type KernelDef } from './kernel';
import { KERNEL_MANIFESTS } from './manifests';
import { messageBusKernel } from './message-bus/kernel';
import { selfHealingKernel } from './self-healing/kernel';

export { immutableLogClient } from './immutable-log/kernel';
export { MONITOR_FRESH_MS } from './self-healing/kernel';
export type { KernelContext, KernelDef } from './kernel';

const BEHAVIOURS: Record<KernelName, KernelBehaviour> = {
  message_bus: messageBusKernel,
  immutable_log: immutableLogKernel,
  self_healing: selfHealingKernel,
  coding_agent: codingAgentKernel,
};

/** A manifest and its behaviour as one definition; a worker kernel's processes come from its manifest. */
function define(name: KernelName): KernelDef {
  const manifest = KERNEL_MANIFESTS.find((m) => m.name === name)!;
  const b = BEHAVIOURS[name];
  return {
    name,
    manifest,
    readiness: b.readiness,
    afterStart: b.afterStart,
    processes: b.processes ?? ((config) => workerDefsOf(config, manifest).map((w) => w.name)),
    spec:
      b.spec ??
      (async (config, processName) => {
        const def = workerDefsOf(config, manifest).find((w) => w.name === processName);
        if (!def) throw new Error(`kernel ${name} has no process named ${processName}`);
        return workerSpec(config, def);
      }),
    liveness: b.liveness ?? (async ({ pm }, p) => pidAlive(pm, p)),
  };
}

export const KERNELS: Record<KernelName, KernelDef> = Object.fromEntries(KERNEL_NAMES.map((k) => [k, define(k)])) as Record<KernelName, KernelDef>;

/**
 * The kernel of that name, or a non-retryable `UnknownKernel` failure: the control plane asks for
 * kernels by name, and one it adopted from a command may not exist.
 */
export function kernelDef(name: string): KernelDef {
  if (!isKernelName(name)) {
    throw ApplicationFailure.create({ type: UNKNOWN_KERNEL, nonRetryable: true, message: `unknown kernel "${name}"; the kernels are ${KERNEL_NAMES.join(', ')}` });
  }
  return KERNELS[name];
}

/** Which kernel a managed process belongs to. */
export function kernelOfProcess(config: LoadedConfig, processName: string): KernelName | undefined {
  return KERNEL_NAMES.find((k) => KERNELS[k].processes(config).includes(processName));
}

/** Starts the kernel's processes that are not running (a no-op for the others), then its afterStart. */
export async function startKernel(ctx: KernelContext, name: string, only?: string): Promise<Record<string, number | null>> {
  const kernel = kernelDef(name);
  const pids: Record<string, number | null> = {};
  for (const p of kernel.processes(ctx.config)) {
    if (only && p !== only) {
      pids[p] = ctx.pm.pid(p);
      continue;
    }
    // Idempotent: the process manager starts nothing when a live process holds the name (and
    // promotes the process's warm spare, if it has one, rather than starting it cold).
    const info = await ctx.pm.start(await kernel.spec(ctx.config, p));
    pids[p] = info.pid;
  }
  if (kernel.afterStart) await waitThen(ctx, kernel, () => kernel.afterStart!(ctx));
  return pids;
}

/** afterStart needs the process to answer: give it a few seconds, probing liveness. */
async function waitThen(ctx: KernelContext, kernel: KernelDef, fn: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = '';
  while (Date.now() < deadline) {
    const probes = await Promise.all(kernel.processes(ctx.config).map((p) => kernel.liveness(ctx, p, 500)));
    if (probes.every((h) => h.healthy)) return fn();
    last = probes.map((h) => h.detail).join('; ');
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${kernel.name} did not answer within 10 s: ${last}`);
}

/**
 * Stops the kernel's processes. With `spares`, their warm spares too: a kernel stopped for good
 * leaves nothing of its own running, while a restart (stop, then start) keeps them, so the start
 * promotes a spare instead of starting cold.
 */
export async function stopKernel(
  ctx: Pick<KernelContext, 'config' | 'pm'>,
  name: string,
  opts: { graceMs?: number; spares?: boolean } = {},
): Promise<void> {
  const graceMs = opts.graceMs ?? 10_000;
  const names = kernelDef(name).processes(ctx.config).flatMap((p) => (opts.spares ? [p, standbyName(p)] : [p]));
  await Promise.all(names.map((p) => ctx.pm.stop(p, graceMs)));
}

export function kernelNamesOfProcesses(config: LoadedConfig): string[] {
  return KERNEL_NAMES.flatMap((k) => KERNELS[k].processes(config));
}
