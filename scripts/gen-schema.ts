/**
 * Writes schema/temporal.config.schema.json from the one definition in src/config/schema.ts, so
 * editors complete and check temporal.config.yaml. A unit test fails when it is out of date.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configJsonSchema } from '../src/config/schema';
import { REPO_ROOT } from '../src/stack/tools';

const out = path.join(REPO_ROOT, 'schema', 'temporal.config.schema.json');
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
console.error(`wrote ${path.relative(process.cwd(), out)}`);
