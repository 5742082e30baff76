/**
 * Every address a client may reach a server at, from the configuration: each frontend of
 * `temporal.address`, each host of `store.uri`, each seed of `bus.url`. An external server is a
 * cluster; these are its nodes as Layer 1 knows them (the external watch probes each:
 * src/healing/external-watch.ts). Pure parsing, nothing loaded.
 */
import { parseSeedList } from '../config/bus-url';
import type { LoadedConfig } from '../config/load';
import type { ServiceName } from './services';

export interface Endpoint {
  host: string;
  port: number;
}

/** `host:port`, `[v6]:port` or `host` (then `defaultPort`). */
export function parseHostPort(hp: string, defaultPort: number): Endpoint {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(hp) ?? /^([^:]+)(?::(\d+))?$/.exec(hp);
  if (!m) return { host: hp, port: defaultPort };
  return { host: m[1], port: m[2] ? Number(m[2]) : defaultPort };
}

/** The hosts of a `mongodb://` URI (a replica set lists several), without credentials. */
function storeEndpoints(uri: string): Endpoint[] {
  const m = /^mongodb(\+srv)?:\/\/(?:[^@/]*@)?([^/?]+)/.exec(uri);
  if (!m) return [];
  return m[2].split(',').map((hp) => parseHostPort(hp.trim(), 27017));
}

/** The seeds of `bus.url` (src/config/bus-url.ts parses them, as the clients do). */
function busEndpoints(url: string): Endpoint[] {
  return parseSeedList(url).map((s) => ({ host: s.host, port: s.port }));
}

export function serverEndpoints(config: Pick<LoadedConfig, 'temporal' | 'store' | 'bus'>, server: ServiceName): Endpoint[] {
  if (server === 'temporal') return config.temporal.address.split(',').map((a) => parseHostPort(a.trim(), 7233));
  if (server === 'store') return storeEndpoints(config.store.uri);
  return busEndpoints(config.bus.url);
}

export function endpointText(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}
