/**
 * The message bus client (NATS). Every part of Layer 1 connects as its own user of the ACL policy
 * (kernels/message-bus), with its own reply inbox and the password from the rendered credentials
 * — on the embedded bus and on an external cluster alike (there the cluster's operator installs
 * the users `layer1 bus render-acl` prints). `bus.credentials`, when set, is the operator's own
 * login on an external bus: used for the `operator` user only, never for a kernel's. On an external
 * bus each connection also records the ACL refusals it receives (kernels/message-bus/client-violations.ts).
 */
import type { ConnectionOptions, NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { natsServers, parseSeedList } from '../config/bus-url';
import type { LoadedConfig } from '../config/load';
import { errorText } from '../domain/errors';
import { describeProbes, probeSeeds } from '../stack/bus-health';
import { BusUnreachableError } from '../../kernels/message-bus/errors';
import { busCredentials, inboxPrefix } from '../../kernels/message-bus/render';
import { recordRefusals } from '../../kernels/message-bus/client-violations';

export interface BusAuth {
  user: string;
  pass: string;
}

/** The ACL user every connection is, unless it says otherwise. */
export const OPERATOR_USER = 'operator';

export interface ConnectBusOptions {
  /** Connection name, shown in the server's /connz. @default 'layer1' */
  name?: string;
  /** ACL policy user to connect as. @default 'operator' */
  user?: string;
  /** @default 5000 */
  timeoutMs?: number;
}

/**
 * The servers and the login of a connection as `options.user`: every seed of `bus.url`; the
 * operator with `bus.credentials` when set, every other user (and the operator without them) with
 * its rendered password and its own reply inbox.
 * @throws BusCredentialsError when there are no rendered credentials for the user
 */
export function busConnectOptions(
  config: Pick<LoadedConfig, 'bus' | 'stateDir'>,
  options: Pick<ConnectBusOptions, 'user'> = {},
): Pick<ConnectionOptions, 'servers' | 'user' | 'pass' | 'inboxPrefix'> {
  const servers = natsServers(parseSeedList(config.bus.url));
  const user = options.user ?? OPERATOR_USER;
  if (user === OPERATOR_USER && config.bus.credentials) {
    return { servers, user: config.bus.credentials.user, pass: config.bus.credentials.password };
  }
  return { servers, ...busCredentials(config, user), inboxPrefix: inboxPrefix(user) };
}

/**
 * Connects to the bus as `options.user` (see {@link busConnectOptions}).
 * @throws BusCredentialsError when there are no rendered credentials for the user
 * @throws BusUnreachableError when no seed could be connected to: it names every seed and why
 */
export async function connectBus(
  config: Pick<LoadedConfig, 'bus' | 'stateDir'>,
  options: ConnectBusOptions = {},
): Promise<NatsConnection> {
  const opts = busConnectOptions(config, options);
  const timeoutMs = options.timeoutMs ?? 5_000;
  const name = options.name ?? 'layer1';
  let nc: NatsConnection;
  try {
    nc = await connect({
      name,
      timeout: timeoutMs,
      // The bus is a supervised kernel that comes back within a second of a crash (or a cluster
      // whose other nodes take over): reconnect soon and forever, rather than after the
      // library's 2 s default wait and 10 attempts.
      reconnectTimeWait: 100,
      maxReconnectAttempts: -1,
      ...opts,
    });
  } catch (err) {
    throw await explainConnectFailure(config, opts, err, timeoutMs);
  }
  // A cluster logs what it refuses only on its nodes: the refusals this connection receives are
  // recorded here instead, for the acl_violations detector (the embedded bus logs its own).
  if (!config.bus.embedded) recordRefusals(config, nc, { user: opts.user ?? OPERATOR_USER, connection: name });
  return nc;
}

/**
 * A failed first connect, said so that it can be acted on: a refused login names the user and
 * where its password comes from; a cluster of which no seed answered names every seed and why
 * (nats.js names only the last one it tried). Other errors are returned as they are.
 */
async function explainConnectFailure(
  config: Pick<LoadedConfig, 'bus' | 'stateDir'>,
  opts: Pick<ConnectionOptions, 'user'>,
  err: unknown,
  timeoutMs: number,
): Promise<unknown> {
  const e = err as { name?: string; message?: string };
  if (e.name === 'AuthorizationError' || /authoriz/i.test(e.message ?? '')) {
    if (config.bus.embedded) return err;
    const fix = opts.user === config.bus.credentials?.user ? 'check bus.credentials' : 'install the users `layer1 bus render-acl` prints in the cluster (and reload its nodes)';
    return new BusUnreachableError(`the bus cluster refused the login of user "${opts.user}" (${errorText(err)}): ${fix}`, { cause: err });
  }
  if (e.name !== 'ConnectionError' && !/ECONNREFUSED|timeout|refused/i.test(e.message ?? '')) return err;
  const seeds = parseSeedList(config.bus.url);
  const probes = await probeSeeds(seeds, Math.min(timeoutMs, 2_000));
  return new BusUnreachableError(`cannot connect to the bus: tried every seed of bus.url, ${describeProbes(probes)}`, { cause: err });
}
