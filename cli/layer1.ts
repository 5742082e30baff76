/**
 * `layer1` — the command line of Layer 1. Each verb lives in its own file under scripts/ and
 * registers itself here; this file only wires them together and maps failures to exit codes.
 *
 * Registration loads only commander and the verb files' light parts: each verb loads what it needs
 * (the Temporal SDK, mongodb, nats, the config schema…) inside its action, so `--help` and a usage
 * error answer in about the time Node takes to start (bench/cli.ts measures it).
 */
import { Command, CommanderError } from 'commander';
import { ExitCode, UserError } from '../src/errors';
import { registerStackVerbs } from '../scripts/stack-verbs';
import { registerKernelVerbs } from '../scripts/kernel-verbs';
import { registerSignatureVerbs } from '../scripts/signatures';
import { registerPlaybookVerbs } from '../scripts/playbook-verbs';
import { registerPlaybookRunVerbs } from '../scripts/playbook-run-verbs';
import { registerHealingVerbs } from '../scripts/healing-verbs';
import { registerIncidentVerbs } from '../scripts/incident-verbs';
import { registerKbVerbs } from '../scripts/kb-verbs';
import { registerSnapshotVerbs } from '../scripts/snapshot-verbs';
import { registerChaosVerbs } from '../scripts/chaos-verbs';
import { registerBusVerbs } from '../scripts/bus-verbs';
import { downServerOf, loadedConfig, serverDownError } from '../scripts/cli-support';

export function buildProgram(): Command {
  const program = new Command('layer1')
    .description('Durable, self-healing control layer on Temporal')
    .option('-c, --config <file>', 'config file (default: temporal.config.yaml, or $LAYER1_CONFIG)')
    .showHelpAfterError()
    .exitOverride();
  registerStackVerbs(program);
  registerKernelVerbs(program);
  registerSignatureVerbs(program);
  registerPlaybookVerbs(program);
  registerPlaybookRunVerbs(program);
  registerHealingVerbs(program);
  registerIncidentVerbs(program);
  registerKbVerbs(program);
  registerSnapshotVerbs(program);
  registerChaosVerbs(program);
  registerBusVerbs(program);
  return program;
}

async function main(): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
      return;
    }
    throw err;
  }
}

main().catch((err: unknown) => {
  // By name: a ConfigError comes from the config loader, which the CLI does not load up front.
  if (err instanceof Error && err.name === 'ConfigError') {
    console.error(err.message);
    process.exit(ExitCode.CONFIG);
  }
  // A server that went away where no verb expected it: still one line naming it, not a stack trace.
  const down = downServerOf(err);
  const config = loadedConfig();
  if (!(err instanceof UserError) && down && config) err = serverDownError(config, down, err);
  if (err instanceof UserError) {
    console.error(`layer1: ${err.message}`);
    process.exit(err.exitCode);
  }
  console.error(err);
  process.exit(ExitCode.FAILURE);
});
