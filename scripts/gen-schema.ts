/**
 * Writes the JSON Schemas editors use, each generated from its one definition so they never
 * drift (unit tests fail when a file is out of date):
 * - schema/temporal.config.schema.json from src/config/schema.ts;
 * - schema/playbook.schema.json from src/playbooks/format.ts and the actions' parameter schemas;
 * - schema/chaos-card.schema.json from src/chaos/cards/format.ts (a failure card's shape; its
 *   fault's parameters and blast radius are checked by `layer1 chaos validate`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configJsonSchema } from '../src/config/schema';
import { playbookJsonSchema } from '../src/playbooks/format';
import { cardJsonSchema } from '../src/chaos/cards/format';
import { REPO_ROOT } from '../src/stack/tools';

const outputs: Array<[string, unknown]> = [
  ['temporal.config.schema.json', configJsonSchema()],
  ['playbook.schema.json', playbookJsonSchema()],
  ['chaos-card.schema.json', cardJsonSchema()],
];
for (const [name, schema] of outputs) {
  const out = path.join(REPO_ROOT, 'schema', name);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(schema, null, 2)}\n`);
  console.error(`wrote ${path.relative(process.cwd(), out)}`);
}
