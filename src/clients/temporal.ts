/**
 * Temporal connections built from configuration alone, so the same code reaches the embedded dev
 * server or a real cluster / Temporal Cloud (address, namespace, TLS).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { TLSConfig } from '@temporalio/client';
import type { LoadedConfig } from '../config/load';

export function tlsOptions(config: LoadedConfig): TLSConfig | undefined {
  const tls = config.temporal.tls;
  if (!tls) return undefined;
  const read = (f?: string): Buffer | undefined => (f ? readFileSync(path.resolve(config.rootDir, f)) : undefined);
  const cert = read(tls.certFile);
  const key = read(tls.keyFile);
  return {
    serverNameOverride: tls.serverName,
    serverRootCACertificate: read(tls.caFile),
    clientCertPair: cert && key ? { crt: cert, key } : undefined,
  };
}

export async function connectClient(config: LoadedConfig, connectTimeoutMs = 5_000): Promise<Client> {
  const connection = await Connection.connect({
    address: config.temporal.address,
    tls: tlsOptions(config),
    connectTimeout: connectTimeoutMs,
  });
  return new Client({ connection, namespace: config.temporal.namespace });
}
