/**
 * What a detector is: one definition per detector, in the detector's own file, holding
 *  - its configuration (`config`, from a `*.config.ts` file: its `detectors:` key and zod shape,
 *    from which the config schema is derived);
 *  - its period (`everyMs`, by default the `everyMs` of its own section);
 *  - its state (`createState`): each trigger monitor creates its own, so two monitors in one
 *    process share nothing;
 *  - `check`, one round, given its own section of the config and its state.
 *
 * The trigger monitor runs each one on its own period (only in the replica that leads, so two
 * replicas do not report every condition twice) and turns its findings into evidence:
 *  - a *condition* (`event: false`, the default) is reported when it starts to hold and again only
 *    after it has cleared — a backlog that stays high is one piece of evidence, not one a second;
 *  - an *event* (`event: true`, e.g. one refused publish in the bus log) is reported every time.
 */
import type { Client } from '@temporalio/client';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../../config/load';
import type { KernelName } from '../../domain/kernels';
import type { ProcessManager } from '../../process/manager';
import type { EvidenceKind } from '../evidence';
import type { DetectorConfig, DetectorSettings } from './define';

export interface DetectorContext {
  config: LoadedConfig;
  pm: ProcessManager;
  db: Db;
  temporal: Client;
  bus: NatsConnection;
  log: Logger;
}

export interface Finding<K extends EvidenceKind = EvidenceKind> {
  kind: K;
  kernel: KernelName | null;
  process?: string | null;
  pid?: number | null;
  /** Names this condition apart from others of its kind (e.g. the consumer, the segment). */
  key: string;
  detail: string;
  /**
   * The text it came from when there is a better one than `detail` (the bus log line, the log
   * verify's error, an exception's message): the evidence signature is computed from it
   * (src/healing/evidence.ts `signEvidence`). Without it, `detail` is signed.
   */
  text?: string;
  /** Measurements; playbook parameters of the same name are filled from them. */
  data?: Record<string, unknown>;
  /** A one-off event rather than a condition (see the module comment). */
  event?: boolean;
  /**
   * When an event happened (epoch ms), when the detector knows it (a bus log line's time): the
   * verification workflow's detector check counts only events after the remedy finished.
   */
  at?: number;
}

export interface Detector<C extends DetectorConfig = DetectorConfig, S = unknown, K extends EvidenceKind = EvidenceKind> {
  /** Its name in logs and in docs/self-healing.md, e.g. `cpu_pressure`. */
  name: string;
  config: C;
  /** The evidence kinds it reports: its findings can be of no other kind. */
  kinds: readonly K[];
  /**
   * How often it runs, from its own section. Without it: the section's `everyMs`.
   * Method syntax on purpose (here and below): a registry holds detectors of every section type.
   */
  everyMs?(settings: DetectorSettings<C>): number;
  /** A fresh state, one per trigger monitor. */
  createState(): S;
  /** What holds now. Throwing is logged and counts as "nothing found" for this round. */
  check(ctx: DetectorContext, settings: DetectorSettings<C>, state: S): Promise<Array<Finding<NoInfer<K>>>>;
  /** Releases what the state holds (a connection) when its monitor stops. */
  close?(state: S): Promise<void> | void;
}

/** Checks a definition against its own section and kinds, without widening them. */
export function defineDetector<C extends DetectorConfig, S, const K extends EvidenceKind>(d: Detector<C, S, K>): Detector<C, S, K> {
  return d;
}

/** Any detector, whatever its section, state and kinds: what a registry holds. */
export type AnyDetector = Detector<any, any, EvidenceKind>;
