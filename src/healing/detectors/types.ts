/**
 * What a detector is. The trigger monitor runs each one on its own period (only in the replica that
 * leads, so two replicas do not report every condition twice) and turns its findings into evidence:
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

export interface DetectorContext {
  config: LoadedConfig;
  pm: ProcessManager;
  db: Db;
  temporal: Client;
  bus: NatsConnection;
  log: Logger;
}

export interface Finding {
  kind: EvidenceKind;
  kernel: KernelName | null;
  process?: string | null;
  pid?: number | null;
  /** Names this condition apart from others of its kind (e.g. the consumer, the segment). */
  key: string;
  detail: string;
  /** Measurements; playbook parameters of the same name are filled from them. */
  data?: Record<string, unknown>;
  /** A one-off event rather than a condition (see the module comment). */
  event?: boolean;
}

export interface Detector {
  name: string;
  /** How often it runs. */
  everyMs(config: LoadedConfig): number;
  /** What holds now. Throwing is logged and counts as "nothing found" for this round. */
  check(ctx: DetectorContext): Promise<Finding[]>;
}
