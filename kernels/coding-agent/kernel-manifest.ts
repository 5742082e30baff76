/** The coding agent kernel: the worker that proposes and verifies fixes for unknown failures. */
import { defineKernel } from '../manifest';

export const codingAgentManifest = defineKernel({
  name: 'coding_agent',
  title: 'the coding-agent worker: fixers for failures no playbook knows',
  phase: 5,
  critical: false,
  config: {},
  busUser: 'coding_agent',
  worker: { process: 'coding-agent', entry: 'coding-agent.js', taskQueue: 'codingAgent', replicas: 'codingAgent' },
  tests: ['test/unit/signatures.test.ts', 'test/unit/signatures-cli.test.ts'],
});
