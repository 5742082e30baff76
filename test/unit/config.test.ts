import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type ConfigError, parseConfig } from '../../src/config/load';
import { configJsonSchema } from '../../src/config/schema';
import { REPO_ROOT } from '../../src/stack/tools';
import { configProblemsOf } from '../support/config-problems';

const FILE = '/tmp/layer1-config-test/temporal.config.yaml';

const problemsOf = (text: string, env: NodeJS.ProcessEnv = {}): ConfigError => configProblemsOf(text, FILE, env);

describe('config', () => {
  it('fills every default from an empty file', () => {
    const c = parseConfig('', FILE, {});
    assert.equal(c.temporal.address, '127.0.0.1:7233');
    assert.equal(c.temporal.taskQueues.healing, 'layer1-healing');
    assert.equal(c.store.uri, 'mongodb://127.0.0.1:27018/?retryWrites=false');
    assert.equal(c.workers.healing.replicas, 2);
    assert.equal(c.stateDir, '/tmp/layer1-config-test/.layer1');
  });

  it('reports every problem at once, with path, line and column', () => {
    const err = problemsOf(['temporal:', '  adress: 1.2.3.4:7233', '  uiPort: "eighty"', 'store:', '  database: 7', 'extra: true'].join('\n'));
    const byPath = new Map(err.problems.map((p) => [p.path, p]));
    assert.equal(err.problems.length, 4, err.message);
    assert.deepEqual(
      [byPath.get('temporal.adress')?.line, byPath.get('temporal.adress')?.col],
      [2, 3],
    );
    assert.match(byPath.get('temporal.adress')!.message, /unknown key "adress"/);
    assert.equal(byPath.get('temporal.uiPort')?.line, 3);
    assert.equal(byPath.get('store.database')?.line, 5);
    assert.equal(byPath.get('extra')?.line, 6);
    assert.match(err.message, /temporal\.config\.yaml:3:\d+: .* → at temporal\.uiPort/);
  });

  it('reports malformed YAML with its position', () => {
    const err = problemsOf('temporal:\n  address: [unclosed\n');
    assert.ok(err.problems[0].line && err.problems[0].line >= 2, err.message);
  });

  it('rejects a malformed address', () => {
    const err = problemsOf('temporal:\n  address: nowhere\n');
    assert.equal(err.problems[0].path, 'temporal.address');
    assert.match(err.problems[0].message, /HOST:PORT/);
  });

  it('lets environment variables override, and says when a bad value came from one', () => {
    const c = parseConfig('', FILE, {
      TEMPORAL_ADDRESS: '10.0.0.5:7233',
      MONGODB_URI: 'mongodb://db.example:27017/?replicaSet=rs0',
      NATS_URL: 'nats://bus.example:4222',
      LAYER1_STATE_DIR: '/var/lib/layer1',
    });
    assert.equal(c.temporal.address, '10.0.0.5:7233');
    assert.equal(c.store.uri, 'mongodb://db.example:27017/?replicaSet=rs0');
    assert.equal(c.store.embedded, false, 'MONGODB_URI means a real MongoDB');
    assert.equal(c.bus.url, 'nats://bus.example:4222');
    assert.equal(c.stateDir, '/var/lib/layer1');
    const err = problemsOf('', { MONGODB_URI: 'postgres://x' });
    assert.match(err.message, /from environment variable MONGODB_URI/);
  });

  it('publishes a JSON Schema that matches the definition', () => {
    const published = JSON.parse(readFileSync(path.join(REPO_ROOT, 'schema', 'temporal.config.schema.json'), 'utf8'));
    assert.deepEqual(published, configJsonSchema(), 'run `npm run schema` to regenerate schema/');
  });

  it('accepts the committed temporal.config.yaml, the test config and the distributed deployment\'s', () => {
    for (const f of ['temporal.config.yaml', 'test/layer1.test.yaml', 'deploy/dist/layer1.dist.yaml']) {
      const file = path.join(REPO_ROOT, f);
      parseConfig(readFileSync(file, 'utf8'), file, {});
    }
  });
});
