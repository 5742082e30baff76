/**
 * What keeps the CLI quick without changing what it says: the validated-config cache returns what
 * the loader does (and misses when an input changes), the help facts the build writes are the
 * registries', and the quick status names the registry's kernels.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load';
import { loadConfigCached } from '../../src/config/cache';
import { KERNEL_NAMES } from '../../src/domain/kernels';
import { deriveHelpFacts, helpFacts } from '../../scripts/help-facts';
import { quickKernelStatuses } from '../../src/stack/kernel-status';
import { REPO_ROOT } from '../../src/stack/tools';

describe('CLI speed', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-cli-speed-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the config cache returns exactly what the loader does, for the repository configs, cached or not', async () => {
    for (const file of ['temporal.config.yaml', 'test/layer1.test.yaml', 'bench/layer1.bench.yaml']) {
      const full = path.join(REPO_ROOT, file);
      const loaded = loadConfig(full, {});
      assert.deepEqual(await loadConfigCached(full, {}), loaded, `${file}: first load`);
      assert.deepEqual(await loadConfigCached(full, {}), loaded, `${file}: from the cache`);
    }
  });

  it('the config cache misses when the file or an overriding environment variable changes, and never caches an invalid file', async () => {
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, 'temporal:\n  address: 127.0.0.1:1111\n');
    assert.equal((await loadConfigCached(file, {})).temporal.address, '127.0.0.1:1111');
    assert.equal((await loadConfigCached(file, { TEMPORAL_ADDRESS: '127.0.0.1:2222' })).temporal.address, '127.0.0.1:2222');
    writeFileSync(file, 'temporal:\n  address: 127.0.0.1:3333\n');
    assert.equal((await loadConfigCached(file, {})).temporal.address, '127.0.0.1:3333');
    writeFileSync(file, 'temporal:\n  adress: 127.0.0.1:3333\n');
    await assert.rejects(loadConfigCached(file, {}), (err: Error) => err.name === 'ConfigError' && /unknown key "adress"/.test(err.message));
    await assert.rejects(loadConfigCached(file, {}), (err: Error) => err.name === 'ConfigError');
    await assert.rejects(loadConfigCached(path.join(dir, 'missing.yaml'), {}), (err: Error) => err.name === 'ConfigError');
  });

  it('the help facts the build wrote are the registries', () => {
    assert.deepEqual(helpFacts(), deriveHelpFacts());
  });

  it('the quick status lists the registry kernels, each failing control_plane when it cannot be asked', () => {
    const config = loadConfig(path.join(REPO_ROOT, 'bench', 'layer1.bench.yaml'), { LAYER1_STATE_DIR: dir });
    const kernels = quickKernelStatuses(config, null, 'cannot reach Temporal');
    assert.deepEqual(kernels.map((k) => k.name), [...KERNEL_NAMES]);
    for (const k of kernels) {
      assert.equal(k.ready, false);
      assert.equal(k.state, 'UNKNOWN');
      assert.deepEqual(k.checks.map((c) => [c.name, c.ok, c.detail]), [['control_plane', false, 'cannot reach Temporal']]);
      assert.equal(k.checkedAt, null);
    }
  });
});
