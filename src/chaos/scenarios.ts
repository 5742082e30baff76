/**
 * One failure scenario per playbook: the real fault that makes a detector report the evidence the
 * playbook's trigger matches. The integration suite (test/integration/playbooks.test.ts) runs each
 * once and the benchmark (bench/playbooks-dispatch.ts) five times; chaos drills will draw on them.
 *
 * A scenario only injects. Waiting for the dispatched run and checking that the system is healthy
 * again is the caller's (see `awaitDispatchedRun`, and `allKernelsReady` in src/stack/kernel-readiness.ts), so nobody heals by hand.
 */
import path from 'node:path';
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Db } from 'mongodb';
import type { LoadedConfig } from '../config/load';
import { procStartTicks, procStatFields, type ProcessManager } from '../process/manager';
import { immutableLogClient } from '../../kernels/registry';
import { sha256File, SnapshotStore } from '../snapshots/store';
import { MODEL_SNAPSHOT_LABEL, readManifest } from '../coding-agent/models';
import { INCIDENTS_COLLECTION, REGISTRATIONS_COLLECTION } from '../clients/collections';
import { dispatchWorkflowId, type PlaybookReport } from '../../contracts/playbook';
import { withDeadline } from '../deadline';
import { UserError } from '../errors';
import { controlPlaneStatus } from '../stack/kernel-status';
import * as faults from './faults';
import type { Injected } from './faults';
import * as probe from './probes';
import * as bus from './verify-bus';

/** The durable consumer a kernel reads (the healing triggers), and the one nobody reads between runs. */
const TRIGGERS = { stream: 'LAYER1_EVENTS', consumer: 'self_healing_triggers' } as const;
const TELEMETRY = { stream: 'LAYER1_TELEMETRY', consumer: 'telemetry_archive' } as const;

/** A field the injector returned (scenarios know their own injector's facts). */
function fact<T>(injected: Injected, name: string): T {
  return (injected as unknown as Record<string, T>)[name];
}

export interface ScenarioContext {
  config: LoadedConfig;
  pm: ProcessManager;
  db: Db;
  temporal: Client;
}

export interface Scenario {
  playbook: string;
  /** What is broken, in a few words. */
  fault: string;
  /** The dispatched run's workflow id (the dispatcher's `dispatch-<playbook>-<kernel|process|any>`). */
  workflowId: string;
  /**
   * What must hold before the fault, so that the run it starts is a new one (a condition a detector
   * already reports would fold the fault into its episode and its run). Waited on by every caller.
   */
  ready?(ctx: ScenarioContext): Promise<void>;
  /** Breaks it for real. The returned restore() undoes what is still undone. */
  inject(ctx: ScenarioContext): Promise<Injected>;
  /** How long detection plus repair may take. */
  timeoutMs?: number;
  /**
   * The independent check: reads the system itself after the run (the file's checksum, the bus's
   * enforced rules, the consumer's pending count, the process table), never the run's report, and
   * throws (an AssertionError naming what is still wrong) if the fault is still there. It must fail
   * when the playbook's acting step is removed; the closing notes of issue 15 say how each was tried.
   */
  verify(ctx: ScenarioContext, injected: Injected, fault: FaultWindow): Promise<void>;
}

/** When the fault was injected: the time, and the immutable log's head just before. */
export interface FaultWindow {
  since: number;
  logHead: number;
}

/** Appends small entries until the log has at least one sealed segment, then snapshots the segments. */
export async function sealedSegmentSnapshotted(ctx: ScenarioContext): Promise<void> {
  const log = immutableLogClient(ctx.config, 30_000);
  const payload = 'x'.repeat(1024);
  for (let i = 0; (await log.usage()).usage.segments.sealed === 0; i++) {
    await Promise.all(Array.from({ length: 32 }, (_, j) => log.append('scenario.fill', { i, j, payload })));
  }
  // What the snapshot schedule keeps: the segments as they are now, sealed ones included.
  await new SnapshotStore(ctx.config.stateDir).take({ id: `scenario-${Date.now().toString(36)}`, label: 'hygiene', paths: ['log/segments'] });
}

const id = (playbook: string, target: string): string => dispatchWorkflowId(playbook, target);

export const SCENARIOS: readonly Scenario[] = [
  {
    playbook: 'message_bus_acl_violation_fix',
    fault: 'the bus enforces immutable_log without its layer1.log.> publish (reloaded), nats.conf put back unreloaded; a publish the policy allows is refused',
    workflowId: id('message_bus_acl_violation_fix', 'message_bus'),
    inject: (ctx) => faults.enforcedAclDrift(ctx, { user: 'immutable_log', pattern: 'layer1.log.>', subject: 'layer1.log.chaos' }),
    verify: async (ctx) => {
      bus.assertConfMatchesPolicy(ctx.config);
      const enforced = await bus.assertEveryUserEnforced(ctx.config);
      bus.assertMayPublish(enforced, 'immutable_log', 'layer1.log.>');
    },
  },
  {
    playbook: 'immutable_log_integrity_repair',
    fault: 'a flipped byte in a sealed segment of the immutable log',
    workflowId: id('immutable_log_integrity_repair', 'immutable_log'),
    inject: async (ctx) => {
      await sealedSegmentSnapshotted(ctx);
      return faults.corruptSealedLogEntry(ctx);
    },
    verify: (ctx, injected, { logHead }) => corruptEntryRepaired(ctx, injected, logHead),
  },
  {
    playbook: 'config_drift',
    fault: "nats.conf edited by hand: control_plane loses system.control, and the bus reloads it",
    workflowId: id('config_drift', 'message_bus'),
    inject: (ctx) => faults.tamperBusConfig(ctx),
    verify: async (ctx) => {
      bus.assertConfMatchesPolicy(ctx.config);
      const enforced = await bus.assertEveryUserEnforced(ctx.config);
      bus.assertMayPublish(enforced, 'control_plane', 'system.control');
    },
  },
  {
    playbook: 'message_bus_consumer_restore',
    fault: 'the durable consumer self_healing_triggers deleted',
    workflowId: id('message_bus_consumer_restore', 'message_bus'),
    inject: (ctx) => faults.deleteConsumer(ctx, TRIGGERS),
    verify: async (ctx) => {
      await bus.assertConsumerAsPolicy(ctx.config, TRIGGERS.stream, TRIGGERS.consumer);
      await bus.assertReaderTakesNewMessage(ctx.config, TRIGGERS.stream, TRIGGERS.consumer);
    },
  },
  {
    playbook: 'queue_backlog',
    fault: 'a flood of telemetry that nobody consumes',
    workflowId: id('queue_backlog', 'message_bus'),
    inject: (ctx) => faults.floodStream(ctx, { count: ctx.config.detectors.queueBacklog.maxPending * 2 }),
    verify: async (ctx, injected) => {
      // Discarded, so every message of the flood must be in the archive, by stream sequence.
      bus.assertArchiveHolds(ctx.config, TELEMETRY.stream, TELEMETRY.consumer, fact<number[]>(injected, 'seqs'));
      const before = fact<Record<string, number>>(injected, 'pending')[TELEMETRY.consumer];
      const now = await bus.consumerPending(ctx.config, TELEMETRY.stream, TELEMETRY.consumer);
      assert.ok(now < before && now <= ctx.config.detectors.queueBacklog.maxPending, `${TELEMETRY.consumer} pending ${now}, ${before} after the flood`);
    },
  },
  {
    playbook: 'model_file_corruption',
    fault: "a flipped byte in the coding agent's model file",
    workflowId: id('model_file_corruption', 'coding_agent'),
    inject: async (ctx) => ({ ...(await faults.corruptModelFile(ctx)), agentPid: ctx.pm.pid('coding-agent-1') }),
    verify: async (ctx, injected) => {
      const manifest = readManifest(ctx.config.stateDir);
      const file = fact<string>(injected, 'file');
      const name = file.split('/').pop() as string;
      const sha = await sha256File(path.join(ctx.config.stateDir, file));
      if (sha !== manifest?.files[name]) throw new probe.ProbeError(`${file} has SHA-256 ${sha}, its manifest says ${manifest?.files[name]}`);
      // And the agent works with it: its live worker (not the one running before the fault, which
      // loaded the file before it was damaged) registered the manifest's checksum as what it loaded.
      const oldPid = fact<number | null>(injected, 'agentPid') ?? -1;
      const pid = probe.processReplaced(ctx, 'coding-agent-1', oldPid);
      await probe.pollsTaskQueue(ctx, 'coding-agent-1', ctx.config.temporal.taskQueues.codingAgent);
      const reg = await ctx.db
        .collection<{ _id: string; pid: number; models?: Array<{ file: string; sha256: string }> | null; modelError?: string | null }>(REGISTRATIONS_COLLECTION)
        .findOne({ _id: 'coding-agent-1' });
      if (reg?.pid !== pid || !reg.models?.some((m) => m.file === name && m.sha256 === sha)) {
        throw new probe.ProbeError(`coding-agent-1 (pid ${pid}) works with ${JSON.stringify(reg?.models ?? null)} (${reg?.modelError ?? 'no error'}), not ${name} ${sha}`);
      }
    },
  },
  {
    playbook: 'stale_snapshot',
    fault: 'every snapshot moved away',
    workflowId: id('stale_snapshot', 'any'),
    inject: (ctx) => faults.hideSnapshots(ctx, { keepLabels: [MODEL_SNAPSHOT_LABEL] }),
    verify: (ctx) => probe.freshSnapshot(ctx, ctx.config.detectors.snapshots.maxAgeMs, [MODEL_SNAPSHOT_LABEL]),
  },
  {
    playbook: 'cpu_pressure',
    fault: 'a managed process in a busy loop',
    workflowId: id('cpu_pressure', 'runaway-cpu'),
    // Deaf to SIGTERM (a busy loop never runs a handler anyway): only the escalation to SIGKILL stops it.
    // Three busy threads: the detector's threshold is a share of one core, which one thread may not
    // reach on a loaded machine.
    inject: (ctx) => faults.startRunaway(ctx, { kind: 'cpu', ignoreTerm: true, threads: 3 }),
    verify: async (_ctx, injected) => runawayGone(injected),
  },
  {
    playbook: 'memory_pressure',
    fault: 'a managed process holding more memory than the threshold',
    workflowId: id('memory_pressure', 'runaway-memory'),
    inject: (ctx) => faults.startRunaway(ctx, { kind: 'memory', ignoreTerm: true }),
    verify: async (_ctx, injected) => runawayGone(injected),
  },
  {
    playbook: 'disk_pressure',
    fault: 'log archives grown past their threshold',
    workflowId: id('disk_pressure', 'immutable_log'),
    inject: (ctx) => faults.growLogArchives(ctx, { mb: ctx.config.detectors.disk.archivesMaxMb + 1 }),
    timeoutMs: 120_000,
    verify: async (ctx, _injected, { logHead }) => {
      // The archive folder on disk, not the log's own usage figure.
      const bytes = await probe.dirBytes(path.join(ctx.config.stateDir, 'log', 'archive'));
      const max = ctx.config.detectors.disk.archivesMaxMb * 1048576;
      if (bytes > max) throw new probe.ProbeError(`the log archives still take ${bytes} bytes on disk (threshold ${max})`);
      await probe.logChainVerifies(ctx, logHead);
    },
  },
  {
    playbook: 'immutable_log_disk_full',
    fault: "the immutable log filled past its quota's alert threshold",
    workflowId: id('immutable_log_disk_full', 'immutable_log'),
    inject: (ctx) => faults.fillLogQuota(ctx, { percent: ctx.config.detectors.logQuota.percent + 2 }),
    timeoutMs: 120_000,
    verify: async (ctx, injected, { logHead }) => {
      // What the log's files take on disk against its quota, summed here rather than asked of it.
      const used = await probe.dirBytes(path.join(ctx.config.stateDir, 'log'));
      const quota = fact<number>(injected, 'quotaBytes');
      const percent = (100 * used) / quota;
      if (percent >= ctx.config.detectors.logQuota.percent) {
        throw new probe.ProbeError(`the log's files take ${used} bytes, ${percent.toFixed(1)}% of its ${quota}-byte quota (alert at ${ctx.config.detectors.logQuota.percent}%)`);
      }
      await probe.logChainVerifies(ctx, logHead);
    },
  },
  {
    playbook: 'latency_spike',
    fault: 'the immutable log server throttled (SIGSTOP/SIGCONT cycles)',
    workflowId: id('latency_spike', 'immutable_log'),
    inject: (ctx) => faults.throttleProcess(ctx, { process: 'immutable-log', ms: 60_000, stopMs: 600, runMs: 15 }),
    verify: async (ctx, injected) => {
      probe.processReplaced(ctx, 'immutable-log', fact<number>(injected, 'pid'));
      // Answers in time again: the median of five reads of its head, under the detector's threshold.
      const log = immutableLogClient(ctx.config, 5_000);
      const took: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        await log.head();
        took.push(Date.now() - t0);
      }
      const median = took.sort((a, b) => a - b)[2];
      if (median >= ctx.config.detectors.latency.thresholdMs) throw new probe.ProbeError(`the log answers in ${median} ms (threshold ${ctx.config.detectors.latency.thresholdMs} ms)`);
    },
  },
  {
    playbook: 'control_plane_deadlock',
    fault: 'the immutable log server hangs while it starts (stopped as soon as the control plane restarts it): the restart waits on it',
    workflowId: id('control_plane_deadlock', 'immutable_log'),
    inject: async (ctx) => {
      const killed = await faults.killProcess(ctx, { process: 'immutable-log' });
      // Caught before it listens: the control plane's wait for its self-test cannot end.
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const pid = ctx.pm.pid('immutable-log');
        if (pid !== null && pid !== killed.pid) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      const stalled = await faults.stallProcess(ctx, { process: 'immutable-log', ms: 120_000 });
      return { ...stalled, ticks: procStartTicks(stalled.pid), detail: `${killed.detail}; then ${stalled.detail}` };
    },
    timeoutMs: 90_000,
    verify: async (ctx, injected, { since }) => {
      const [pid, ticks] = [fact<number>(injected, 'pid'), fact<number | null>(injected, 'ticks')];
      probe.processGone(pid, 'the stopped immutable-log server', ticks);
      probe.processReplaced(ctx, 'immutable-log', pid);
      await probe.controlPlaneAnswers(ctx, ctx.config.detectors.controlPlane.queryTimeoutMs);
      // Broken by the kill, not by the control plane's own restart timeout much later.
      await probe.kernelReadyWithin(ctx, 'immutable_log', since, ctx.config.detectors.controlPlane.deadlockMs + 30_000);
    },
  },
  {
    playbook: 'message_bus_restart_drain',
    fault: 'kill -9 of nats-server',
    workflowId: id('message_bus_restart_drain', 'message_bus'),
    inject: async (ctx) => {
      // What nobody reads between runs must still be there afterwards: the run acks nothing itself.
      const telemetryPending = await bus.consumerPending(ctx.config, TELEMETRY.stream, TELEMETRY.consumer);
      return { ...(await faults.killProcess(ctx, { process: 'bus' })), telemetryPending, at: Date.now() };
    },
    verify: async (ctx, injected) => {
      await bus.assertBusAnswers(ctx.config);
      await bus.assertPolicyStreamsPresent(ctx.config);
      await bus.assertEveryUserEnforced(ctx.config);
      await bus.assertReaderTakesNewMessage(ctx.config, TRIGGERS.stream, TRIGGERS.consumer);
      const before = fact<number>(injected, 'telemetryPending');
      const now = await bus.consumerPending(ctx.config, TELEMETRY.stream, TELEMETRY.consumer);
      assert.ok(now >= before, `${TELEMETRY.consumer} lost messages nobody read: pending ${now}, ${before} before the kill`);
      // One fault, one remedy: the bus unreachable is this outage's consequence, not a second fault.
      await bus.assertNoRunSince(ctx.temporal, dispatchWorkflowId('dependency_unreachable', 'bus'), fact<number>(injected, 'at') - 1_000, 'a second remedy for the bus outage');
    },
  },
  {
    playbook: 'self_healing_bootstrap',
    fault: 'kill -9 of a healing replica',
    workflowId: id('self_healing_bootstrap', 'self_healing'),
    inject: (ctx) => faults.killProcess(ctx, { process: 'healing-2' }),
    verify: async (ctx, injected) => {
      probe.processReplaced(ctx, 'healing-2', fact<number>(injected, 'pid'));
      await probe.pollsTaskQueue(ctx, 'healing-2', ctx.config.temporal.taskQueues.healing);
    },
  },
  {
    playbook: 'coding_agent_bootstrap',
    fault: 'kill -9 of the coding-agent worker',
    workflowId: id('coding_agent_bootstrap', 'coding_agent'),
    inject: (ctx) => faults.killProcess(ctx, { process: 'coding-agent-1' }),
    verify: async (ctx, injected) => {
      probe.processReplaced(ctx, 'coding-agent-1', fact<number>(injected, 'pid'));
      await probe.pollsTaskQueue(ctx, 'coding-agent-1', ctx.config.temporal.taskQueues.codingAgent);
    },
  },
  {
    playbook: 'crash_loop',
    fault: 'the immutable log server killed again each time it is back',
    workflowId: id('crash_loop', 'immutable_log'),
    // A crash loop still going (earlier faults' restarts in its window) would take these kills into
    // its episode: wait until the control plane ends it (a window without restarts).
    ready: (ctx) => noCrashLoop(ctx, ctx.config.controlPlane.crashLoop.windowMs + 30_000),
    // Each kill lands on a process that has been ready: crashes, rather than failed starts.
    inject: (ctx) => faults.crashLoop(ctx, { process: 'immutable-log', kills: ctx.config.controlPlane.crashLoop.restarts + 1, intervalMs: 2_500 }),
    timeoutMs: 180_000,
    // The control plane restarts the process by itself (with back-off); what the playbook adds is
    // the high-severity backlog item, and the wait until the kernel is ready again.
    verify: async (ctx, _injected, { since }) => {
      await probe.backlogItemOpened(ctx.db, since, /^immutable_log is crash-looping/, 'high');
      if (ctx.pm.pid('immutable-log') === null) throw new probe.ProbeError('immutable-log is not running');
    },
  },
  {
    playbook: 'control_plane_failover',
    fault: 'the control plane workflow terminated',
    workflowId: id('control_plane_failover', 'self_healing'),
    inject: (ctx) => faults.terminateControlPlane(ctx),
    verify: (ctx, injected) => probe.controlPlaneAnswers(ctx, ctx.config.detectors.controlPlane.queryTimeoutMs, fact<string>(injected, 'runId')),
  },
  {
    playbook: 'dependency_unreachable',
    fault: 'the store (FerretDB) stopped with SIGSTOP',
    workflowId: id('dependency_unreachable', 'store'),
    // A store slow under load makes this evidence too: while that incident has not finished its
    // remedy, the fault's evidence is attached to it and starts no run (a CI run saw it).
    ready: (ctx) => noIncidentBeforeRemedyEnd(ctx, 'dependency_unreachable', 120_000),
    // Stopped for longer than the test waits: only the playbook (or restore) resumes it.
    inject: (ctx) => faults.stallProcess(ctx, { process: 'store', ms: 600_000 }),
    verify: async (ctx, injected) => {
      const pid = fact<number>(injected, 'pid');
      const state = procStatFields(pid)?.[0];
      if (state === 'T' || state === 't') throw new probe.ProbeError(`the store (pid ${pid}) is still stopped`);
      const t0 = Date.now();
      await withDeadline(ctx.db.command({ ping: 1 }), 2_000, 'the store did not answer a ping within 2 s');
      if (Date.now() - t0 > 2_000) throw new probe.ProbeError('the store answered a ping in more than 2 s');
    },
  },
];

/** The entry the fault damaged is back, and the whole chain verifies with every entry acknowledged before. */
async function corruptEntryRepaired(ctx: ScenarioContext, injected: Injected, logHead: number): Promise<void> {
  await probe.logChainVerifies(ctx, logHead);
  const seq = fact<number>(injected, 'seq');
  const [repaired] = (await immutableLogClient(ctx.config, 30_000).entries(seq, 1)).entries;
  if (repaired?.seq !== seq) throw new probe.ProbeError(`entry ${seq}, the one corrupted, is not readable`);
}

/** The runaway process the fault started no longer runs. */
function runawayGone(injected: Injected): void {
  probe.processGone(fact<number>(injected, 'pid'), fact<string>(injected, 'name'));
}

export interface DispatchedRun {
  workflowId: string;
  runId: string;
  report: PlaybookReport;
  /** Epoch ms: when the run started, and when the detector saw the evidence that started it. */
  startedAt: number;
  evidenceAt: number | null;
}

/**
 * Waits for the dispatcher's run of `workflowId` that started at or after `sinceMs`, then for its
 * result. A failed run rejects with Temporal's WorkflowFailedError (its cause names the step).
 */
/** Waits until the control plane reports no kernel in a crash loop, and the detector has seen it clear. */
export async function noCrashLoop(ctx: ScenarioContext, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Object.values((await controlPlaneStatus(ctx.temporal))?.kernels ?? {}).some((k) => k.crashLoop)) {
    if (Date.now() > deadline) throw new Error(`a crash loop did not end within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
  // The control_plane detector's next round must see it clear, or the new loop is the old episode.
  await new Promise((r) => setTimeout(r, 2 * ctx.config.detectors.controlPlane.everyMs));
}

/**
 * Waits until no incident opened by `kind` evidence is before the end of its remedy: evidence with
 * its signature would be attached to it, and a fault injected then starts no run of its own.
 */
export async function noIncidentBeforeRemedyEnd(ctx: ScenarioContext, kind: string, timeoutMs: number): Promise<void> {
  // Opened in the last 10 minutes: an older record still before its remedy's end is a lost write, not a run going.
  const recent = new Date(Date.now() - 10 * 60_000).toISOString();
  const busy = () => ctx.db.collection(INCIDENTS_COLLECTION).find({ 'evidence.first.kind': kind, state: { $in: ['open', 'diagnosing', 'remedying'] }, openedAt: { $gte: recent } }).project({ _id: 1, state: 1 }).toArray();
  const deadline = Date.now() + timeoutMs;
  for (let open = await busy(); open.length > 0; open = await busy()) {
    if (Date.now() > deadline) throw new Error(`incidents of ${kind} still before their remedy's end after ${timeoutMs} ms: ${open.map((i) => `${String(i._id)} (${String(i.state)})`).join(', ')}`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

export async function awaitDispatchedRun(temporal: Client, workflowId: string, sinceMs: number, timeoutMs: number): Promise<DispatchedRun> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const d = await temporal.workflow.getHandle(workflowId).describe();
      // Runs of earlier incidents share the workflow id: only one started since the fault counts.
      if (d.startTime.getTime() >= sinceMs) {
        const handle = temporal.workflow.getHandle(workflowId, d.runId);
        const report = (await withDeadline(handle.result(), deadline - Date.now(), `${workflowId} did not finish`)) as PlaybookReport;
        const evidenceAt = report.evidence[0]?.at ?? null;
        return { workflowId, runId: d.runId, report, startedAt: d.startTime.getTime(), evidenceAt };
      }
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    // A UserError: the CLI (`playbook rehearse`) prints it as one line, without a stack trace.
    if (Date.now() > deadline) throw new UserError(`no run of ${workflowId} was dispatched within ${timeoutMs} ms: check \`layer1 evidence\` for what the detectors saw`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
