/**
 * What differs when the bus is an external NATS cluster (`bus.embedded: false`), said where people
 * look: `layer1 status` lists {@link busModeNotes}, and `layer1 up` refuses to start with
 * {@link externalBusProblems} (no rendered credentials, or users the cluster does not know) rather
 * than failing later in a worker's log.
 */
import type { LoadedConfig } from '../config/load';
import { errorText } from '../domain/errors';

/** What `status` says about an external bus: what Layer 1 does not do there, and what it does instead. */
export function busModeNotes(config: LoadedConfig): string[] {
  if (config.bus.embedded) return [];
  const drift = config.detectors.busConfigDrift;
  return [
    'external cluster: Layer 1 runs, watches and signals no nats-server; its users and permissions are the block `layer1 bus render-acl` prints, installed in every node by the cluster\'s operator',
    `each kernel connects as its own ACL user (${config.bus.credentials ? 'bus.credentials for the operator only' : 'the operator too, from the rendered credentials'}); streams R${config.bus.replicas.streams}, consumers ${config.bus.replicas.consumers === 0 ? 'as their stream' : `R${config.bus.replicas.consumers}`}`,
    "detector acl_violations reads the refusals Layer 1's own connections receive (logs/bus-violations.log): a cluster writes those of other clients only to its nodes' own logs, which Layer 1 does not read",
    `detector bus_config_drift checks the rules the cluster enforces (a publish allowed and one forbidden per user) every ${Math.round(Math.max(drift.everyMs, drift.externalEveryMs) / 1000)} s, instead of a local nats.conf`,
  ];
}

/**
 * Why the kernels could not connect to an external bus, checked before anything starts: the
 * credentials must have been rendered here, and the cluster must accept each policy user's login.
 * Empty for the embedded bus, or when all is well.
 */
export async function externalBusProblems(config: LoadedConfig, timeoutMs = 3_000): Promise<string[]> {
  if (config.bus.embedded) return [];
  const [{ loadPolicy, policyFileOf }, { connectBus }] = await Promise.all([import('../../kernels/message-bus/policy'), import('../clients/bus')]);
  const users = Object.keys(loadPolicy(policyFileOf(config)).users);
  const failures = await Promise.all(
    users.map(async (user) => {
      try {
        const nc = await connectBus(config, { user, name: `layer1-up-login-${user}`, timeoutMs });
        await nc.close();
        return null;
      } catch (err) {
        return { user, why: errorText(err) };
      }
    }),
  );
  const bad = failures.filter((f) => f !== null);
  if (bad.length === 0) return [];
  // The same reason for every user (no credentials rendered, no seed answers): said once.
  const reasons = new Set(bad.map((b) => b.why.replace(`"${b.user}"`, '"<user>"')));
  if (reasons.size === 1 && bad.length === users.length) return [`no ACL user can connect to the external bus: ${bad[0].why}`];
  return bad.map((b) => `ACL user ${b.user} cannot connect to the external bus: ${b.why}`);
}
