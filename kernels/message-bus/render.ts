/**
 * Renders the ACL policy into what nats-server reads: `<stateDir>/bus/nats.conf` (listeners,
 * JetStream, one user per policy user with its permissions) and `<stateDir>/bus/credentials.json`
 * (each user's password, mode 0600). Rendering is idempotent: passwords are generated once and
 * kept, and files are rewritten only when their content changes, so re-rendering a running bus
 * never locks a client out.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../../src/config/load';
import { BusCredentialsError, MessageBusError } from './errors';
import { loadPolicy, policyFileOf, type BusPolicy } from './policy';

/** The server's name in the cluster, logs and /varz. */
export const BUS_SERVER_NAME = 'layer1-bus';

/** The users' reply inboxes: a user may subscribe to its own prefix only. */
export function inboxPrefix(user: string): string {
  return `_INBOX.${user}`;
}

export interface BusPaths {
  /** `<stateDir>/bus` */
  dir: string;
  /** The rendered server configuration. */
  confFile: string;
  /** Passwords per user (mode 0600). */
  credentialsFile: string;
  /** JetStream's store directory. */
  storeDir: string;
}

export function busPaths(config: Pick<LoadedConfig, 'stateDir'>): BusPaths {
  const dir = path.join(config.stateDir, 'bus');
  return {
    dir,
    confFile: path.join(dir, 'nats.conf'),
    credentialsFile: path.join(dir, 'credentials.json'),
    storeDir: path.join(dir, 'js'),
  };
}

export interface RenderResult extends BusPaths {
  policyFile: string;
  /** SHA-256 (hex) of the rendered nats.conf. */
  hash: string;
  /** Whether nats.conf was (re)written by this call. */
  changed: boolean;
  users: string[];
}

/** One user's effective permissions, as rendered: the policy's lists plus what is derived from it. */
export interface EffectivePermissions {
  publish: { allow: string[]; deny: string[] };
  subscribe: { allow: string[]; deny: string[] };
  allowResponses: boolean;
}

/** The contents of credentials.json. */
interface CredentialsFile {
  version: 1;
  users: Record<string, string>;
}

/**
 * Renders `nats.conf` and `credentials.json` from the policy (default: {@link policyFileOf}
 * `config`). Idempotent: same policy and config → same files, untouched on disk.
 * @throws ConfigError when the policy is invalid (nothing is written then).
 */
export function renderBus(config: LoadedConfig, policyFile: string = policyFileOf(config)): RenderResult {
  const policy = loadPolicy(policyFile);
  const paths = busPaths(config);
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });

  let previous: CredentialsFile | null;
  try {
    previous = readCredentials(paths.credentialsFile);
  } catch (err) {
    // Never silently regenerate: every running client would be locked out at the next reload.
    throw new MessageBusError(
      `${paths.credentialsFile} is not valid JSON; remove it to generate new passwords (then restart the bus and its clients)`,
      { cause: err },
    );
  }
  const passwords: Record<string, string> = {};
  for (const user of Object.keys(policy.users)) {
    // Idempotent: a user keeps the password it was given first; only a new user gets a new one.
    passwords[user] = previous?.users[user] ?? randomBytes(24).toString('base64url');
  }
  writeIfChanged(paths.credentialsFile, JSON.stringify({ version: 1, users: passwords } satisfies CredentialsFile, null, 2) + '\n');

  const { host, port } = hostPortOfNatsUrl(config.bus.url);
  const conf = renderNatsConf({
    policy,
    policyFile,
    host,
    port,
    monitorPort: config.bus.monitorPort,
    storeDir: paths.storeDir,
    passwords,
  });
  const changed = writeIfChanged(paths.confFile, conf);
  return { ...paths, policyFile, hash: sha256(conf), changed, users: Object.keys(policy.users) };
}

/**
 * What {@link renderBus} would write to nats.conf now, without writing anything: the config-drift
 * detector compares it with the file. `null` before the first render (no passwords yet) or when a
 * user of the policy has no password yet (a render would add one: that is a change, not drift).
 */
export function renderBusText(config: LoadedConfig, policyFile: string = policyFileOf(config)): string | null {
  const policy = loadPolicy(policyFile);
  const paths = busPaths(config);
  const creds = readCredentials(paths.credentialsFile);
  if (!creds || Object.keys(policy.users).some((u) => !creds.users[u])) return null;
  const { host, port } = hostPortOfNatsUrl(config.bus.url);
  return renderNatsConf({ policy, policyFile, host, port, monitorPort: config.bus.monitorPort, storeDir: paths.storeDir, passwords: Object.fromEntries(Object.keys(policy.users).map((u) => [u, creds.users[u]])) });
}

/**
 * The user and password `user` authenticates with on the embedded bus, from the rendered
 * credentials.
 * @throws BusCredentialsError when the bus was not rendered or the policy has no such user.
 */
export function busCredentials(config: Pick<LoadedConfig, 'stateDir'>, user: string): { user: string; pass: string } {
  const file = busPaths(config).credentialsFile;
  let creds: CredentialsFile | null;
  try {
    creds = readCredentials(file);
  } catch (err) {
    throw new BusCredentialsError(user, file, 'the file is not valid JSON', { cause: err });
  }
  if (!creds) throw new BusCredentialsError(user, file, 'the bus has not been rendered yet (run `layer1 up`)');
  const pass = creds.users[user];
  if (!pass) throw new BusCredentialsError(user, file, `the ACL policy has no such user (users: ${Object.keys(creds.users).join(', ')})`);
  return { user, pass };
}

/** The permissions `user` gets: its policy lists, its inbox, its consumers' API subjects, the exclusive denies. */
export function effectivePermissions(policy: BusPolicy, user: string): EffectivePermissions {
  const u = policy.users[user];
  const publishAllow = [...u.publish.allow];
  for (const [stream, s] of Object.entries(policy.streams)) {
    for (const [consumer, c] of Object.entries(s.consumers)) {
      if (c.user !== user) continue;
      // Exactly what a durable pull `consume()` uses: consumer info, pull requests, acks.
      publishAllow.push(
        `$JS.API.CONSUMER.INFO.${stream}.${consumer}`,
        `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
        `$JS.ACK.${stream}.${consumer}.>`,
      );
    }
  }
  const publishDeny = [...u.publish.deny];
  for (const rule of policy.exclusivePublish) {
    if (rule.users.includes(user)) continue;
    // Deny beats allow in NATS, so a broad allow such as the operator's `>` cannot reach these.
    for (const s of rule.subjects) if (!publishDeny.includes(s)) publishDeny.push(s);
  }
  return {
    publish: { allow: unique(publishAllow), deny: publishDeny },
    subscribe: { allow: unique([`${inboxPrefix(user)}.>`, ...u.subscribe.allow]), deny: [...u.subscribe.deny] },
    allowResponses: u.allowResponses,
  };
}

export interface NatsConfInput {
  policy: BusPolicy;
  policyFile: string;
  host: string;
  port: number;
  monitorPort: number;
  storeDir: string;
  passwords: Record<string, string>;
}

/** The nats.conf text for a policy. Pure, so the same input renders byte-identical output. */
export function renderNatsConf(input: NatsConfInput): string {
  const q = (s: string): string => JSON.stringify(s);
  const list = (xs: string[]): string => `[${xs.map(q).join(', ')}]`;
  const users = Object.keys(input.policy.users).map((name) => {
    const p = effectivePermissions(input.policy, name);
    return [
      '    {',
      `      # ${input.policy.users[name].description}`,
      `      user: ${q(name)}`,
      `      password: ${q(input.passwords[name])}`,
      '      permissions: {',
      `        publish: { allow: ${list(p.publish.allow)}, deny: ${list(p.publish.deny)} }`,
      `        subscribe: { allow: ${list(p.subscribe.allow)}, deny: ${list(p.subscribe.deny)} }`,
      ...(p.allowResponses ? ['        allow_responses: true'] : []),
      '      }',
      '    }',
    ].join('\n');
  });
  return [
    `# Rendered by Layer 1 from ${input.policyFile}. Do not edit: edits are overwritten by the next`,
    '# render. Change the policy, then reload (docs/message-bus.md).',
    `server_name: ${q(BUS_SERVER_NAME)}`,
    `listen: ${q(`${input.host}:${input.port}`)}`,
    `http: ${q(`${input.host}:${input.monitorPort}`)}`,
    'jetstream {',
    `  store_dir: ${q(input.storeDir)}`,
    '}',
    'authorization {',
    '  users = [',
    users.join('\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
}

function hostPortOfNatsUrl(url: string): { host: string; port: number } {
  const u = new URL(url.replace(/^(nats|tls):/, 'http:'));
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 4222 };
}

function readCredentials(file: string): CredentialsFile | null {
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as CredentialsFile;
}

/** Writes (0600, via rename so readers never see half a file) unless the content is already there. */
function writeIfChanged(file: string, content: string): boolean {
  if (existsSync(file) && readFileSync(file, 'utf8') === content) {
    chmodSync(file, 0o600);
    return false;
  }
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, file);
  return true;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
