/**
 * The trigger monitor, run inside each healing replica. It notices trouble fast and hands it to
 * the seam (./seam.ts):
 *  - process watch: every `watchMs` it reads each kernel process's pid file; a process that died
 *    without being stopped (its pid file remains, naming a dead pid) is reported at once — no
 *    waiting for a slow probe;
 *  - liveness probes: each kernel's cheap probe on its own period, timeout and failure threshold
 *    (Kubernetes semantics); the threshold-th failure in a row is reported;
 *  - the bus: events on the durable `self_healing_triggers` consumer that describe an unwell
 *    kernel enter the same seam; others are recorded as evidence.
 * It heartbeats into the store so readiness can tell its triggers are subscribed. Both replicas
 * watch everything; the control plane folds their duplicate reports.
 */
import type { Client } from '@temporalio/client';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load';
import { isKernelName, KERNEL_NAMES, type KernelName, type KernelUnwell } from '../domain/kernels';
import type { ProcessManager } from '../process/manager';
import { KERNELS, TRIGGER_MONITORS_COLLECTION } from '../../kernels/registry';
import { consumeTriggers } from '../../kernels/message-bus/triggers';
import { EVIDENCE_COLLECTION, reportUnwell } from './seam';

export interface TriggerMonitorDeps {
  config: LoadedConfig;
  pm: ProcessManager;
  db: Db;
  temporal: Client;
  bus: NatsConnection;
  /** This replica's process name, e.g. healing-1. */
  name: string;
  log: Logger;
}

/** How often pid files are read. Cheap (a stat and a small read per process). */
export const WATCH_INTERVAL_MS = 100;
export const HEARTBEAT_INTERVAL_MS = 1_000;

export class TriggerMonitor {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly abort = new AbortController();
  /** `process:pid` already reported, so one death is reported once by this replica. */
  private readonly reported = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly probing = new Set<string>();
  private consuming: Promise<void> | undefined;
  private subscribed = false;

  constructor(private readonly deps: TriggerMonitorDeps) {}

  start(): void {
    this.timers.push(setInterval(() => this.watchProcesses(), WATCH_INTERVAL_MS));
    for (const kernel of KERNEL_NAMES) {
      const { periodMs } = this.deps.config.kernels[kernel].liveness;
      this.timers.push(setInterval(() => this.probe(kernel), periodMs));
    }
    this.timers.push(setInterval(() => void this.heartbeat(), HEARTBEAT_INTERVAL_MS));
    void this.heartbeat();
    this.consuming = consumeTriggers(this.deps.bus, (msg) => this.onBusEvent(msg.subject, msg.string()), {
      signal: this.abort.signal,
      onEvent: (e) => {
        if (e.type === 'bound') this.subscribed = true;
        if (e.type === 'lost') this.subscribed = false;
        if (e.type !== 'bound') this.deps.log.warn({ event: e.type, detail: 'reason' in e ? e.reason : undefined }, 'trigger consumer');
      },
    }).catch((err: unknown) => this.deps.log.error({ err }, 'trigger consumer stopped'));
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.abort.abort();
    await this.consuming;
    await this.deps.db
      .collection<{ _id: string }>(TRIGGER_MONITORS_COLLECTION)
      .deleteOne({ _id: this.deps.name })
      .catch(() => undefined);
  }

  private report(e: KernelUnwell): void {
    this.deps.log.warn({ evidence: e }, `kernel ${e.kernel} unwell: ${e.process} ${e.reason}`);
    reportUnwell(this.deps, e).then(
      (outcome) => this.deps.log.info({ process: e.process, pid: e.pid, outcome }, 'evidence handed to the seam'),
      (err: unknown) => {
        // Let a later tick report it again.
        this.reported.delete(`${e.process}:${e.pid}:${e.reason}`);
        this.deps.log.error({ err, process: e.process }, 'could not report evidence');
      },
    );
  }

  private watchProcesses(): void {
    const { config, pm, name } = this.deps;
    for (const kernel of KERNEL_NAMES) {
      for (const proc of KERNELS[kernel].processes(config)) {
        const info = pm.info(proc);
        // A pid file naming a dead process: it died without being stopped (stop removes the file).
        if (!info.stale || info.recordedPid === null) continue;
        const key = `${proc}:${info.recordedPid}:exited`;
        if (this.reported.has(key)) continue;
        this.reported.add(key);
        this.report({
          kernel,
          process: proc,
          pid: info.recordedPid,
          reason: 'exited',
          detail: `pid ${info.recordedPid} is gone (log: ${info.logPath})`,
          at: Date.now(),
          observer: name,
        });
      }
    }
  }

  private probe(kernel: KernelName): void {
    const { config, pm, name } = this.deps;
    const { timeoutMs, failureThreshold } = config.kernels[kernel].liveness;
    for (const proc of KERNELS[kernel].processes(config)) {
      const pid = pm.pid(proc);
      if (pid === null || this.probing.has(proc)) continue;
      this.probing.add(proc);
      KERNELS[kernel]
        .liveness({ config, pm }, proc, timeoutMs)
        .then((h) => {
          const key = `${proc}:${pid}`;
          if (h.healthy) {
            this.failures.delete(key);
            return;
          }
          const n = (this.failures.get(key) ?? 0) + 1;
          this.failures.set(key, n);
          const reportKey = `${proc}:${pid}:liveness_failed`;
          if (n >= failureThreshold && !this.reported.has(reportKey) && pm.pid(proc) === pid) {
            this.reported.add(reportKey);
            this.report({ kernel, process: proc, pid, reason: 'liveness_failed', detail: `${n} failed probes in a row: ${h.detail}`, at: Date.now(), observer: name });
          }
        })
        .catch((err: unknown) => this.deps.log.error({ err, proc }, 'liveness probe threw'))
        .finally(() => this.probing.delete(proc));
    }
  }

  private async heartbeat(): Promise<void> {
    await this.deps.db
      .collection<{ _id: string; pid: number; at: Date; subscribed: boolean }>(TRIGGER_MONITORS_COLLECTION)
      .updateOne(
        { _id: this.deps.name },
        { $set: { pid: process.pid, at: new Date(), subscribed: this.subscribed } },
        { upsert: true },
      )
      .catch((err: unknown) => this.deps.log.warn({ err }, 'trigger monitor heartbeat failed'));
  }

  /** Events on the bus: a kernel-unwell event enters the seam; anything else is kept as evidence. */
  private async onBusEvent(subject: string, body: string): Promise<void> {
    let event: Partial<KernelUnwell> & Record<string, unknown> = {};
    try {
      event = JSON.parse(body) as typeof event;
    } catch {
      // Not JSON: still evidence.
    }
    if (isKernelName(event.kernel) && typeof event.process === 'string' && typeof event.reason === 'string') {
      await reportUnwell(this.deps, {
        kernel: event.kernel,
        process: event.process,
        pid: typeof event.pid === 'number' ? event.pid : null,
        reason: event.reason as KernelUnwell['reason'],
        detail: String(event.detail ?? subject),
        at: typeof event.at === 'number' ? event.at : Date.now(),
        observer: `${this.deps.name} via ${subject}`,
      });
      return;
    }
    // Idempotent on redelivery: keyed on the subject and body.
    await this.deps.db
      .collection<{ _id: string }>(EVIDENCE_COLLECTION)
      .updateOne({ _id: `bus:${subject}:${body.slice(0, 200)}` }, { $setOnInsert: { subject, body, at: new Date() } }, { upsert: true });
  }
}
