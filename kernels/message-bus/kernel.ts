/**
 * The message bus kernel's behaviour: nats-server, its streams after a start, its self-test.
 *
 * On an external cluster (`bus.embedded: false`) the kernel manages no process: nothing is started,
 * watched, probed by pid or signalled (the cluster is its operator's); its afterStart still makes
 * the policy's streams and consumers exist, and its self-test runs against the cluster.
 */
import { busService } from '../../src/stack/services';
import { ensureTools } from '../../src/stack/tools';
import type { KernelBehaviour } from '../kernel';
import { busReadiness } from './readiness';
import { ensureStreams } from './streams';

export const messageBusKernel: KernelBehaviour = {
  processes: (config) => (config.bus.embedded ? ['bus'] : []),
  // nats-server only: the other servers' tools are not this kernel's to obtain.
  spec: async (config) => busService(config).spec(await ensureTools(() => undefined, process.env, { servers: ['bus'] })),
  afterStart: async ({ config }) => {
    await ensureStreams(config);
  },
  liveness: async ({ config }, _p, timeoutMs) => busService(config).health(timeoutMs),
  readiness: async ({ config }) => busReadiness(config),
};
