/**
 * What a kernel declares about itself as pure data — its name, boot phase, criticality, its own
 * configuration keys, the bus user its processes connect as, and its worker processes if it is a
 * worker — so the configuration schema, the kernel list, the boot phases and the worker
 * definitions are all derived from one place (kernels/manifests.ts lists them). What a kernel
 * *does* (start, probe, self-test) is its behaviour, in kernels/<kernel>/kernel.ts, listed in
 * kernels/registry.ts. Manifests import zod only: the configuration schema imports them.
 */
import type { z } from 'zod';

export interface KernelManifest<N extends string = string, S extends z.ZodRawShape = z.ZodRawShape> {
  name: N;
  /** One line for status and docs. */
  title: string;
  /** Its boot phase (2–5): kernels of one phase start side by side. */
  phase: 2 | 3 | 4 | 5;
  /** Default of `kernels.<name>.critical`: a critical kernel that fails its self-test fails the boot. */
  critical: boolean;
  /** Its own keys under `kernels.<name>` in temporal.config.yaml, beside critical, liveness and readiness. */
  config: S;
  /** The ACL user (kernels/message-bus/acl-policy.yaml) its processes connect to the bus as; null for the bus itself. */
  busUser: string | null;
  /**
   * A worker kernel: its processes are `<process>-1..n`, Temporal workers of `dist/workers/<entry>` on
   * `temporal.taskQueues.<taskQueue>`, with `workers.<replicas>.replicas` of them.
   */
  worker?: { process: string; entry: string; taskQueue: 'healing' | 'codingAgent'; replicas: 'healing' | 'codingAgent' };
  /**
   * Its own unit tests, as paths of test sources from the project root (`test/unit/….test.ts`):
   * what the verification workflow's `tests` check runs (compiled, from `dist/`) for a remedy of
   * this kernel, beside the tests that import a changed file (activities/verification.ts).
   */
  tests?: readonly string[];
}

/** Keeps the literal name and the config shape's types. */
export function defineKernel<const N extends string, S extends z.ZodRawShape>(m: KernelManifest<N, S>): KernelManifest<N, S> {
  return m;
}
