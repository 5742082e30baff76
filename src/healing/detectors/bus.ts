/**
 * The message bus's detectors:
 *  - ACL violations: the bus's own log, read from where the last look stopped; every refused
 *    publish or subscribe nats-server logs ("Publish Violation - User "x", Subject "y"") is an event.
 *    On an external bus, whose nodes keep their logs, the refusals Layer 1's own connections
 *    received (kernels/message-bus/client-violations.ts), in the same shape;
 *  - consumers: every durable consumer the policy requires exists (else `consumer_missing`), and
 *    none has more pending messages than `detectors.queueBacklog.maxPending` (`queue_backlog`),
 *    asked of the JetStream API (the same on a cluster);
 *  - config drift: the rendered nats.conf is what the policy renders now; on an external bus, the
 *    rules the cluster enforces are the policy's, by real publishes as every user (every
 *    `externalEveryMs`), since there is no local file the cluster loads.
 */
import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync, statSync, readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { isNotFound } from '../../../kernels/message-bus/streams';
import { loadPolicy, policyFileOf } from '../../../kernels/message-bus/policy';
import path from 'node:path';
import { busPaths, renderBusText, renderedFileOf } from '../../../kernels/message-bus/render';
import { checkEnforcedRules } from '../../../kernels/message-bus/enforcement';
import type { LoadedConfig } from '../../config/load';
import { isEnforcementProbe, parseViolation, PROBE_USER } from '../../../kernels/message-bus/violations';
import { violationLogOf } from '../../../kernels/message-bus/client-violations';
import { connectBus } from '../../clients/bus';
import type { NatsConnection } from '@nats-io/nats-core';
import { aclViolationsConfig, busConfigDriftConfig, queueBacklogConfig } from './bus.config';
import { defineDetector, type Finding } from './types';

/** How far back the first look reads: what was refused while this replica started still counts. */
const FIRST_LOOK_BYTES = 1024 * 1024;
export const FIRST_LOOK_MS = 120_000;
/** When this replica's process loaded the detectors: its first look keeps lines from shortly before. */
const LOADED_AT = Date.now();

/** The time nats-server wrote a log line (`[pid] 2026/11/27 04:40:00.473579 [ERR] …`, local time); null if none. */
export function lineTime(line: string): number | null {
  const m = /(\d{4})\/(\d{2})\/(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{3})/.exec(line);
  if (!m) return null;
  const [y, mo, d, h, mi, sec, ms] = m.slice(1).map(Number);
  return new Date(y, mo - 1, d, h, mi, sec, ms).getTime();
}

/**
 * Reads a log file's new lines, remembering where the last read stopped (per file): the ACL
 * detector's state.
 */
export class LogTail {
  /** Where the last read stopped, per log file. */
  private readonly offsets = new Map<string, number>();

  /** @param startedAt the first look keeps lines written since FIRST_LOOK_MS before this. */
  constructor(private readonly startedAt = LOADED_AT) {}

  /**
   * New complete lines of `file` since the last call, each with its byte offset (stable across
   * replicas, so the offset names the event). The first look reads the end of the file and keeps
   * only lines written since shortly before this replica started: older ones are history.
   */
  read(file: string): Array<{ text: string; offset: number }> {
    let size: number;
    try {
      size = statSync(file).size;
    } catch {
      return [];
    }
    const last = this.offsets.get(file);
    const firstLook = last === undefined;
    // The file shrank: it was replaced, read it from its start.
    const from = firstLook ? Math.max(0, size - FIRST_LOOK_BYTES) : size < last ? 0 : last;
    if (size === from) {
      this.offsets.set(file, from);
      return [];
    }
    const buf = Buffer.alloc(Math.min(size - from, 4 * 1024 * 1024));
    const fd = openSync(file, 'r');
    try {
      readSync(fd, buf, 0, buf.length, from);
    } finally {
      closeSync(fd);
    }
    const end = buf.lastIndexOf(0x0a);
    if (end < 0) return [];
    this.offsets.set(file, from + end + 1);
    const out: Array<{ text: string; offset: number }> = [];
    let at = 0;
    while (at <= end) {
      const nl = buf.indexOf(0x0a, at);
      const text = buf.subarray(at, nl).toString('utf8');
      // A first look that starts mid-file also starts mid-line: skip that partial line.
      if (!(firstLook && from > 0 && at === 0)) {
        const t = firstLook ? lineTime(text) : null;
        if (!firstLook || t === null || t >= this.startedAt - FIRST_LOOK_MS) out.push({ text, offset: from + at });
      }
      at = nl + 1;
    }
    return out;
  }
}

export const aclViolations = defineDetector({
  name: 'acl_violations',
  config: aclViolationsConfig,
  kinds: ['acl_violation'],
  createState: () => new LogTail(),
  async check({ config, pm }, _settings, tail) {
    // An external cluster's log is on its nodes: there, the refusals Layer 1's own connections received.
    const file = violationLogOf(config, pm);
    const out: Array<Finding<'acl_violation'>> = [];
    for (const { text: line, offset } of tail.read(file)) {
      const v = parseViolation(line);
      // The readiness probe's and the enforcement check's refusals are the ACL working, on purpose.
      if (!v || v.user === PROBE_USER || isEnforcementProbe(line)) continue;
      const at = lineTime(line);
      out.push({
        kind: 'acl_violation',
        kernel: 'message_bus',
        process: busProcess(config),
        key: `${offset}@${at ?? 0}`,
        event: true,
        ...(at === null ? {} : { at }),
        detail: `ACL violation: ${v.user} -> ${v.subject} (${v.op} refused by the bus${config.bus.embedded ? '' : ', as its connection received it'})`,
        // The bus's own line: signed with its pid, time, address and client id masked.
        text: v.line,
        data: { user: v.user, subject: v.subject, op: v.op, logLine: v.line, logFile: file },
      });
    }
    return out;
  },
});

export const busConsumers = defineDetector({
  name: 'bus_consumers',
  config: queueBacklogConfig,
  kinds: ['queue_backlog', 'consumer_missing'],
  /** The operator's connection, opened on the first round. */
  createState: (): { operator?: NatsConnection } => ({}),
  async check({ config }, { maxPending }, state) {
    const policy = loadPolicy(policyFileOf(config));
    // As the operator: the healing kernel's own ACL user may read only its own consumers, and a
    // refused JetStream API call would itself be an ACL violation in the bus log.
    state.operator ??= await connectBus(config, { name: 'layer1-detector-consumers' });
    const jsm = await jetstreamManager(state.operator, { timeout: 2_000, checkAPI: false });
    const out: Array<Finding<'queue_backlog' | 'consumer_missing'>> = [];
    for (const [stream, s] of Object.entries(policy.streams)) {
      for (const consumer of Object.keys(s.consumers)) {
        try {
          const info = await jsm.consumers.info(stream, consumer);
          if (info.num_pending > maxPending) {
            out.push({
              kind: 'queue_backlog',
              kernel: 'message_bus',
              process: busProcess(config),
              key: `${stream}/${consumer}`,
              detail: `${info.num_pending} messages pending on ${stream}/${consumer} (threshold ${maxPending})`,
              data: { stream, consumer, pending: info.num_pending },
            });
          }
        } catch (err) {
          if (!isNotFound(err)) throw err;
          out.push({
            kind: 'consumer_missing',
            kernel: 'message_bus',
            process: busProcess(config),
            key: `${stream}/${consumer}`,
            detail: `the durable consumer ${stream}/${consumer} the bus policy requires does not exist`,
            data: { stream, consumer },
          });
        }
      }
    }
    return out;
  },
  async close(state) {
    await state.operator?.close();
  },
});

const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

/** The bus's process, when it is ours (the embedded bus); an external cluster has none here. */
function busProcess(config: LoadedConfig): string | null {
  return config.bus.embedded ? 'bus' : null;
}

export const busConfigDrift = defineDetector({
  name: 'bus_config_drift',
  config: busConfigDriftConfig,
  kinds: ['config_drift'],
  /** When the rules an external cluster enforces were last checked (they take real publishes). */
  createState: (): { externalAt: number } => ({ externalAt: 0 }),
  async check({ config }, { externalEveryMs }, state) {
    if (!config.bus.embedded) {
      if (Date.now() - state.externalAt < externalEveryMs) return [];
      state.externalAt = Date.now();
      return enforcedDrift(config);
    }
    const { confFile } = busPaths(config);
    let onDisk: Buffer;
    try {
      onDisk = readFileSync(confFile);
    } catch {
      return []; // not rendered yet: nothing has drifted
    }
    const expected = renderBusText(config);
    if (expected === null) return [];
    const [have, want] = [sha256(onDisk), sha256(expected)];
    if (have === want) return [];
    return [
      {
        kind: 'config_drift',
        kernel: 'message_bus',
        process: 'bus',
        key: have,
        detail: `${confFile} differs from what the ACL policy renders (sha256 ${have.slice(0, 12)}, expected ${want.slice(0, 12)})`,
        data: { file: 'bus/nats.conf', actualSha256: have, expectedSha256: want },
      },
    ];
  },
});

/**
 * An external cluster's drift: the rules it enforces (an allowed publish per allow pattern and a
 * forbidden one, as every user) differ from the policy's render. Nothing before the ACL was
 * rendered here (no credentials: nothing to compare with).
 */
async function enforcedDrift(config: LoadedConfig): Promise<Array<Finding<'config_drift'>>> {
  const expected = renderBusText(config);
  if (expected === null) return [];
  const report = await checkEnforcedRules(config);
  if (report.ok) return [];
  const bad = report.users.filter((u) => !u.ok);
  const file = path.relative(config.stateDir, renderedFileOf(config));
  // Keyed on what is wrong, not on the probes' unique subjects: the same drift is one condition.
  const key = sha256(bad.map((u) => `${u.user}:${u.problems.map((p) => p.replace(/probe\.[0-9a-f-]{36}/g, 'probe.*')).join(',')}`).join('|'));
  return [
    {
      kind: 'config_drift',
      kernel: 'message_bus',
      process: null,
      key,
      detail: `the external bus enforces other rules than the ACL policy renders (install \`layer1 bus render-acl\` in every node): ${report.detail}`,
      data: { file, users: bad.map((u) => u.user), expectedSha256: sha256(expected) },
    },
  ];
}
