/**
 * Bundles workflows/ once at build time into dist/workflow-bundle.js, so workers start polling
 * in well under a second instead of running webpack at every start.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
  });
  const out = path.resolve(__dirname, '..', 'workflow-bundle.js');
  writeFileSync(out, code);
  console.error(`bundled workflows into ${path.relative(process.cwd(), out)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
