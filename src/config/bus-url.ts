/**
 * `bus.url` as a seed list: one NATS URL (the embedded bus), or the comma-separated URLs of a
 * cluster's nodes (`nats://a:4222,nats://b:4222`). Parsed here once, for every consumer of it —
 * the config schema's check, health, rendering, the clients (nats.js `servers`). Pure, and imports
 * nothing: the config schema uses it.
 */

export interface BusSeed {
  /** The seed as written, trimmed (`nats://127.0.0.1:4222`). */
  url: string;
  scheme: 'nats' | 'tls';
  host: string;
  port: number;
}

/** NATS's client port when a seed names none. */
export const DEFAULT_NATS_PORT = 4222;

const SEED = /^(nats|tls):\/\/(?:[^@\s/]+@)?(\[[^\]\s]+\]|[^\s:/[\]]+)(?::(\d{1,5}))?\/?$/;

/** One seed, or why it is not one. */
export function parseSeed(text: string): BusSeed | { error: string } {
  const url = text.trim();
  const m = SEED.exec(url);
  if (!m) return { error: `"${url}" is not a NATS URL (expected nats://HOST:PORT or tls://HOST:PORT)` };
  const port = m[3] === undefined ? DEFAULT_NATS_PORT : Number(m[3]);
  if (port < 1 || port > 65_535) return { error: `"${url}": port ${port} is out of range` };
  return { url, scheme: m[1] as BusSeed['scheme'], host: m[2].replace(/^\[|\]$/g, ''), port };
}

/** What is wrong with a seed list (one problem per bad seed); empty when it parses. */
export function seedListProblems(list: string): string[] {
  const parts = list.split(',');
  if (parts.every((p) => p.trim() === '')) return ['no seed: expected nats://HOST:PORT, or a comma-separated list of them'];
  const problems: string[] = [];
  const seen = new Set<string>();
  parts.forEach((p, i) => {
    const where = parts.length > 1 ? `seed ${i + 1}: ` : '';
    if (p.trim() === '') {
      problems.push(`${where}empty (a stray comma?)`);
      return;
    }
    const s = parseSeed(p);
    if ('error' in s) problems.push(`${where}${s.error}`);
    else if (seen.has(`${s.host}:${s.port}`)) problems.push(`${where}${s.host}:${s.port} is listed twice`);
    else seen.add(`${s.host}:${s.port}`);
  });
  return problems;
}

/**
 * The seeds of a list, in order.
 * @throws Error naming every bad seed (the config loader reports these before anything runs)
 */
export function parseSeedList(list: string): BusSeed[] {
  const problems = seedListProblems(list);
  if (problems.length > 0) throw new Error(`bus.url: ${problems.join('; ')}`);
  return list.split(',').map((p) => parseSeed(p) as BusSeed);
}

/** `bus.url` in the config as written: a string (a seed list) or a YAML list of seeds. */
export function joinSeeds(value: string | readonly string[]): string {
  return typeof value === 'string' ? value : value.map((s) => s.trim()).join(',');
}

/**
 * What nats.js's `servers` option takes for the seeds: without the `nats://` scheme (the form the
 * client always had), a `tls://` URL whole, so the client knows to require TLS.
 */
export function natsServers(seeds: readonly BusSeed[]): string[] {
  return seeds.map((s) => s.url.replace(/\/$/, '').replace(/^nats:\/\//, ''));
}

/** `host:port` of each seed, comma-separated: what `status` shows as the bus's address. */
export function seedAddresses(seeds: readonly BusSeed[]): string {
  return seeds.map((s) => `${hostText(s.host)}:${s.port}`).join(',');
}

/** An IPv6 literal in brackets, so it can be followed by `:port`. */
export function hostText(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
