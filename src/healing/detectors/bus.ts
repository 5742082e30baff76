/**
 * The message bus's detectors:
 *  - ACL violations: the bus's own log, read from where the last look stopped; every refused
 *    publish or subscribe nats-server logs ("Publish Violation - User "x", Subject "y"") is an event;
 *  - consumers: every durable consumer the policy requires exists (else `consumer_missing`), and
 *    none has more pending messages than `detectors.queueBacklog.maxPending` (`queue_backlog`);
 *  - config drift: the rendered nats.conf is what the policy renders now.
 */
import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync, statSync, readFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { isNotFound } from '../../../kernels/message-bus/streams';
import { loadPolicy, policyFileOf } from '../../../kernels/message-bus/policy';
import { busPaths, renderBusText } from '../../../kernels/message-bus/render';
import { parseViolation, PROBE_USER } from '../../../kernels/message-bus/violations';
import { connectBus } from '../../clients/bus';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Detector, Finding } from './types';

/** Where the last read of the bus log stopped, per log file. Starts at the end: old lines are history. */
const logOffsets = new Map<string, number>();

/** New complete lines of `file` since the last call (none on the first call). */
export function readNewLines(file: string): { lines: string[]; from: number } {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return { lines: [], from: 0 };
  }
  const last = logOffsets.get(file);
  if (last === undefined || size < last) {
    // First look, or the file was replaced: start from its end (or its start, when it shrank).
    logOffsets.set(file, last === undefined ? size : 0);
    if (last === undefined) return { lines: [], from: size };
  }
  const from = logOffsets.get(file)!;
  if (size === from) return { lines: [], from };
  const buf = Buffer.alloc(Math.min(size - from, 4 * 1024 * 1024));
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, buf.length, from);
  } finally {
    closeSync(fd);
  }
  const text = buf.toString('utf8');
  const end = text.lastIndexOf('\n');
  if (end < 0) return { lines: [], from };
  logOffsets.set(file, from + Buffer.byteLength(text.slice(0, end + 1)));
  return { lines: text.slice(0, end).split('\n'), from };
}

export const aclViolations: Detector = {
  name: 'acl_violations',
  everyMs: () => 500,
  async check({ pm }): Promise<Finding[]> {
    const file = pm.logPath('bus');
    const { lines, from } = readNewLines(file);
    const out: Finding[] = [];
    for (const [i, line] of lines.entries()) {
      const v = parseViolation(line);
      if (!v || v.user === PROBE_USER) continue;
      out.push({
        kind: 'acl_violation',
        kernel: 'message_bus',
        process: 'bus',
        key: `${from}:${i}`,
        event: true,
        detail: `ACL violation: ${v.user} -> ${v.subject} (${v.op} refused by the bus)`,
        data: { user: v.user, subject: v.subject, op: v.op, logLine: v.line, logFile: file },
      });
    }
    return out;
  },
};

let operator: NatsConnection | undefined;

export const busConsumers: Detector = {
  name: 'bus_consumers',
  everyMs: (config) => config.detectors.queueBacklog.everyMs,
  async check({ config }): Promise<Finding[]> {
    const policy = loadPolicy(policyFileOf(config));
    // As the operator: the healing kernel's own ACL user may read only its own consumers, and a
    // refused JetStream API call would itself be an ACL violation in the bus log.
    operator ??= await connectBus(config, { name: 'layer1-detector-consumers' });
    const jsm = await jetstreamManager(operator, { timeout: 2_000, checkAPI: false });
    const out: Finding[] = [];
    for (const [stream, s] of Object.entries(policy.streams)) {
      for (const consumer of Object.keys(s.consumers)) {
        try {
          const info = await jsm.consumers.info(stream, consumer);
          if (info.num_pending > config.detectors.queueBacklog.maxPending) {
            out.push({
              kind: 'queue_backlog',
              kernel: 'message_bus',
              process: 'bus',
              key: `${stream}/${consumer}`,
              detail: `${info.num_pending} messages pending on ${stream}/${consumer} (threshold ${config.detectors.queueBacklog.maxPending})`,
              data: { stream, consumer, pending: info.num_pending },
            });
          }
        } catch (err) {
          if (!isNotFound(err)) throw err;
          out.push({
            kind: 'consumer_missing',
            kernel: 'message_bus',
            process: 'bus',
            key: `${stream}/${consumer}`,
            detail: `the durable consumer ${stream}/${consumer} the bus policy requires does not exist`,
            data: { stream, consumer },
          });
        }
      }
    }
    return out;
  },
};

const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

export const busConfigDrift: Detector = {
  name: 'bus_config_drift',
  everyMs: () => 2_000,
  async check({ config }): Promise<Finding[]> {
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
};
