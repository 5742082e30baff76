/** The message bus kernel: nats-server with JetStream, its config rendered from the ACL policy. */
import { z } from 'zod';
import { defineKernel } from '../manifest';

export const messageBusManifest = defineKernel({
  name: 'message_bus',
  title: 'NATS JetStream, least-privilege users rendered from the ACL policy',
  phase: 2,
  critical: true,
  config: {
    aclPolicy: z.string().optional().describe('ACL policy YAML; default kernels/message-bus/acl-policy.yaml'),
  },
  busUser: null,
  tests: ['test/unit/message-bus.test.ts'],
});
