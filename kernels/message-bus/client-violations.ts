/**
 * ACL violations on an external bus, as Layer 1's own connections receive them.
 *
 * The embedded bus writes every refused publish or subscribe to its log, which the acl_violations
 * detector tails. A cluster writes them only to its nodes' own logs, and NATS publishes no `$SYS`
 * advisory for them (only for failed logins). What a cluster does tell is the client it refused:
 * `-ERR 'Permissions Violation for Publish to "S"'`, which nats.js hands to the connection's status
 * listeners. So every connection Layer 1 opens to an external bus (src/clients/bus.ts) records each
 * refusal it receives as one line in `<stateDir>/logs/bus-violations.log`, in the shape of
 * nats-server's own line. The detector, validate_bus_acl's analysis and the acl_violation fault
 * read that file as they read the embedded bus's log, with the same parser ({@link parseViolation}).
 *
 * What it cannot see: refusals of clients that are not Layer 1's (their nodes' logs have them), and
 * those of Layer 1 processes on another host (each host writes its own state directory).
 */
import { appendFileSync, mkdirSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import { PermissionViolationError, type NatsConnection } from '@nats-io/nats-core';
import type { LoadedConfig } from '../../src/config/load';
import { ENFORCEMENT_PROBE_PREFIX, PROBE_USER } from './violations';

/** The refusals file of an external bus, beside the processes' logs. */
export function clientViolationsFile(config: Pick<LoadedConfig, 'stateDir'>): string {
  return path.join(config.stateDir, 'logs', 'bus-violations.log');
}

/**
 * Where the bus's refusals are read from: the embedded bus's own log, or on an external bus the
 * file Layer 1's connections write ({@link clientViolationsFile}).
 */
export function violationLogOf(config: Pick<LoadedConfig, 'stateDir' | 'bus'>, pm: { logPath(name: string): string }): string {
  return config.bus.embedded ? pm.logPath('bus') : clientViolationsFile(config);
}

/** Past this size the file is moved to `.1` (one generation kept): the detector reads only new lines. */
export const CLIENT_VIOLATIONS_MAX_BYTES = 4 * 1024 * 1024;

export interface ClientViolation {
  user: string;
  op: 'publish' | 'subscribe';
  subject: string;
  /** The connection's name (as the server would log it). */
  connection: string;
  /** The node that refused it (`host:port`), when known. */
  server?: string;
  at?: Date;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** nats-server's log time: local time, microseconds (`2026/12/06 19:20:00.123000`). */
function logTime(d: Date): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}000`;
}

/**
 * One refusal as nats-server 2.10+ logs it, so that the same parser, the same signature and the
 * same analysis apply: `[pid] time [ERR] node - cid:0 - "nats.js:NAME" - "$G/user:USER" - Publish
 * Violation - Subject "S"`. The pid is the recording process's; `node` is the server that refused.
 */
export function clientViolationLine(v: ClientViolation): string {
  const op = v.op === 'publish' ? 'Publish' : 'Subscription';
  return `[${process.pid}] ${logTime(v.at ?? new Date())} [ERR] ${v.server ?? 'cluster'} - cid:0 - "nats.js:${v.connection}" - "$G/user:${v.user}" - ${op} Violation - Subject "${v.subject}"`;
}

/** Appends one refusal to the file (creating its folder), moving a full file aside first. */
export function recordClientViolation(config: Pick<LoadedConfig, 'stateDir'>, v: ClientViolation): void {
  const file = clientViolationsFile(config);
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    if (statSync(file).size > CLIENT_VIOLATIONS_MAX_BYTES) renameSync(file, `${file}.1`);
  } catch {
    // No file yet: the append creates it.
  }
  // One write of one line with O_APPEND: lines of several processes never interleave.
  appendFileSync(file, `${clientViolationLine(v)}\n`);
}

/**
 * Records every refusal `nc` receives from now on, until it closes. The readiness probe's user and
 * the enforcement check's connections are refused on purpose: theirs are not recorded (the bus
 * log's are skipped by the readers for the same reason).
 */
export function recordRefusals(config: Pick<LoadedConfig, 'stateDir'>, nc: NatsConnection, who: { user: string; connection: string }): void {
  if (who.user === PROBE_USER || who.connection.startsWith(ENFORCEMENT_PROBE_PREFIX)) return;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type !== 'error' || !(s.error instanceof PermissionViolationError)) continue;
      const op = s.error.operation === 'publish' ? 'publish' : 'subscribe';
      try {
        recordClientViolation(config, { user: who.user, op, subject: s.error.subject, connection: who.connection, server: nc.getServer() });
      } catch (err) {
        // A full disk must not break the connection that was refused: said on stderr, once per refusal.
        process.stderr.write(`layer1: could not record the bus's refusal of ${who.user} on ${s.error.subject}: ${(err as Error).message}\n`);
      }
    }
  })().catch(() => undefined);
}
