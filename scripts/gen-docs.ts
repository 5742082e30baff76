/**
 * Rewrites the generated tables of the docs (src/docs/tables.ts) from the registries:
 *
 *   npm run build && npm run docs
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GENERATED_DOCS, regenerate } from '../src/docs/tables';
import { REPO_ROOT } from '../src/stack/tools';

for (const doc of GENERATED_DOCS) {
  const file = path.join(REPO_ROOT, doc);
  const before = readFileSync(file, 'utf8');
  const after = regenerate(before, doc);
  if (after !== before) writeFileSync(file, after);
  console.error(`${after === before ? 'unchanged' : 'wrote'} ${doc}`);
}
