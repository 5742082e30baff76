/** The docs' generated tables match the registries (run `npm run docs` after adding a kernel or an action). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GENERATED_DOCS, regenerate, TABLES } from '../../src/docs/tables';
import { REPO_ROOT } from '../../src/stack/tools';
import { KERNEL_NAMES } from '../../src/domain/kernels';
import { ACTION_NAMES } from '../../src/playbooks/actions';

describe('generated doc tables', () => {
  for (const doc of GENERATED_DOCS) {
    it(`${doc} is up to date (npm run docs)`, () => {
      const text = readFileSync(path.join(REPO_ROOT, doc), 'utf8');
      assert.match(text, /<!-- generated:[a-z-]+ -->/, 'it has a generated region');
      assert.equal(text, regenerate(text, doc));
    });
  }

  it('each table has one row per registry entry', () => {
    assert.equal(TABLES.kernels().split('\n').length - 2, KERNEL_NAMES.length);
    assert.equal(TABLES.actions().split('\n').length - 2, ACTION_NAMES.length);
  });

  it('refuses an unknown or badly closed region', () => {
    assert.throws(() => regenerate('<!-- generated:nope -->\nx\n<!-- /generated:nope -->', 'x.md'), /no generated table named "nope"/);
    assert.throws(() => regenerate('<!-- generated:kernels -->\nx\n<!-- /generated:actions -->', 'x.md'), /closed by/);
  });
});
