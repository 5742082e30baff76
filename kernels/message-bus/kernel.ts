/** The message bus kernel's behaviour: nats-server, its streams after a start, its self-test. */
import { busService } from '../../src/stack/services';
import { ensureTools } from '../../src/stack/tools';
import type { KernelBehaviour } from '../kernel';
import { busReadiness } from './readiness';
import { ensureStreams } from './streams';

export const messageBusKernel: KernelBehaviour = {
  processes: () => ['bus'],
  // nats-server only: the other servers' tools are not this kernel's to obtain.
  spec: async (config) => busService(config).spec(await ensureTools(() => undefined, process.env, { servers: ['bus'] })),
  afterStart: async ({ config }) => {
    await ensureStreams(config);
  },
  liveness: async ({ config }, _p, timeoutMs) => busService(config).health(timeoutMs),
  readiness: async ({ config }) => busReadiness(config),
};
