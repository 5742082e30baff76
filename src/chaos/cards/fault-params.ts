/**
 * The parameters a card's injection may give each fault injector (src/chaos/faults), as one strict
 * zod schema per fault: what the loader checks `injection.params` against (unknown keys refused,
 * with the known ones listed) and what the drill hands the injector.
 *
 * The `satisfies` below ties each schema to its injector's option type: a schema that accepts a
 * value the injector does not take, or a fault without a schema, does not compile.
 */
import { constants } from 'node:os';
import { z } from 'zod';
import type * as faults from '../faults';
import type { FaultName } from '../faults/types';

/** A managed process by its process-manager name, as the card format writes one. */
const processName = z.string().regex(/^[a-z][a-z0-9-]*(\.standby)?$/, 'a managed process name (lower case, digits and "-")');
const positiveInt = z.number().int().min(1);
const ms = z.number().int().min(1).describe('milliseconds');
const subject = z.string().regex(/^[A-Za-z0-9_$.*>-]+$/, 'a NATS subject');
const signals = Object.keys(constants.signals) as [NodeJS.Signals, ...NodeJS.Signals[]];

/** The runaway kinds of startRunaway; its process is `runaway-<kind>`. */
export const RUNAWAY_KINDS = ['cpu', 'memory'] as const;

/** What syntaxErrorInCode breaks unless told: the immutable log's compiled server. */
export const DEFAULT_SYNTAX_ERROR_FILE = 'dist/kernels/immutable-log/server.js';

/** The injector's options: its second parameter, `{}` for one that takes none. */
type OptionsOf<F> = F extends (ctx: never, options: infer O) => unknown ? NonNullable<O> : never;

export const FAULT_PARAMS = {
  killProcess: z.strictObject({ process: processName, signal: z.enum(signals).optional() }),
  stallProcess: z.strictObject({ process: processName, ms, holdMs: ms.optional() }),
  throttleProcess: z.strictObject({ process: processName, ms, stopMs: ms.optional(), runMs: ms.optional() }),
  crashLoop: z.strictObject({ process: processName, kills: positiveInt, intervalMs: z.number().int().min(0), restartTimeoutMs: ms.optional() }),
  startRunaway: z.strictObject({
    kind: z.enum(RUNAWAY_KINDS),
    mb: positiveInt.optional(),
    ignoreTerm: z.boolean().optional(),
    threads: z.number().int().min(1).max(64).optional(),
  }),
  corruptSealedLogEntry: z.strictObject({}),
  fillLogQuota: z.strictObject({ percent: z.number().gt(0).max(100), entryBytes: positiveInt.optional() }),
  growLogArchives: z.strictObject({ mb: z.number().gt(0) }),
  floodStream: z.strictObject({ subject: subject.optional(), count: positiveInt, batch: positiveInt.optional() }),
  deleteConsumer: z.strictObject({ stream: z.string().min(1).optional(), consumer: z.string().min(1).optional() }),
  forbiddenPublish: z.strictObject({ user: z.string().min(1).optional(), subject: subject.optional(), timeoutMs: ms.optional() }),
  enforcedAclDrift: z.strictObject({ user: z.string().min(1).optional(), pattern: subject.optional(), subject: subject.optional() }),
  tamperBusConfig: z.strictObject({ user: z.string().min(1).optional(), subject: subject.optional() }),
  corruptModelFile: z.strictObject({}),
  syntaxErrorInCode: z.strictObject({
    // The injector refuses anything but a compiled file under dist/.
    file: z
      .string()
      .regex(/^dist\/[^\s]+\.js$/, 'a compiled file under dist/ (dist/….js)')
      .refine((f) => !f.split('/').includes('..'), 'no ".." in the path')
      .optional(),
    process: processName.optional(),
  }),
  missingPackage: z.strictObject({
    pkg: z.string().regex(/^(@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/, 'an npm package name').optional(),
    process: processName.optional(),
  }),
  invalidConfigValue: z.strictObject({ process: processName.optional() }),
  terminateControlPlane: z.strictObject({ reason: z.string().min(1).optional() }),
  hideSnapshots: z.strictObject({ keepLabels: z.array(z.string().min(1)).optional() }),
} satisfies { [K in FaultName]: z.ZodType<OptionsOf<(typeof faults)[K]>> };

export type FaultParams<F extends FaultName> = z.output<(typeof FAULT_PARAMS)[F]>;

/** The parameter names a fault takes, for "known: …" in problems and for docs. */
export function faultParamNames(fault: FaultName): string[] {
  return Object.keys(FAULT_PARAMS[fault].shape);
}
