/**
 * The message bus kernel: NATS with JetStream, configured from an ACL policy in YAML.
 *
 * - `acl-policy.yaml` + {@link loadPolicy} (`policy.ts`): users with publish/subscribe allow and
 *   deny lists, subjects reserved to one user (`system.control` → `control_plane`), and the
 *   required streams and durable consumers; validated with zod, problems as FILE:LINE:COL.
 * - {@link renderBus} (`render.ts`): the policy → `<stateDir>/bus/nats.conf` and
 *   `credentials.json` (a password per user, generated once); {@link busCredentials}.
 * - {@link ensureStreams} (`streams.ts`): creates or updates the streams and consumers.
 * - {@link busReadiness} and {@link reloadBus} (`readiness.ts`): the self-test
 *   (`queue_operational`, `acl_loaded`, `subscriptions_active`) and a live config reload.
 * - {@link consumeTriggers} (`triggers.ts`): the healing workers' durable pull loop, which is
 *   what makes `self_healing_triggers` live.
 *
 * The embedded `bus` process (src/stack/services.ts) runs `nats-server -c <stateDir>/bus/nats.conf`;
 * clients connect with `connectBus(config, { user })` (src/clients/bus.ts). On an external cluster
 * (`bus.embedded: false`) there is no process: {@link renderAcl} gives the authorization block its
 * operator installs (`layer1 bus render-acl`), and streams get `bus.replicas`. See docs/message-bus.md.
 */
export * from './errors';
export * from './policy';
export * from './render';
export * from './streams';
export * from './readiness';
export * from './triggers';
