/**
 * `layer1 bus render-acl [--json] [--check]` — the bus's users and permissions, rendered from the
 * ACL policy as the `authorization { … }` block a NATS cluster's operator installs in every node
 * (an external bus, `bus.embedded: false`); it also writes the block to
 * `<stateDir>/bus/authorization.conf` and says where the credentials are. `--check` then asks the
 * bus whether it enforces those rules (an allowed and a forbidden publish as every user).
 * On the embedded bus it prints the same block, which `layer1 up` renders into nats.conf itself.
 */
import type { Command } from 'commander';
import type { LoadedConfig } from '../src/config/load';
import { ExitCode, UserError } from '../src/errors';
import type { AclRender } from '../kernels/message-bus/render';
import type { EnforcementReport } from '../kernels/message-bus/enforcement';
import { configOf, progress } from './cli-support';

/** Renders, or says in one line why not (a bad policy prints as a configuration problem). */
async function render(config: LoadedConfig): Promise<AclRender> {
  const [{ renderAcl }, { MessageBusError }] = await Promise.all([import('../kernels/message-bus/render'), import('../kernels/message-bus/errors')]);
  try {
    return renderAcl(config);
  } catch (err) {
    if (err instanceof MessageBusError) throw new UserError(err.message, ExitCode.CONFIG);
    if ((err as NodeJS.ErrnoException).code === 'EACCES' || (err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`cannot write the rendered ACL under ${config.stateDir}: ${(err as Error).message}`, ExitCode.CONFIG);
    }
    throw err;
  }
}

/** Every user's rules as the bus enforces them, or why they could not be asked. */
async function check(config: LoadedConfig): Promise<EnforcementReport> {
  const { checkEnforcedRules } = await import('../kernels/message-bus/enforcement');
  try {
    return await checkEnforcedRules(config);
  } catch (err) {
    throw new UserError(`cannot check the rules the bus enforces: ${(err as Error).message}`, ExitCode.PREREQUISITE, { cause: err });
  }
}

function printHuman(config: LoadedConfig, acl: AclRender, report: EnforcementReport | null): void {
  process.stdout.write(acl.block);
  progress(`${acl.users.length} users from ${acl.policyFile}; their passwords are in ${acl.credentialsFile} (mode 0600)${acl.changed ? ' (written now)' : ''}`);
  if (acl.authFile) {
    progress(`the block is also in ${acl.authFile}: include it in every node's configuration (include "authorization.conf") and reload each node (nats-server --signal reload=PID, or SIGHUP)`);
  } else {
    progress(`the embedded bus renders this block into ${acl.confFile} itself (\`layer1 up\`); for an external cluster set bus.embedded: false`);
  }
  if (config.bus.credentials) progress(`the operator logs in with bus.credentials (${config.bus.credentials.user}); every kernel with its own user above`);
  if (!report) return;
  if (report.ok) progress(`the bus enforces these rules: ${report.detail}`);
  else progress(`the bus does NOT enforce these rules (install the block above and reload the nodes): ${report.detail}`);
}

export function registerBusVerbs(program: Command): void {
  const bus = program.command('bus').description('The message bus: render-acl');
  bus
    .command('render-acl')
    .description("Print the authorization block (users, passwords as bcrypt hashes, permissions from the ACL policy) to install in an external NATS cluster's nodes, and where the credentials are")
    .option('--json', 'print {block, users, credentialsFile, authFile, ...} as JSON')
    .option('--check', 'then ask the bus whether it enforces these rules (a publish allowed and one forbidden per user); exit 1 when not')
    .action(async (opts: { json?: boolean; check?: boolean }, cmd: Command) => {
      const config = await configOf(cmd);
      const acl = await render(config);
      const report = opts.check ? await check(config) : null;
      if (opts.json) {
        const enforced = report && { ok: report.ok, detail: report.detail, users: report.users.map((u) => ({ user: u.user, ok: u.ok, problems: u.problems })) };
        console.log(JSON.stringify({ embedded: config.bus.embedded, ...acl, ...(report ? { enforced } : {}) }));
      } else printHuman(config, acl, report);
      if (report && !report.ok) process.exitCode = ExitCode.FAILURE;
    });
}
