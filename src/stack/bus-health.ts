/**
 * Health of an external NATS cluster (`bus.embedded: false`), node by node: healthy when any node
 * answers, since the clients fail over between the seeds. With `bus.monitorUrls`, each node's
 * monitoring endpoint is asked `/healthz?js-enabled-only=true` (JetStream enabled); without, each
 * seed of `bus.url` is asked for the INFO line every NATS server sends a client first (it needs no
 * credentials, and says the server's name, version and whether JetStream is on).
 *
 * The same per-seed probe names every seed tried and why, when a client cannot connect at all.
 */
import net from 'node:net';
import { parseSeedList, type BusSeed, hostText } from '../config/bus-url';
import type { LoadedConfig } from '../config/load';
import { errorText } from '../domain/errors';

/** One node asked: where, whether it answered as it should, and what it said (or why not). */
export interface NodeProbe {
  target: string;
  ok: boolean;
  detail: string;
}

/** What a NATS server says first on a new connection (the fields used here). */
interface ServerInfo {
  server_name?: string;
  server_id?: string;
  version?: string;
  jetstream?: boolean;
  cluster?: string;
}

/** Reads the INFO line a NATS server sends on connect; the connection is closed after. */
export function seedInfo(seed: Pick<BusSeed, 'host' | 'port'>, timeoutMs: number): Promise<ServerInfo> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: seed.host, port: seed.port });
    let buf = '';
    const done = (err: Error | null, info?: ServerInfo): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(info!);
    };
    const timer = setTimeout(() => done(new Error(`no INFO within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\r\n');
      if (nl < 0) {
        if (buf.length > 64 * 1024) done(new Error('no INFO line in the first 64 KiB: not a NATS server?'));
        return;
      }
      const line = buf.slice(0, nl);
      if (!line.startsWith('INFO ')) return done(new Error(`answered "${line.slice(0, 40)}", not INFO: not a NATS server?`));
      try {
        done(null, JSON.parse(line.slice(5)) as ServerInfo);
      } catch (err) {
        done(new Error(`unreadable INFO: ${errorText(err)}`));
      }
    });
    socket.once('error', (err) => done(err));
    socket.once('end', () => done(new Error('closed the connection before its INFO')));
  });
}

/** Each seed's INFO line: a node that answers it is up (JetStream noted). */
export async function probeSeeds(seeds: readonly BusSeed[], timeoutMs: number): Promise<NodeProbe[]> {
  return Promise.all(
    seeds.map(async (s): Promise<NodeProbe> => {
      const target = `${hostText(s.host)}:${s.port}`;
      try {
        const info = await seedInfo(s, timeoutMs);
        const name = info.server_name && info.server_name !== info.server_id ? info.server_name : 'a NATS server';
        const js = info.jetstream ? 'JetStream on' : 'JetStream OFF';
        return { target, ok: info.jetstream === true, detail: `${name} ${info.version ?? ''}`.trim() + `, ${js}` };
      } catch (err) {
        return { target, ok: false, detail: errorText(err) };
      }
    }),
  );
}

/** Each monitoring endpoint's `/healthz?js-enabled-only=true`. */
export async function probeMonitors(urls: readonly string[], timeoutMs: number): Promise<NodeProbe[]> {
  return Promise.all(
    urls.map(async (u): Promise<NodeProbe> => {
      const target = u.replace(/\/$/, '');
      try {
        const url = `${target}/healthz?js-enabled-only=true`;
        const signal = AbortSignal.timeout(timeoutMs);
        // A node reloaded (SIGHUP) since the last probe closed its monitoring connections: the pooled
        // socket fails at once ("other side closed"), and a new one is answered.
        const res = await fetch(url, { signal }).catch((err: unknown) => {
          if (signal.aborted) throw err;
          return fetch(url, { signal });
        });
        const body = (await res.json().catch(() => ({}))) as { status?: string; error?: string };
        return res.ok && body.status === 'ok'
          ? { target, ok: true, detail: 'healthz ok, JetStream enabled' }
          : { target, ok: false, detail: body.error ?? `healthz answered ${res.status}` };
      } catch (err) {
        return { target, ok: false, detail: errorText(err) };
      }
    }),
  );
}

/** One line: how many nodes answer, then each node and what it said. */
export function describeProbes(probes: readonly NodeProbe[]): string {
  const ok = probes.filter((p) => p.ok).length;
  return `${ok} of ${probes.length} node${probes.length === 1 ? '' : 's'} answer: ${probes.map((p) => `${p.target} ${p.ok ? 'ok' : 'FAILED'} (${p.detail})`).join('; ')}`;
}

/** Healthy when any node answers as it should (the clients fail over to it). */
export async function clusterHealth(config: Pick<LoadedConfig, 'bus'>, timeoutMs: number): Promise<{ healthy: boolean; detail: string }> {
  const probes = config.bus.monitorUrls.length > 0 ? await probeMonitors(config.bus.monitorUrls, timeoutMs) : await probeSeeds(parseSeedList(config.bus.url), timeoutMs);
  return { healthy: probes.some((p) => p.ok), detail: describeProbes(probes) };
}
