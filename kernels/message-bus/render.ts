/**
 * Renders the ACL policy into what nats-server reads: on the embedded bus `<stateDir>/bus/nats.conf`
 * (listeners, JetStream, one user per policy user with its permissions); for an external cluster
 * (`bus.embedded: false`) `<stateDir>/bus/authorization.conf`, the `authorization { … }` block
 * alone, which the cluster's operator installs in each node (`layer1 bus render-acl` prints it).
 * Both with `<stateDir>/bus/credentials.json` (each user's password, mode 0600). Rendering is
 * idempotent: passwords are generated once and kept, and files are rewritten only when their
 * content changes, so re-rendering a running bus never locks a client out.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { hostText, parseSeedList } from '../../src/config/bus-url';
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
  /** The rendered server configuration (embedded bus). */
  confFile: string;
  /** The rendered authorization block alone, to install in an external cluster. */
  authFile: string;
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
    authFile: path.join(dir, 'authorization.conf'),
    credentialsFile: path.join(dir, 'credentials.json'),
    storeDir: path.join(dir, 'js'),
  };
}

/** The file Layer 1 renders for the bus: nats.conf on the embedded bus, authorization.conf for an external one. */
export function renderedFileOf(config: Pick<LoadedConfig, 'stateDir' | 'bus'>): string {
  const paths = busPaths(config);
  return config.bus.embedded ? paths.confFile : paths.authFile;
}

export interface RenderResult extends BusPaths {
  policyFile: string;
  /** What was rendered: {@link renderedFileOf} the config. */
  file: string;
  /** SHA-256 (hex) of the rendered file. */
  hash: string;
  /** Whether the rendered file was (re)written by this call. */
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
  const passwords = ensureCredentials(paths, policy);
  const text = renderText(config, policy, policyFile, passwords);
  const file = renderedFileOf(config);
  const changed = writeIfChanged(file, text);
  return { ...paths, policyFile, file, hash: sha256(text), changed, users: Object.keys(policy.users) };
}

/**
 * Every policy user's password, generated for the users that have none yet and written to
 * credentials.json (mode 0600) when that changed anything. Idempotent: a user keeps its password.
 * @throws MessageBusError when credentials.json is not valid JSON (never silently regenerated)
 */
function ensureCredentials(paths: BusPaths, policy: BusPolicy): Record<string, string> {
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
  return passwords;
}

/** The rendered file's text for the config's mode: nats.conf (embedded) or the authorization block (external). */
function renderText(config: LoadedConfig, policy: BusPolicy, policyFile: string, passwords: Record<string, string>): string {
  if (!config.bus.embedded) return renderAuthorizationFile({ policy, policyFile, passwords });
  // The embedded bus has one seed (the config schema says so): it listens there.
  const { host, port } = parseSeedList(config.bus.url)[0];
  return renderNatsConf({ policy, policyFile, host, port, monitorPort: config.bus.monitorPort, storeDir: busPaths(config).storeDir, passwords });
}

/**
 * What {@link renderBus} would write to its file now, without writing anything: the config-drift
 * detector compares it with the file. `null` before the first render (no passwords yet) or when a
 * user of the policy has no password yet (a render would add one: that is a change, not drift).
 */
export function renderBusText(config: LoadedConfig, policyFile: string = policyFileOf(config)): string | null {
  const policy = loadPolicy(policyFile);
  const creds = readCredentials(busPaths(config).credentialsFile);
  if (!creds || Object.keys(policy.users).some((u) => !creds.users[u])) return null;
  return renderText(config, policy, policyFile, Object.fromEntries(Object.keys(policy.users).map((u) => [u, creds.users[u]])));
}

/** What `layer1 bus render-acl` prints and says: the block to install, and where its files are. */
export interface AclRender {
  /** The `authorization { … }` block, users with their permissions and passwords (bcrypt hashes for an external cluster). */
  block: string;
  users: Array<{ user: string; description: string; permissions: EffectivePermissions }>;
  credentialsFile: string;
  policyFile: string;
  /** authorization.conf (an external bus), or null: the embedded bus's nats.conf holds the block. */
  authFile: string | null;
  /** The embedded bus's nats.conf, or null. */
  confFile: string | null;
  /** Whether this call wrote anything (a new user's password, a changed block). */
  changed: boolean;
}

/**
 * Renders the ACL for installing it: an external bus's authorization.conf and the credentials
 * (both written as {@link renderBus} does); on the embedded bus the credentials only (its nats.conf
 * is `layer1 up`'s to render, with the same block inside).
 */
export function renderAcl(config: LoadedConfig, policyFile: string = policyFileOf(config)): AclRender {
  const policy = loadPolicy(policyFile);
  const paths = busPaths(config);
  const before = readCredentialsOrNull(paths.credentialsFile);
  const fileChanged = config.bus.embedded ? false : renderBus(config, policyFile).changed;
  // Idempotent: renderBus has written them already on an external bus, so this only reads them.
  const passwords = ensureCredentials(paths, policy);
  const changed = fileChanged || readCredentialsOrNull(paths.credentialsFile) !== before;
  return {
    // What the nodes hold: bcrypt hashes on a cluster; the embedded bus's nats.conf has the passwords.
    block: renderAuthorization(policy, config.bus.embedded ? passwords : bcryptPasswords(passwords)),
    users: Object.entries(policy.users).map(([user, u]) => ({ user, description: u.description, permissions: effectivePermissions(policy, user) })),
    credentialsFile: paths.credentialsFile,
    policyFile,
    authFile: config.bus.embedded ? null : paths.authFile,
    confFile: config.bus.embedded ? paths.confFile : null,
    changed,
  };
}

function readCredentialsOrNull(file: string): string | null {
  return existsSync(file) ? readFileSync(file, 'utf8') : null;
}

/**
 * The user and password `user` authenticates with on the embedded bus, from the rendered
 * credentials.
 * @throws BusCredentialsError when the bus was not rendered or the policy has no such user.
 */
export function busCredentials(config: Pick<LoadedConfig, 'stateDir'> & { bus?: Pick<LoadedConfig['bus'], 'embedded'> }, user: string): { user: string; pass: string } {
  const file = busPaths(config).credentialsFile;
  let creds: CredentialsFile | null;
  try {
    creds = readCredentials(file);
  } catch (err) {
    throw new BusCredentialsError(user, file, 'the file is not valid JSON', { cause: err });
  }
  if (!creds) {
    const todo = config.bus?.embedded === false
      ? 'the ACL has not been rendered for this external bus yet (run `layer1 bus render-acl` and install the authorization block it prints in the cluster)'
      : 'the bus has not been rendered yet (run `layer1 up`)';
    throw new BusCredentialsError(user, file, todo);
  }
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

/**
 * The `authorization { users = [...] }` block: each user of the policy with its password and
 * effective permissions. Pure: the same policy and passwords render byte-identical text.
 */
export function renderAuthorization(policy: BusPolicy, passwords: Record<string, string>): string {
  const q = (s: string): string => JSON.stringify(s);
  const list = (xs: string[]): string => `[${xs.map(q).join(', ')}]`;
  const users = Object.keys(policy.users).map((name) => {
    const p = effectivePermissions(policy, name);
    return [
      '    {',
      `      # ${policy.users[name].description}`,
      `      user: ${q(name)}`,
      `      password: ${q(passwords[name])}`,
      '      permissions: {',
      `        publish: { allow: ${list(p.publish.allow)}, deny: ${list(p.publish.deny)} }`,
      `        subscribe: { allow: ${list(p.subscribe.allow)}, deny: ${list(p.subscribe.deny)} }`,
      ...(p.allowResponses ? ['        allow_responses: true'] : []),
      '      }',
      '    }',
    ].join('\n');
  });
  return ['authorization {', '  users = [', users.join('\n'), '  ]', '}', ''].join('\n');
}

/** The nats.conf text for a policy. Pure, so the same input renders byte-identical output. */
export function renderNatsConf(input: NatsConfInput): string {
  const q = (s: string): string => JSON.stringify(s);
  return [
    `# Rendered by Layer 1 from ${input.policyFile}. Do not edit: edits are overwritten by the next`,
    '# render. Change the policy, then reload (docs/message-bus.md).',
    `server_name: ${q(BUS_SERVER_NAME)}`,
    `listen: ${q(`${hostText(input.host)}:${input.port}`)}`,
    `http: ${q(`${hostText(input.host)}:${input.monitorPort}`)}`,
    'jetstream {',
    `  store_dir: ${q(input.storeDir)}`,
    '}',
    renderAuthorization(input.policy, input.passwords),
  ].join('\n');
}

/** bcrypt's cost for the hashes an external cluster's nodes hold (nats-server's own tool uses 11). */
export const BCRYPT_COST = 11;
/** Hashes already computed in this process (each takes ~0.2 s), by user and password. */
const hashed = new Map<string, string>();

/**
 * The bcrypt hash of a user's password, as nats-server takes it in place of the password itself
 * (`$2a$…`): the block installed in every node of a cluster then holds no password. Deterministic, so
 * a render is byte-identical each time (the drift check compares texts): the salt is derived from the
 * user and the password by HMAC-SHA256. That salt is secret with the password, and the passwords are
 * 24 random bytes, so no table can be built for it.
 */
export function bcryptPassword(user: string, password: string): string {
  const key = `${user}\u0000${password}`;
  let hash = hashed.get(key);
  if (!hash) {
    const saltBytes = createHmac('sha256', password).update(`layer1-bus-salt:${user}`).digest().subarray(0, 16);
    hash = bcrypt.hashSync(password, `$2a$${BCRYPT_COST}$${bcrypt.encodeBase64(saltBytes, 16)}`);
    hashed.set(key, hash);
  }
  return hash;
}

/** Every password replaced by its {@link bcryptPassword} hash. */
export function bcryptPasswords(passwords: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(passwords).map(([user, password]) => [user, bcryptPassword(user, password)]));
}

/**
 * authorization.conf for an external cluster: the block, with how to install it; the passwords as
 * bcrypt hashes (the clients keep the passwords, in credentials.json). Pure.
 */
export function renderAuthorizationFile(input: Pick<NatsConfInput, 'policy' | 'policyFile' | 'passwords'>): string {
  return [
    `# Rendered by Layer 1 from ${input.policyFile} for an external NATS cluster (bus.embedded: false).`,
    "# Install it in every node's configuration (e.g. `include \"authorization.conf\"`), then reload each",
    '# node (nats-server --signal reload=PID, or SIGHUP). `layer1 bus render-acl` prints it again; do not',
    '# edit it here: change the policy and render again (docs/message-bus.md, "An external cluster").',
    '# The passwords are bcrypt hashes; the clients log in with the passwords in credentials.json.',
    renderAuthorization(input.policy, bcryptPasswords(input.passwords)),
  ].join('\n');
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
