/**
 * The message bus client (NATS). On the embedded bus every part of Layer 1 connects as its own
 * user from the rendered ACL policy (kernels/message-bus), with its own reply inbox; an external
 * NATS takes the credentials from configuration.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { LoadedConfig } from '../config/load';
import { busCredentials, inboxPrefix } from '../../kernels/message-bus/render';

export interface BusAuth {
  user: string;
  pass: string;
}

export interface ConnectBusOptions {
  /** Connection name, shown in the server's /connz. @default 'layer1' */
  name?: string;
  /** ACL policy user to connect as on the embedded bus. @default 'operator' */
  user?: string;
  /** @default 5000 */
  timeoutMs?: number;
}

/**
 * Connects to the bus. External NATS with `bus.credentials`: those. Embedded bus: the rendered
 * credentials of `options.user`, with the reply inbox that user may subscribe to.
 * @throws BusCredentialsError when the embedded bus has no credentials for the user.
 */
export async function connectBus(
  config: Pick<LoadedConfig, 'bus' | 'stateDir'>,
  options: ConnectBusOptions = {},
): Promise<NatsConnection> {
  let auth: Partial<BusAuth> & { inboxPrefix?: string } = {};
  if (config.bus.credentials) {
    auth = { user: config.bus.credentials.user, pass: config.bus.credentials.password };
  } else if (config.bus.embedded) {
    const user = options.user ?? 'operator';
    auth = { ...busCredentials(config, user), inboxPrefix: inboxPrefix(user) };
  }
  return connect({
    servers: config.bus.url.replace(/^nats:\/\//, ''),
    name: options.name ?? 'layer1',
    timeout: options.timeoutMs ?? 5_000,
    // The bus is a supervised kernel that comes back within a second of a crash: reconnect soon
    // and forever, rather than after the library's 2 s default wait and 10 attempts.
    reconnectTimeWait: 100,
    maxReconnectAttempts: -1,
    ...auth,
  });
}
