/**
 * The kernel registry: everything about a kernel is derived from its manifest, so a kernel is
 * added by its manifest and behaviour. A fake manifest shows the config schema, boot phases and
 * worker processes it derives; the real registry shows every manifest has a behaviour.
 */
import assert from 'node:assert/strict';
import { z } from 'zod';
import { defineKernel } from '../../kernels/manifest';
import { KERNEL_MANIFESTS } from '../../kernels/manifests';
import { KERNELS, kernelDef } from '../../kernels/registry';
import { kernelsSchemaOf } from '../../src/config/schema';
import { parseConfig } from '../../src/config/load';
import { BOOT_PHASES, KERNEL_NAMES } from '../../src/domain/kernels';
import { workerDefsOf } from '../../src/stack/workers';
import { UNKNOWN_KERNEL } from '../../contracts/control-plane';

const fake = defineKernel({
  name: 'fake_kernel',
  title: 'a kernel only this test knows',
  phase: 5,
  critical: false,
  config: { widgets: z.number().int().default(3) },
  busUser: 'fake_kernel',
  worker: { process: 'fake', entry: 'fake.js', taskQueue: 'codingAgent', replicas: 'codingAgent' },
});

describe('kernel registry', () => {
  it('derives the kernel list and the boot phases from the manifests', () => {
    assert.deepEqual(KERNEL_NAMES, KERNEL_MANIFESTS.map((m) => m.name));
    assert.deepEqual(
      BOOT_PHASES.map((p) => [p.phase, p.name]),
      [[1, 'preflight'], [2, 'message_bus'], [3, 'immutable_log'], [4, 'self_healing'], [5, 'coding_agent'], [6, 'snapshots_and_schedules'], [7, 'warmup_and_watchdogs']],
    );
  });

  it('joins every manifest with its behaviour; an unknown name is a non-retryable UnknownKernel', () => {
    for (const k of KERNEL_NAMES) {
      assert.equal(KERNELS[k].manifest.name, k);
      assert.equal(typeof KERNELS[k].readiness, 'function');
    }
    assert.throws(() => kernelDef('fake_kernel'), (err: { type?: string; nonRetryable?: boolean }) => err.type === UNKNOWN_KERNEL && err.nonRetryable === true);
  });

  it("derives a new kernel's config keys, with its defaults, into the schema", () => {
    const schema = kernelsSchemaOf([...KERNEL_MANIFESTS, fake]);
    const parsed = schema.parse({ fake_kernel: { widgets: 5 } }) as Record<string, { critical: boolean; widgets?: number; readiness: { attempts: number } }>;
    assert.equal(parsed.fake_kernel.widgets, 5);
    assert.equal(parsed.fake_kernel.critical, false, "the manifest's default");
    assert.equal(parsed.fake_kernel.readiness.attempts, 20, 'the keys every kernel has');
    assert.equal(parsed.immutable_log.critical, true);
    assert.throws(() => schema.parse({ fake_kernel: { gadgets: 1 } }), /gadgets/);
  });

  it("derives a worker kernel's processes from its manifest and the workers config", () => {
    const config = parseConfig('workers: { codingAgent: { replicas: 2 } }\n', '/tmp/layer1-test.yaml', {});
    const defs = workerDefsOf(config, fake);
    assert.deepEqual(defs.map((w) => [w.name, w.kernel, w.taskQueue, w.entry]), [
      ['fake-1', 'fake_kernel', config.temporal.taskQueues.codingAgent, 'fake.js'],
      ['fake-2', 'fake_kernel', config.temporal.taskQueues.codingAgent, 'fake.js'],
    ]);
  });
});

describe('kernel bus users', () => {
  it('gives a kernel the policy does not list a least-privilege user derived from its name', async () => {
    const { parsePolicy } = await import('../../kernels/message-bus/policy');
    const policy = parsePolicy(
      ['version: 1', 'users:', '  operator: { description: op, publish: { allow: [">"] }, subscribe: { allow: [">"] } }', '  probe: { description: probe }', ''].join('\n'),
      'policy.yaml',
    );
    for (const m of KERNEL_MANIFESTS.filter((k) => k.busUser)) {
      const user = policy.users[m.busUser!];
      assert.ok(user, `a user for ${m.name}`);
      assert.deepEqual(user.publish.allow, [`layer1.${m.name}.>`, `layer1.events.${m.name}.>`, 'telemetry.layer1.>']);
    }
    assert.equal(policy.users.operator.description, 'op', 'listed users stay as written');
  });
});
