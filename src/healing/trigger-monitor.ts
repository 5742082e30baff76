/**
 * The trigger monitor, run inside each healing replica. It notices trouble fast and hands it to
 * the seam (./seam.ts):
 *  - process watch: every `watchMs` it reads each kernel process's pid file; a process that died
 *    without being stopped (its pid file remains, naming a dead pid) is reported at once — no
 *    waiting for a slow probe;
 *  - liveness probes: each kernel's cheap probe on its own period, timeout and failure threshold
 *    (Kubernetes semantics); the threshold-th failure in a row is reported;
 *    A single failed probe is already `heartbeat_missed` (a stall), and probes slower than
 *    `detectors.latency.thresholdMs` several times in a row are a `latency_spike`;
 *  - detectors (./detectors/): periodic checks of the bus, the log, resources, models, snapshots,
 *    dependencies and the control plane, each with its period and thresholds in its own section
 *    of `detectors:`; this monitor owns its instances of them (their state) in a DetectorLoop;
 *  - the bus: events on the durable `self_healing_triggers` consumer that describe an unwell
 *    kernel enter the same seam; others are recorded as evidence.
 * It heartbeats into the store so readiness can tell its triggers are subscribed. Both replicas
 * watch processes and probes (the evidence ids fold their duplicate reports); the periodic
 * detectors run only in the replica that leads — the one with the smallest name among those
 * heartbeating — so a condition is not reported twice, and the other takes over within
 * MONITOR_FRESH_MS when the leader dies.
 */
import type { Client } from '@temporalio/client';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load';
import { isKernelName, KERNEL_NAMES, type KernelName, type KernelUnwell } from '../domain/kernels';
import type { ProcessManager } from '../process/manager';
import { KERNELS, MONITOR_FRESH_MS } from '../../kernels/registry';
import { TRIGGER_MONITORS_COLLECTION } from '../clients/collections';
import { consumeTriggers } from '../../kernels/message-bus/triggers';
import { CONTROL_PLANE_WORKFLOW_ID } from '../../contracts/control-plane';
import { workerDefs, workerSpec } from '../stack/workers';
import { takeSnapshot, writeSnapshot } from '../stack/status-snapshot';
import { DETECTORS, DetectorLoop, latencySpikes, type AnyDetector } from './detectors';
import { isEvidenceKind, makeEvidence, type Evidence } from './evidence';
import { EXIT_TAIL_BYTES, exitText, lastLogLines } from './log-tail';
import { reportEvidence, reportUnwell } from './seam';
import { ServerSupervisor, type RevivedServer, type ServerOutage } from './server-supervisor';
import { endpointProbe, ExternalWatch } from './external-watch';
import { immutableLogClient } from '../../kernels/registry';
import type { JsonValue } from '../../kernels/immutable-log/format';
import { EVIDENCE_COLLECTION } from '../clients/collections';

export interface TriggerMonitorDeps {
  config: LoadedConfig;
  pm: ProcessManager;
  db: Db;
  temporal: Client;
  bus: NatsConnection;
  /** This replica's process name, e.g. healing-1. */
  name: string;
  log: Logger;
  /** The periodic detectors to run; by default every one (./detectors/index.ts). */
  detectors?: readonly AnyDetector[];
  /** Servers this replica started before it connected (./server-supervisor.ts), to report as outages. */
  revived?: readonly RevivedServer[];
}

/** How often pid files are read. Cheap (a stat and a small read per process). */
export const WATCH_INTERVAL_MS = 100;
export const HEARTBEAT_INTERVAL_MS = 1_000;
/** The wait after a warm spare died while starting, doubled per failure in a row, up to the max. */
export const SPARE_BACKOFF_MS = 2_000;
export const SPARE_BACKOFF_MAX_MS = 5 * 60_000;

export class TriggerMonitor {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly abort = new AbortController();
  /** `process:pid` already reported, so one death is reported once by this replica. */
  private readonly reported = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly probing = new Set<string>();
  /** The spare this replica last started per worker, whether it became warm, and its back-off. */
  private readonly spares = new Map<string, { pid: number | null; warm: boolean; failures: number; notBefore: number }>();
  /** Pids seen as a worker's own process (a promoted spare among them); pids are not reused soon. */
  private readonly mainPids = new Set<number>();
  private consuming: Promise<void> | undefined;
  private subscribed = false;
  /** The latency detector's state: slow probes in a row, per process and pid. */
  private readonly slow = latencySpikes.createState();
  /** This monitor's own instances of the periodic detectors. */
  private readonly detectors: DetectorLoop;
  /** Whether this replica runs the periodic detectors (see the module comment). */
  private leader = false;
  /** The control plane's workflow exists: a boot got through its last phase at least once. */
  private booted = false;
  private beats = 0;
  /** Restarts a dead or hung Temporal dev server or store (./server-supervisor.ts); needs neither. */
  private readonly servers: ServerSupervisor;
  /** Records the outages of the servers with `embedded: false` (./external-watch.ts). */
  private readonly external: ExternalWatch;

  constructor(private readonly deps: TriggerMonitorDeps) {
    this.servers = new ServerSupervisor({
      config: deps.config,
      pm: deps.pm,
      name: deps.name,
      log: deps.log,
      report: (e, outage) => this.reportServerRestart(e, outage),
      // The store over this replica's own pool (it reconnects by itself after a restart): a fresh
      // client per probe would make FerretDB log three warnings a second (it has no endSessions).
      // Temporal over a fresh connection: a long-lived channel may sit in its reconnect back-off
      // after an outage, and a healthy server must not be taken for a hung one.
      health: (svc, timeoutMs) =>
        svc.name === 'store'
          ? this.deps.db.command({ ping: 1 }).then(
              () => ({ healthy: true, detail: 'ping ok' }),
              (err: unknown) => ({ healthy: false, detail: (err as Error).message }),
            )
          : svc.health(timeoutMs, { quick: true }),
    });
    this.servers.adopt(deps.revived ?? []);
    this.external = new ExternalWatch({
      config: deps.config,
      name: deps.name,
      log: deps.log,
      probe: endpointProbe(deps.config, deps.db),
      leads: () => this.leader,
      report: (e) => this.reportObserved(e),
    });
    this.detectors = new DetectorLoop({
      ctx: deps,
      detectors: deps.detectors ?? DETECTORS,
      observer: deps.name,
      shouldRun: () => this.leader && this.booted,
      report: (e) => this.reportOther(e),
    });
  }

  start(): void {
    this.servers.start();
    this.external.start();
    this.timers.push(setInterval(() => this.watchProcesses(), WATCH_INTERVAL_MS));
    for (const kernel of KERNEL_NAMES) {
      const { periodMs } = this.deps.config.kernels[kernel].liveness;
      this.timers.push(setInterval(() => this.probe(kernel), periodMs));
    }
    this.timers.push(setInterval(() => void this.heartbeat(), HEARTBEAT_INTERVAL_MS));
    void this.heartbeat();
    if (this.deps.config.detectors.enabled) this.detectors.start();
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
    this.servers.stop();
    this.external.stop();
    for (const t of this.timers) clearInterval(t);
    this.abort.abort();
    await this.consuming;
    await this.detectors.stop();
    await this.deps.db
      .collection<{ _id: string }>(TRIGGER_MONITORS_COLLECTION)
      .deleteOne({ _id: this.deps.name })
      .catch(() => undefined);
  }

  /** Lifecycle evidence; `text` is what it came from (the exit and the log's end, the probe's detail). */
  private report(e: KernelUnwell, text: string): void {
    this.deps.log.warn({ evidence: e }, `kernel ${e.kernel} unwell: ${e.process} ${e.reason}`);
    reportUnwell(this.deps, e, text).then(
      (outcome) => this.deps.log.info({ process: e.process, pid: e.pid, outcome }, 'evidence handed to the seam'),
      (err: unknown) => {
        // Let a later tick report it again.
        this.reported.delete(`${e.process}:${e.pid}:${e.reason}`);
        this.deps.log.error({ err, process: e.process }, 'could not report evidence');
      },
    );
  }

  /** Evidence other than the lifecycle kind: straight to the seam, logged either way; false when not handed over. */
  private reportOther(e: Evidence): Promise<boolean> {
    this.deps.log.warn({ evidence: e }, `${e.kind} on ${e.kernel ?? e.process ?? 'layer1'}: ${e.detail}`);
    return reportEvidence(this.deps, e).then(
      (r) => {
        this.deps.log.info({ id: e.id, dispatch: r.dispatch }, 'evidence handed to the seam');
        return true;
      },
      (err: unknown) => {
        this.deps.log.error({ err, id: e.id }, 'could not report evidence');
        return false;
      },
    );
  }

  /** An external server's outage: through the seam; false when the store did not record it (tried again). */
  private async reportObserved(e: Evidence): Promise<boolean> {
    this.deps.log.warn({ evidence: e }, e.detail);
    const r = await reportEvidence(this.deps, e);
    return r.recordedFirst !== null;
  }

  /**
   * A server the supervisor restarted answers again: its evidence through the seam (recorded in the
   * store, never dispatched: see REPAIRED_KINDS), and, from the replica that recorded it first, one
   * entry in the immutable log. False when the store did not take it, so the supervisor tries again.
   */
  private async reportServerRestart(e: Evidence, outage: ServerOutage): Promise<boolean> {
    this.deps.log.warn({ evidence: e }, outage.detail);
    const r = await reportEvidence(this.deps, e);
    if (r.recordedFirst === null) return false;
    if (r.recordedFirst) {
      await immutableLogClient(this.deps.config, 3_000)
        .append('server_restarted', { evidence: e.id, ...e.data, detail: outage.detail } as JsonValue)
        .catch((err: unknown) => this.deps.log.warn({ err }, 'server restart not appended to the immutable log'));
    }
    return true;
  }

  private watchProcesses(): void {
    const { config, pm, name } = this.deps;
    for (const kernel of KERNEL_NAMES) {
      for (const proc of KERNELS[kernel].processes(config)) {
        const info = pm.info(proc);
        // A pid file naming a dead process: it died without being stopped (stop removes the file,
        // and marks the process as stopping while it waits for it to exit).
        if (!info.stale || info.recordedPid === null || info.stopping) continue;
        const key = `${proc}:${info.recordedPid}:exited`;
        if (this.reported.has(key)) continue;
        this.reported.add(key);
        this.report(
          {
            kernel,
            process: proc,
            pid: info.recordedPid,
            reason: 'exited',
            detail: `pid ${info.recordedPid} is gone (log: ${info.logPath})`,
            at: Date.now(),
            observer: name,
          },
          // What it said last: read now, before the control plane starts it again into the same log.
          exitText(kernel, proc, lastLogLines(pm.logPath(proc), Number.MAX_SAFE_INTEGER, EXIT_TAIL_BYTES)),
        );
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
      const started = Date.now();
      KERNELS[kernel]
        .liveness({ config, pm }, proc, timeoutMs)
        .then((h) => {
          const key = `${proc}:${pid}`;
          if (h.healthy) {
            this.failures.delete(key);
            this.observeLatency(kernel, proc, pid, Date.now() - started);
            return;
          }
          const n = (this.failures.get(key) ?? 0) + 1;
          this.failures.set(key, n);
          if (n === 1 && pm.pid(proc) === pid) {
            // One miss is a stall, not yet a failure: reported so a drill or a playbook can watch it.
            void this.reportOther(
              makeEvidence({
                kind: 'heartbeat_missed',
                kernel,
                process: proc,
                pid,
                detail: `liveness probe failed: ${h.detail}`,
                text: h.detail,
                at: Date.now(),
                observer: name,
                key: `${proc}:${pid}:${started}`,
              }),
            );
          }
          const reportKey = `${proc}:${pid}:liveness_failed`;
          if (n >= failureThreshold && !this.reported.has(reportKey) && pm.pid(proc) === pid) {
            this.reported.add(reportKey);
            this.report({ kernel, process: proc, pid, reason: 'liveness_failed', detail: `${n} failed probes in a row: ${h.detail}`, at: Date.now(), observer: name }, h.detail);
          }
        })
        .catch((err: unknown) => this.deps.log.error({ err, proc }, 'liveness probe threw'))
        .finally(() => this.probing.delete(proc));
    }
  }

  /** A successful probe's round trip, for the latency detector; its spikes are reported by the leader. */
  private observeLatency(kernel: KernelName, proc: string, pid: number, ms: number): void {
    const now = Date.now();
    const spike = latencySpikes.observe(this.slow, this.deps.config.detectors.latency, { kernel, process: proc, pid, ms, at: now });
    if (spike && this.leader) void this.reportOther(this.detectors.evidenceOf(spike, spike.key, now));
  }

  private async heartbeat(): Promise<void> {
    const monitors = this.deps.db.collection<{ _id: string; pid: number; at: Date; subscribed: boolean }>(TRIGGER_MONITORS_COLLECTION);
    try {
      await monitors.updateOne({ _id: this.deps.name }, { $set: { pid: process.pid, at: new Date(), subscribed: this.subscribed } }, { upsert: true });
      const fresh = await monitors.find({ at: { $gte: new Date(Date.now() - MONITOR_FRESH_MS) } }).toArray();
      const first = fresh.map((m) => m._id).sort()[0];
      // Both replicas see only themselves on their first beat: lead from the second one on.
      const leader = (first === undefined || first === this.deps.name) && this.beats++ > 0;
      if (leader !== this.leader) this.deps.log.info({ leader }, leader ? 'this replica now runs the detectors' : 'another replica runs the detectors');
      this.leader = leader;
      if (!this.booted) {
        // Started once, whatever its state now: a lost control plane is for the detectors to report.
        const d = await this.deps.temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID).describe().catch(() => null);
        this.booted = d !== null;
      }
      if (this.leader && this.booted) {
        await this.keepSpares();
        await this.keepChaosWorkers();
        await this.writeStatusSnapshot();
      }
    } catch (err) {
      // The store may be what is down: keep the leadership as it was, so detection goes on.
      this.deps.log.warn({ err }, 'trigger monitor heartbeat failed');
    }
  }

  /** What `layer1 status` reads instead of asking again (src/stack/status-snapshot.ts); best effort. */
  private async writeStatusSnapshot(): Promise<void> {
    try {
      writeSnapshot(this.deps.config, await takeSnapshot(this.deps.config, this.deps.temporal, this.deps.db, this.deps.name));
    } catch (err) {
      this.deps.log.warn({ err }, 'status snapshot not written');
    }
  }

  /**
   * Each running worker keeps a warm spare (workers.standby; src/process/manager.ts): one that was
   * used up, killed, or never started is started here, one at a time, so loading spares never
   * takes both cores from the kernels. A stopped worker has none.
   */
  private async keepSpares(): Promise<void> {
    const { config, pm, log } = this.deps;
    if (!config.workers.standby) return;
    const defs = workerDefs(config);
    const now = Date.now();
    for (const w of defs) {
      const main = pm.pid(w.name);
      if (main !== null) this.mainPids.add(main);
      const info = pm.standbyInfo(w.name);
      const started = this.spares.get(w.name);
      if (!started || started.pid === info.pid) {
        if (started && info.warm) this.spares.set(w.name, { ...started, failures: 0, warm: true });
        continue;
      }
      // The spare this replica started is gone and was never warm: it died while loading (a
      // module missing, a file that does not parse). Starting the next at once would only churn a
      // core; back off, and say why (its output went to the worker's own log).
      // (A spare promoted, even one that died since, was the worker's process: not a failed start.)
      if (!started.warm && !info.alive && started.pid !== null && !this.mainPids.has(started.pid)) {
        const failures = started.failures + 1;
        const waitMs = Math.min(SPARE_BACKOFF_MAX_MS, SPARE_BACKOFF_MS * 2 ** (failures - 1));
        this.spares.set(w.name, { ...started, pid: null, failures, notBefore: now + waitMs });
        log.warn({ process: w.name, spare: started.pid, failures, waitMs, log: lastLogLines(pm.logPath(w.name)) }, 'the warm spare died while starting: the next one waits');
      }
    }
    if (defs.some((w) => pm.standbyInfo(w.name).alive && !pm.standbyInfo(w.name).warm)) return; // one is warming
    const next = defs.find((w) => pm.isAlive(w.name) && !pm.info(w.name).stopping && !pm.standbyInfo(w.name).alive && (this.spares.get(w.name)?.notBefore ?? 0) <= now);
    if (!next) return;
    const spare = await pm.ensureStandby(workerSpec(config, next));
    if (spare.alive) {
      const prev = this.spares.get(next.name);
      this.spares.set(next.name, { pid: spare.pid, warm: false, failures: prev?.failures ?? 0, notBefore: 0 });
      log.info({ process: next.name, spare: spare.pid }, 'started a warm spare');
    }
  }

  /**
   * A chaos worker that died (its pid file left stale, no stop under way) is started again: the
   * control plane does not supervise them (they are not a kernel's), and a drill's next step
   * waits for a live one. One that was stopped (`down`, `pm.stop`) has no pid file and stays so.
   */
  private async keepChaosWorkers(): Promise<void> {
    const { config, pm, log } = this.deps;
    const { chaosWorkerNames, chaosWorkerSpec } = await import('../stack/chaos-workers');
    for (const name of chaosWorkerNames(config)) {
      const info = pm.info(name);
      if (!info.stale || info.stopping) continue;
      const started = await pm.start(chaosWorkerSpec(config, name)).catch((err: unknown) => {
        log.warn({ err, process: name }, 'chaos worker not restarted');
        return null;
      });
      if (started) log.info({ process: name, pid: started.pid, was: info.recordedPid }, 'restarted a chaos worker that died');
    }
  }

  /**
   * Events on the bus: a kernel-unwell event enters the seam; anything else is kept as evidence.
   * The evidence text is the event's `text`, else its `detail`; with neither, the fixed text of
   * its kind, kernel and process (the subject names no fault).
   */
  private async onBusEvent(subject: string, body: string): Promise<void> {
    let event: Partial<KernelUnwell> & Record<string, unknown> = {};
    try {
      event = JSON.parse(body) as typeof event;
    } catch {
      // Not JSON: still evidence.
    }
    const text = typeof event.text === 'string' ? event.text : typeof event.detail === 'string' ? event.detail : null;
    if (isKernelName(event.kernel) && typeof event.process === 'string' && typeof event.reason === 'string') {
      await reportUnwell(
        this.deps,
        {
          kernel: event.kernel,
          process: event.process,
          pid: typeof event.pid === 'number' ? event.pid : null,
          reason: event.reason as KernelUnwell['reason'],
          detail: String(event.detail ?? subject),
          at: typeof event.at === 'number' ? event.at : Date.now(),
          observer: `${this.deps.name} via ${subject}`,
        },
        text,
      );
      return;
    }
    // Other evidence published by a kernel or a tool (`{kind, kernel, detail, key?}`) enters the seam too.
    if (isEvidenceKind(event.kind) && (event.kernel === undefined || event.kernel === null || isKernelName(event.kernel))) {
      await reportEvidence(
        this.deps,
        makeEvidence({
          kind: event.kind,
          kernel: (event.kernel as KernelName | null | undefined) ?? null,
          process: typeof event.process === 'string' ? event.process : null,
          pid: typeof event.pid === 'number' ? event.pid : null,
          detail: String(event.detail ?? subject),
          text,
          data: event.data && typeof event.data === 'object' ? (event.data as Record<string, unknown>) : {},
          at: typeof event.at === 'number' ? event.at : Date.now(),
          observer: `${this.deps.name} via ${subject}`,
          key: typeof event.key === 'string' ? event.key : `${subject}:${body.length}:${String(event.at ?? '')}`,
        }),
      );
      return;
    }
    // Idempotent on redelivery: keyed on the subject and body.
    await this.deps.db
      .collection<{ _id: string }>(EVIDENCE_COLLECTION)
      .updateOne({ _id: `bus:${subject}:${body.slice(0, 200)}` }, { $setOnInsert: { subject, body, at: new Date() } }, { upsert: true });
  }
}
