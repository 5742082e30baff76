/**
 * The external watch: servers with `embedded: false` are the operator's (a Temporal cluster, a
 * MongoDB or FerretDB, a NATS cluster), never started or stopped by Layer 1, but their outages are
 * Layer 1's evidence. Each address a client may use (src/stack/endpoints.ts) is probed every
 * `servers.probeEveryMs`:
 *  - every address: a TCP connect first (a dead process refuses at once; the SDK and the driver
 *    would retry it until their deadline), then:
 *  - a Temporal frontend: a fresh connection (TLS as configured), the namespace described, the
 *    control plane's workflow described (the history service answers for it; not found is an
 *    answer) and the healing task queue described (the matching service answers): a dead history or
 *    matching service behind a live frontend is an outage too;
 *  - the store: a ping over the trigger monitor's own pool (its replica set as one);
 *  - a NATS seed: the TCP connect alone.
 * {@link MISSES} failed probes in a row begin an outage: one `external_down` evidence; the first
 * answer after it ends the outage: one `external_back` evidence with how long it lasted. Both are
 * recorded and counted, never dispatched and never an incident (OBSERVED_KINDS in ./evidence.ts):
 * nothing of Layer 1's can restart another's server. The store may be what is down: a report it did
 * not take is tried again each round (the same evidence id, so a retry folds into one record) for
 * {@link REPORT_RETRY_MS}.
 *
 * One replica watches: the trigger monitor's leader (it keeps its leadership while the store is down).
 */
import { tcpRefusal } from '../net-probe';
import { Connection } from '@temporalio/client';
import type { Db } from 'mongodb';
import type { Logger } from 'pino';
import { CONTROL_PLANE_WORKFLOW_ID } from '../../contracts/control-plane';
import { tlsOptions } from '../clients/temporal';
import type { LoadedConfig } from '../config/load';
import { withDeadline } from '../deadline';
import { errorText } from '../domain/errors';
import { endpointText, serverEndpoints, type Endpoint } from '../stack/endpoints';
import { SERVICE_NAMES, type ServiceName } from '../stack/services';
import { makeEvidence, type Evidence } from './evidence';

/** Failed probes in a row that begin an outage (one is a lost packet or a slow answer). */
export const MISSES = 2;
/** A report the store did not take is tried again for this long. */
const REPORT_RETRY_MS = 10 * 60_000;

/** Null when the endpoint answered within `timeoutMs`, else why not. */
export type EndpointProbe = (server: ServiceName, endpoint: Endpoint, timeoutMs: number) => Promise<string | null>;

export interface ExternalWatchDeps {
  config: LoadedConfig;
  /** This replica's process name (the evidence's observer). */
  name: string;
  log: Logger;
  probe: EndpointProbe;
  /** Whether this replica watches now. */
  leads: () => boolean;
  /** Hands evidence to the seam; resolves false when the store did not record it. */
  report: (e: Evidence) => Promise<boolean>;
  now?: () => number;
}

interface Target {
  server: ServiceName;
  endpoint: Endpoint;
  misses: number;
  firstMissAt: number;
  lastError: string;
  /** The outage under way: since when (its first failed probe). */
  downSince: number | null;
  busy: boolean;
}

/** The endpoints of the external servers: the store as one (its pool), every Temporal frontend and NATS seed. */
export function externalTargets(config: LoadedConfig): Array<{ server: ServiceName; endpoint: Endpoint }> {
  const embedded: Record<ServiceName, boolean> = { temporal: config.temporal.embedded, store: config.store.embedded, bus: config.bus.embedded };
  return SERVICE_NAMES.filter((s) => !embedded[s]).flatMap((server) => {
    const eps = serverEndpoints(config, server);
    return (server === 'store' ? eps.slice(0, 1) : eps).map((endpoint) => ({ server, endpoint }));
  });
}

export class ExternalWatch {
  private timer: NodeJS.Timeout | undefined;
  private readonly targets: Target[];
  private readonly pending: Array<{ evidence: Evidence; since: number }> = [];
  private readonly now: () => number;
  private flushing = false;

  constructor(private readonly deps: ExternalWatchDeps) {
    this.now = deps.now ?? Date.now;
    this.targets = externalTargets(deps.config).map((t) => ({ ...t, misses: 0, firstMissAt: 0, lastError: '', downSince: null, busy: false }));
  }

  start(): void {
    if (!this.deps.config.servers.watchExternal || this.targets.length === 0) return;
    this.timer = setInterval(() => void this.tick(), this.deps.config.servers.probeEveryMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One round: every target probed side by side, then what is still to be recorded; exported for tests. */
  async tick(): Promise<void> {
    if (!this.deps.leads()) return;
    await Promise.all(this.targets.filter((t) => !t.busy).map((t) => this.check(t)));
    await this.flush();
  }

  private async check(t: Target): Promise<void> {
    t.busy = true;
    try {
      const timeoutMs = this.deps.config.servers.probeTimeoutMs;
      const started = this.now();
      const error = await withDeadline(this.deps.probe(t.server, t.endpoint, timeoutMs), timeoutMs).catch((err: unknown) => errorText(err));
      if (error === null) {
        if (t.downSince !== null) this.ended(t, this.now());
        t.misses = 0;
        return;
      }
      if (t.misses++ === 0) t.firstMissAt = started;
      t.lastError = error;
      if (t.misses >= MISSES && t.downSince === null) this.began(t);
    } finally {
      t.busy = false;
    }
  }

  private began(t: Target): void {
    t.downSince = t.firstMissAt;
    const where = endpointText(t.endpoint);
    const detail = `the external ${t.server} at ${where} did not answer ${t.misses} probes in a row: ${t.lastError}`;
    this.deps.log.warn({ server: t.server, endpoint: where, error: t.lastError }, detail);
    this.queue(this.evidence(t, 'external_down', detail, `the external ${t.server} at ${where} stopped answering`, { error: t.lastError }));
  }

  private ended(t: Target, at: number): void {
    const where = endpointText(t.endpoint);
    const downMs = at - (t.downSince ?? at);
    const detail = `the external ${t.server} at ${where} answers again after ${downMs} ms (last error: ${t.lastError})`;
    this.deps.log.info({ server: t.server, endpoint: where, downMs }, detail);
    this.queue(this.evidence(t, 'external_back', detail, `the external ${t.server} at ${where} answers again`, { downMs, backAt: at }));
    t.downSince = null;
  }

  /** One outage's evidence of `kind`: keyed on the endpoint and the outage's start, so a retry is the same record. */
  private evidence(t: Target, kind: 'external_down' | 'external_back', detail: string, text: string, data: Record<string, unknown>): Evidence {
    const where = endpointText(t.endpoint);
    return makeEvidence({
      kind,
      kernel: null,
      process: null,
      pid: null,
      detail,
      text,
      data: { server: t.server, endpoint: where, downAt: t.downSince, ...data },
      at: this.now(),
      observer: this.deps.name,
      key: `${t.server}@${where}@${t.downSince}`,
    });
  }

  private queue(evidence: Evidence): void {
    this.pending.push({ evidence, since: this.now() });
  }

  /** Hands over what is pending, in order; what the store did not take stays for the next round. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (const p of [...this.pending]) {
        const ok = await this.deps.report(p.evidence).catch(() => false);
        if (ok || this.now() - p.since > REPORT_RETRY_MS) this.pending.splice(this.pending.indexOf(p), 1);
        if (!ok) return;
      }
    } finally {
      this.flushing = false;
    }
  }
}

/** gRPC NOT_FOUND: the history service answered that the workflow does not exist (yet). */
const isNotFound = (err: unknown): boolean => (err as { code?: number }).code === 5 || (err as Error).name === 'NotFoundError';

/** A frontend, and the history and matching services behind it (see the module comment). */
async function temporalAnswer(config: LoadedConfig, endpoint: Endpoint, timeoutMs: number): Promise<string | null> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: endpointText(endpoint), tls: tlsOptions(config), connectTimeout: timeoutMs });
    const { namespace } = config.temporal;
    const svc = connection.workflowService;
    await Promise.all([
      svc.describeNamespace({ namespace }),
      svc.describeWorkflowExecution({ namespace, execution: { workflowId: CONTROL_PLANE_WORKFLOW_ID } }).catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      }),
      svc.describeTaskQueue({ namespace, taskQueue: { name: config.temporal.taskQueues.healing }, taskQueueType: 1 }),
    ]);
    return null;
  } catch (err) {
    return errorText(err);
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** The probes the trigger monitor runs: see the module comment. */
export function endpointProbe(config: LoadedConfig, db: Db): EndpointProbe {
  return async (server, endpoint, timeoutMs) => {
    // A refused connection first, at once: the clients would keep retrying it until their deadline.
    const tcp = await tcpRefusal(endpoint.host, endpoint.port, timeoutMs);
    if (tcp !== null || server === 'bus') return tcp;
    if (server === 'temporal') return temporalAnswer(config, endpoint, timeoutMs);
    return db.command({ ping: 1 }).then(() => null, (err: unknown) => errorText(err));
  };
}
