/**
 * The coding agent's fixers on real files: a temporary git repository with a file broken for real
 * (Node's own SyntaxError output is what the fixer reads), a compiled file restored from its source,
 * and a model file restored from its baseline snapshot. Each proposal is checked against the bytes
 * it must restore; nothing here writes to the live tree (apply.ts does, after verification).
 */
import { exitText } from '../../src/healing/log-tail';
import { readProposal } from '../../src/coding-agent/proposals';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configuredFixers, FIXERS, fixersFor } from '../../src/coding-agent/fixers/index';
import { configRestoreFixer, invalidConfigFile } from '../../src/coding-agent/fixers/config-restore';
import { importErrorFixer, missingModule, packageOf } from '../../src/coding-agent/fixers/import-error';
import { loadConfig } from '../../src/config/load';
import { modelRestoreFixer } from '../../src/coding-agent/fixers/model-restore';
import { lastGoodContent, sourceOfCompiled } from '../../src/coding-agent/fixers/sources';
import { syntaxErrorFixer, syntaxErrorLocation } from '../../src/coding-agent/fixers/syntax-error';
import { ensureModels, MODEL_FILES, MODELS_DIR } from '../../src/coding-agent/models';
import { makeEvidence } from '../../src/healing/evidence';
import { REPO_ROOT } from '../../src/stack/repo-root';

const git = (cwd: string, ...args: string[]): string => execFileSync('git', args, { cwd, encoding: 'utf8' });

describe('coding-agent fixers', () => {
  let repo: string;
  const good = "'use strict';\nmodule.exports = function add(a, b) {\n  return a + b;\n};\nconsole.log('ready');\n";

  beforeEach(() => {
    repo = mkdtempSync(path.join(os.tmpdir(), 'layer1-fixers-'));
    git(repo, 'init', '-q');
    git(repo, 'config', 'user.email', 'test@layer1.invalid');
    git(repo, 'config', 'user.name', 'test');
    mkdirSync(path.join(repo, 'kernels'), { recursive: true });
    writeFileSync(path.join(repo, 'kernels/main.js'), good);
    copyFileSync(path.join(REPO_ROOT, 'tsconfig.json'), path.join(repo, 'tsconfig.json'));
    writeFileSync(path.join(repo, 'kernels/log.ts'), 'export const answer: number = 42;\nexport function twice(n: number): number {\n  return n * 2;\n}\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'good');
  });
  afterEach(() => rmSync(repo, { recursive: true, force: true }));

  it('finds the file and line of a real SyntaxError in what Node prints, inside the project only', () => {
    writeFileSync(path.join(repo, 'kernels/main.js'), good.replace('return a + b;', 'return a + ;'));
    const run = spawnSync(process.execPath, [path.join(repo, 'kernels/main.js')], { encoding: 'utf8' });
    assert.notEqual(run.status, 0);
    assert.deepEqual(syntaxErrorLocation(run.stderr, repo), { file: 'kernels/main.js', line: 3 });
    assert.equal(syntaxErrorLocation(run.stderr, path.join(repo, 'elsewhere')), null, 'a file outside the root is not ours');
    assert.equal(syntaxErrorLocation('TypeError: x is not a function\n    at /a/b.js:3:4', repo), null, 'only a SyntaxError');
  });

  it('syntax_error proposes the file as git has it, for the kernel to restart', async () => {
    writeFileSync(path.join(repo, 'kernels/main.js'), good.replace('return a + b;', 'return a + ;'));
    const run = spawnSync(process.execPath, [path.join(repo, 'kernels/main.js')], { encoding: 'utf8' });
    // The text the trigger monitor gives the death: the head of Node's report, where the file and line are.
    const text = exitText('immutable_log', 'immutable-log', run.stderr);
    const evidence = makeEvidence({ kind: 'exited', kernel: 'immutable_log', process: 'immutable-log', pid: 1234, at: Date.now(), observer: 'test', key: 'k1', detail: 'exited with code 1', text });
    assert.deepEqual(fixersFor(evidence), [syntaxErrorFixer], 'only the syntax fixer says it handles a SyntaxError');
    assert.deepEqual(fixersFor({ ...evidence, text: 'immutable-log of immutable_log exited without being stopped' }), [], 'a death with no code fault in its text is no fixer\'s');
    const cs = await syntaxErrorFixer.propose({ evidence, diagnostics: null, projectRoot: repo, stateDir: repo });
    assert.ok(cs);
    assert.equal(cs.fixer, 'syntax_error');
    assert.equal(cs.restartKernel, 'immutable_log');
    assert.deepEqual(cs.files.map((f) => [f.root, f.path, f.source]), [['project', 'kernels/main.js', 'git:HEAD']]);
    assert.equal(cs.files[0].content?.data, good, 'the committed bytes');
    // The proposal wrote nothing: the live file is still broken until apply.ts promotes a verified fix.
    assert.match(readFileSync(path.join(repo, 'kernels/main.js'), 'utf8'), /return a \+ ;/);
    // A SyntaxError thrown at run time (JSON.parse) names a file that is as committed: nothing to restore.
    writeFileSync(path.join(repo, 'kernels/main.js'), good);
    assert.equal(await syntaxErrorFixer.propose({ evidence, diagnostics: null, projectRoot: repo, stateDir: repo }), null);
  });

  it('a compiled file under dist/ is restored by compiling its tracked source again', async () => {
    assert.equal(sourceOfCompiled('dist/kernels/log.js'), 'kernels/log.ts');
    assert.equal(sourceOfCompiled('kernels/log.js'), null);
    const restored = await lastGoodContent(repo, 'dist/kernels/log.js');
    assert.equal(restored?.source, 'transpile:kernels/log.ts');
    // It is JavaScript that runs and does what the source says.
    mkdirSync(path.join(repo, 'dist/kernels'), { recursive: true });
    writeFileSync(path.join(repo, 'dist/kernels/log.js'), restored!.content);
    const out = execFileSync(process.execPath, ['-e', `const m = require(${JSON.stringify(path.join(repo, 'dist/kernels/log.js'))}); console.log(m.answer, m.twice(4))`], { encoding: 'utf8' });
    assert.equal(out.trim(), '42 8');
    assert.equal(await lastGoodContent(repo, 'untracked.js'), null, 'no good version: nothing proposed');
  });

  it('model_restore proposes the baseline copy of a corrupted model file, checked against the manifest', async () => {
    const stateDir = path.join(repo, 'state');
    await ensureModels(stateDir);
    const file = path.join(stateDir, MODELS_DIR, MODEL_FILES[0]);
    const original = readFileSync(file);
    const bad = Buffer.from(original);
    bad[Math.floor(bad.length / 2)] ^= 1;
    writeFileSync(file, bad);
    const evidence = makeEvidence({ kind: 'model_corruption', kernel: 'coding_agent', process: null, pid: null, at: Date.now(), observer: 'test', key: 'k2', detail: 'checksum', text: 'models/fixers.json checksum' });
    assert.deepEqual(fixersFor(evidence).map((f) => f.name), ['model_restore']);
    const cs = await modelRestoreFixer.propose({ evidence, diagnostics: null, projectRoot: repo, stateDir });
    assert.ok(cs);
    assert.equal(cs.restartKernel, 'coding_agent');
    assert.equal(cs.files.length, 1);
    assert.equal(cs.files[0].root, 'state');
    assert.equal(cs.files[0].path, `${MODELS_DIR}/${MODEL_FILES[0]}`);
    assert.ok(Buffer.from(cs.files[0].content!.data, 'base64').equals(original), 'the baseline bytes');
    // Nothing to restore once the file is good again.
    writeFileSync(file, original);
    assert.equal(await modelRestoreFixer.propose({ evidence, diagnostics: null, projectRoot: repo, stateDir }), null);
  });

  it('import_error: a bad import path restores the importing file from git', async () => {
    writeFileSync(path.join(repo, 'kernels/main.js'), `require('./no-such-file');\n${good}`);
    const run = spawnSync(process.execPath, [path.join(repo, 'kernels/main.js')], { encoding: 'utf8' });
    assert.deepEqual(missingModule(run.stderr), { specifier: './no-such-file', from: path.join(repo, 'kernels/main.js') });
    const evidence = makeEvidence({ kind: 'exited', kernel: 'coding_agent', process: 'coding-agent-1', pid: 1, at: Date.now(), observer: 'test', key: 'k3', detail: 'exited', text: run.stderr });
    const cs = await importErrorFixer.propose({ evidence, diagnostics: null, projectRoot: repo, stateDir: repo });
    assert.deepEqual(cs?.files.map((f) => [f.path, f.source, f.content?.data]), [['kernels/main.js', 'git:HEAD', good]]);
  });

  it('import_error: a package missing from node_modules comes back from the npm cache, offline, at the locked version', async function () {
    this.timeout(60_000);
    assert.equal(packageOf('@nats-io/jetstream/internal'), '@nats-io/jetstream');
    assert.equal(packageOf('./x'), null);
    // The real project's lock and cache; node_modules itself is only read, to compare the bytes.
    const text = "Error: Cannot find module 'yaml'\nRequire stack:\n- " + path.join(REPO_ROOT, 'dist/src/config/load.js');
    const evidence = makeEvidence({ kind: 'exited', kernel: 'coding_agent', process: 'coding-agent-1', pid: 1, at: Date.now(), observer: 'test', key: 'k4', detail: 'exited', text });
    const cs = await importErrorFixer.propose({ evidence, diagnostics: null, projectRoot: REPO_ROOT, stateDir: repo });
    assert.ok(cs, 'a change set from the cache');
    const version = JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules/yaml/package.json'), 'utf8')).version;
    assert.deepEqual(cs.params, { package: 'yaml', version });
    assert.ok(cs.files.length > 10);
    for (const f of cs.files) {
      assert.match(f.path, /^node_modules\/yaml\//);
      assert.equal(f.source, `npm-cache:yaml@${version}`);
      const live = path.join(REPO_ROOT, f.path);
      // A package's files travel as a proposal under the state dir, not in the change set itself.
      assert.equal(f.content?.encoding, 'proposal');
      if (existsSync(live)) assert.ok(readFileSync(live).equals(readProposal(repo, f.content!.data, f.path)), `${f.path}: the installed bytes`);
    }
    assert.ok(cs.files.some((f) => f.path === 'node_modules/yaml/package.json'));
  });

  it('config_restore: a configuration that no longer validates goes back to its newest valid version', async () => {
    const file = path.join(repo, 'layer1.yaml');
    const valid = 'stateDir: .state\nkernels:\n  immutable_log:\n    segmentKb: 256\n';
    writeFileSync(file, valid);
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'config');
    writeFileSync(file, valid.replace('256', '-5'));
    let message = '';
    try {
      loadConfig(file);
    } catch (err) {
      message = (err as Error).message;
    }
    assert.equal(invalidConfigFile(message), file, message);
    const evidence = makeEvidence({ kind: 'exited', kernel: 'immutable_log', process: 'immutable-log', pid: 1, at: Date.now(), observer: 'test', key: 'k5', detail: 'exited', text: message });
    const cs = await configRestoreFixer.propose({ evidence, diagnostics: null, projectRoot: repo, stateDir: path.join(repo, '.state') });
    assert.deepEqual(cs?.files.map((f) => [f.path, f.source, f.content?.data]), [['layer1.yaml', 'git:HEAD', valid]]);
    // A committed version that does not validate either is never proposed.
    git(repo, 'commit', '-qam', 'bad config committed');
    assert.equal(await configRestoreFixer.propose({ evidence, diagnostics: null, projectRoot: repo, stateDir: path.join(repo, '.state') }), null);
  });

  it('every fixer is registered once, by a unique name', () => {
    const names = FIXERS.map((f) => f.name);
    assert.deepEqual([...new Set(names)], names);
    assert.deepEqual(names, ['model_restore', 'syntax_error', 'import_error', 'config_restore']);
    // The LLM fixer only when configured, and then last.
    const llm = { enabled: true, url: 'http://127.0.0.1:9', model: 'm', apiKeyEnv: 'X', timeoutMs: 1000, maxFileBytes: 1000, maxFiles: 1, maxLogLines: 10 };
    assert.deepEqual(configuredFixers({ codingAgent: { llm: { ...llm, enabled: false } } } as never).map((f) => f.name), names);
    assert.deepEqual(configuredFixers({ codingAgent: { llm } } as never).map((f) => f.name), [...names, 'llm']);
  });
});
