/**
 * The message bus client (NATS). Credentials come from configuration; kernels get their own
 * users once the bus kernel renders its ACL.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { LoadedConfig } from '../config/load';

export interface BusAuth {
  user: string;
  pass: string;
}

export async function connectBus(
  config: Pick<LoadedConfig, 'bus'>,
  options: { name?: string; auth?: BusAuth; timeoutMs?: number } = {},
): Promise<NatsConnection> {
  const creds = options.auth ?? (config.bus.credentials ? { user: config.bus.credentials.user, pass: config.bus.credentials.password } : undefined);
  return connect({
    servers: config.bus.url.replace(/^nats:\/\//, ''),
    name: options.name ?? 'layer1',
    timeout: options.timeoutMs ?? 5_000,
    ...(creds ?? {}),
  });
}
