/** What `layer1 up` obtains: only the tools of the servers it starts (src/stack/tools.ts). */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureTools } from '../../src/stack/tools';

describe('ensureTools', () => {
  it('with no embedded server obtains and checks nothing (an empty cache stays empty)', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'layer1-tools-'));
    try {
      const said: string[] = [];
      // PATH empty too: no Go, no Python, no temporal or nats-server could be found or run.
      const tools = await ensureTools((m) => said.push(m), { LAYER1_CACHE_DIR: cache, PATH: '' }, { servers: [] });
      assert.deepEqual(said, []);
      assert.deepEqual(readdirSync(cache), []);
      assert.equal(existsSync(tools.ferretdb), false);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
