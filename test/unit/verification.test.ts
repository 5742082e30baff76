import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, type LoadedConfig } from '../../src/config/load';
import { KERNEL_MANIFESTS } from '../../kernels/manifests';
import { REPO_ROOT } from '../../src/stack/tools';
import { compiledOf, extraTests, extraTestsDirOf, importersOf, kernelTests, relativeImports, selectTests } from '../../src/verification/targets';
import { runCommand, tailBytes } from '../../src/verification/loop';
import { CHECK_OUTPUT_BYTES, createProjectCheckActivities, createVerificationActivities, planProjectCheck, PROJECT_CHECK_NICENESS } from '../../activities/verification';
import type { ProcessManager } from '../../src/process/manager';
import type { VerifiedEvidence } from '../../contracts/verification';

const FILE = path.join(REPO_ROOT, 'temporal.config.yaml');

describe('verification: targeted tests', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'layer1-verify-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it("every kernel declares its unit tests, and each exists", () => {
    for (const m of KERNEL_MANIFESTS) {
      assert.ok((m.tests ?? []).length > 0, `${m.name} declares no tests`);
      for (const t of m.tests ?? []) assert.ok(existsSync(path.join(REPO_ROOT, t)), `${m.name}: ${t} does not exist`);
    }
    assert.deepEqual(kernelTests('immutable_log'), ['test/unit/immutable-log.test.ts', 'test/unit/log-integrity-detector.test.ts']);
    assert.deepEqual(kernelTests(null), []);
    assert.deepEqual(kernelTests('nope'), []);
  });

  it('reads relative imports: from, side-effect imports, import() and require()', () => {
    const src = ["import a from '../x';", "import './side';", "export { b } from '../../y/z';", "const c = await import('./d');", "const e = require('../e');", "import fs from 'node:fs';"].join('\n');
    assert.deepEqual(relativeImports(src), ['../x', './side', '../../y/z', './d', '../e']);
  });

  it('finds the unit tests that import a changed file (a module, a folder index) and a changed test itself', () => {
    assert.ok(importersOf(REPO_ROOT, ['src/healing/detectors/loop.ts']).includes('test/unit/detectors.test.ts'));
    // `../../kernels/immutable-log` imports the folder's index.
    const logImporters = importersOf(REPO_ROOT, ['kernels/immutable-log/index.ts']);
    assert.ok(logImporters.includes('test/unit/log-integrity-detector.test.ts'), logImporters.join());
    assert.deepEqual(importersOf(REPO_ROOT, ['test/unit/config.test.ts']), ['test/unit/config.test.ts']);
    assert.deepEqual(importersOf(REPO_ROOT, ['README.md']), []);
    assert.deepEqual(importersOf(REPO_ROOT, []), []);
  });

  it("takes the operator's extra tests from <dir>/<kernel>/ and <dir>/all/, .js only", () => {
    for (const [dir, file] of [['message_bus', 'a.js'], ['all', 'b.js'], ['all', 'notes.md'], ['immutable_log', 'c.js']]) {
      mkdirSync(path.join(tmp, dir!), { recursive: true });
      writeFileSync(path.join(tmp, dir!, file!), '');
    }
    assert.deepEqual(extraTests(tmp, 'message_bus'), [path.join(tmp, 'message_bus', 'a.js'), path.join(tmp, 'all', 'b.js')]);
    assert.deepEqual(extraTests(tmp, null), [path.join(tmp, 'all', 'b.js')]);
    assert.deepEqual(extraTests(path.join(tmp, 'missing'), 'message_bus'), []);
    const config = { ...parseConfig('', FILE, {}), stateDir: tmp } as LoadedConfig;
    assert.equal(extraTestsDirOf(config), path.join(tmp, 'verification-tests'));
  });

  it('selects the compiled kernel tests, importers and extra tests, and names sources not compiled', () => {
    mkdirSync(path.join(tmp, 'all'));
    writeFileSync(path.join(tmp, 'all', 'x.js'), '');
    const sel = selectTests({ root: REPO_ROOT, kernel: 'message_bus', changedFiles: ['src/healing/detectors/loop.ts'], extraTestsDir: tmp });
    // The kernel's own tests, then every test that imports the changed file (whichever those are today).
    const importers = importersOf(REPO_ROOT, ['src/healing/detectors/loop.ts']).filter((t) => t !== 'test/unit/message-bus.test.ts');
    assert.ok(importers.includes('test/unit/detectors.test.ts'));
    assert.deepEqual(sel.sources, ['test/unit/message-bus.test.ts', ...importers]);
    assert.deepEqual(sel.files, [...sel.sources.map((t) => compiledOf(REPO_ROOT, t)), path.join(tmp, 'all', 'x.js')]);
    assert.deepEqual(sel.missing, []);
    // A root nothing was built in: its declared tests are missing.
    const bare = selectTests({ root: tmp, kernel: 'message_bus', changedFiles: [], extraTestsDir: null });
    assert.deepEqual(bare.missing, [path.join(tmp, 'dist', 'test', 'unit', 'message-bus.test.js')]);
    assert.deepEqual(bare.files, []);
  });

  it('plans lint on the changed files, else the kernel folder, and types incrementally under the state dir', () => {
    const config = { ...parseConfig('', FILE, {}), stateDir: tmp } as LoadedConfig;
    const lint = planProjectCheck(config, { name: 'lint', kernel: 'immutable_log', changedFiles: ['src/verification/loop.ts', 'docs/x.md'] }, REPO_ROOT);
    assert.ok('argv' in lint && lint.argv.at(-1) === 'src/verification/loop.ts' && lint.argv.length === 3, JSON.stringify(lint));
    const kernelLint = planProjectCheck(config, { name: 'lint', kernel: 'immutable_log', changedFiles: [] }, REPO_ROOT);
    assert.ok('argv' in kernelLint && kernelLint.argv.at(-1) === 'kernels/immutable-log/', JSON.stringify(kernelLint));
    const types = planProjectCheck(config, { name: 'types', kernel: null, changedFiles: [] }, REPO_ROOT);
    assert.ok('argv' in types && types.argv.includes('--noEmit') && types.argv.includes(path.join(tmp, 'verification', 'tsconfig.tsbuildinfo')), JSON.stringify(types));
    const none = planProjectCheck(config, { name: 'tests', kernel: null, changedFiles: [] }, REPO_ROOT);
    assert.ok('none' in none);
  });
});

describe('verification: the command runner and runProjectCheck', function () {
  this.timeout(60_000);
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'layer1-verify-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('keeps the end of the output, bounded, and kills a command at its timeout', async () => {
    const r = await runCommand(['node', '-e', "for (let i = 0; i < 5000; i++) console.log('line ' + i); process.exitCode = 3"], { cwd: tmp, timeoutMs: 20_000, outputBytes: 1000 });
    assert.equal(r.exitCode, 3);
    assert.equal(r.ok, false);
    assert.ok(Buffer.byteLength(r.output) <= 1000);
    assert.match(r.output, /line 4999\n$/);
    const slow = await runCommand('sleep 30', { cwd: tmp, timeoutMs: 200 });
    assert.equal(slow.timedOut, true);
    assert.equal(slow.ok, false);
    assert.equal(tailBytes('héllo', 4), 'llo');
  });

  it("runs the tests check for real: an operator's failing mocha test fails it with its output", async () => {
    const dir = path.join(tmp, 'verification-tests', 'all');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'failing.test.js'),
      "const assert = require('node:assert/strict');\ndescribe('operator check', () => {\n  it('holds', () => assert.equal(1 + 1, 3, 'the sum is wrong'));\n  it('passes', () => {});\n});\n",
    );
    const config = { ...parseConfig('', FILE, {}), stateDir: tmp } as LoadedConfig;
    const { runProjectCheck } = createProjectCheckActivities({ config });
    const r = await runProjectCheck({ name: 'tests', kernel: null, changedFiles: [] });
    assert.equal(r.name, 'tests');
    assert.equal(r.ok, false);
    assert.notEqual(r.exitCode, 0);
    assert.notEqual(r.exitCode, null);
    assert.match(r.output, /1 failing/);
    assert.match(r.output, /the sum is wrong/);
    assert.match(r.command, /mocha --no-config --exit --timeout 60000 .*failing\.test\.js/);
    assert.ok(Buffer.byteLength(r.output) <= CHECK_OUTPUT_BYTES);

    // Fixed, it passes.
    writeFileSync(path.join(dir, 'failing.test.js'), "describe('operator check', () => { it('holds', () => {}); });\n");
    const fixed = await runProjectCheck({ name: 'tests', kernel: null, changedFiles: [] });
    assert.equal(fixed.ok, true, fixed.output);
    assert.equal(fixed.exitCode, 0);
  });

  /** An operator test under <dir>/all that records its start and end in `trace` (overlapping runs would interleave them). */
  function slowTest(dir: string, trace: string): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'slow.test.js'),
      `const fs = require('node:fs');\ndescribe('slow', () => { it('waits', async () => { fs.appendFileSync(${JSON.stringify(trace)}, 'start\\n'); await new Promise((r) => setTimeout(r, 300)); fs.appendFileSync(${JSON.stringify(trace)}, 'end\\n'); }); });\n`,
    );
  }

  it('runs project checks one at a time in the process', async () => {
    const trace = path.join(tmp, 'trace');
    slowTest(path.join(tmp, 'verification-tests', 'all'), trace);
    const config = { ...parseConfig('', FILE, {}), stateDir: tmp } as LoadedConfig;
    const { runProjectCheck } = createProjectCheckActivities({ config });
    // Two roots: two different commands, which never share a run.
    for (const r of ['a', 'b']) mkdirSync(path.join(tmp, r));
    const [a, b] = await Promise.all(['a', 'b'].map((r) => runProjectCheck({ name: 'tests', kernel: null, changedFiles: [], root: path.join(tmp, r) })));
    assert.ok(a.ok && b.ok, `${a.output}\n${b.output}`);
    assert.ok(!a.shared && !b.shared);
    assert.equal(readFileSync(trace, 'utf8'), 'start\nend\nstart\nend\n');
  });

  it("a check that waited while the same command ran, started after it asked, takes that run's result; never a run from before it asked", async () => {
    const trace = path.join(tmp, 'trace');
    slowTest(path.join(tmp, 'verification-tests', 'all'), trace);
    const config = { ...parseConfig('', FILE, {}), stateDir: tmp } as LoadedConfig;
    const { runProjectCheck } = createProjectCheckActivities({ config });
    const check = () => runProjectCheck({ name: 'tests', kernel: null, changedFiles: [], root: tmp });
    const first = check();
    // Asked for while the first run is under way: the first started before them, so the second
    // runs again; the third waited behind the second, which started after it asked.
    const deadline = Date.now() + 30_000;
    while (!existsSync(trace) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const [second, third] = await Promise.all([check(), check()]);
    const a = await first;
    assert.ok(a.ok && second.ok && third.ok, `${a.output}\n${second.output}\n${third.output}`);
    assert.equal(readFileSync(trace, 'utf8'), 'start\nend\nstart\nend\n');
    assert.ok(!a.shared && !second.shared);
    assert.equal(third.shared, true);
    assert.equal(third.startedAt, second.startedAt);
    assert.match(third.output, /the same command's run that started at .*after this check was asked for/);
    // Asked for after every run ended: it runs.
    const later = await check();
    assert.ok(later.ok && !later.shared);
    assert.equal(readFileSync(trace, 'utf8'), 'start\nend\nstart\nend\nstart\nend\n');
  });

  it('a passing run is taken again while the tree is unchanged (size and modification time), run again once a file or an extra test changes; a failing one is always run again', async () => {
    const trace = path.join(tmp, 'trace');
    const extra = path.join(tmp, 'verification-tests', 'all');
    slowTest(extra, trace);
    const root = path.join(tmp, 'project');
    mkdirSync(root);
    writeFileSync(path.join(root, 'source.ts'), 'export const x = 1;\n');
    const config = { ...parseConfig('', FILE, {}), stateDir: tmp } as LoadedConfig;
    const { runProjectCheck } = createProjectCheckActivities({ config });
    const check = () => runProjectCheck({ name: 'tests', kernel: null, changedFiles: [], root });
    const runs = (): number => readFileSync(trace, 'utf8').split('start').length - 1;
    const first = await check();
    assert.ok(first.ok && !first.shared, first.output);
    const again = await check();
    assert.equal(again.shared, true, again.output);
    assert.equal(again.startedAt, first.startedAt);
    assert.match(again.output, /passed, on this tree as it is now/);
    assert.equal(runs(), 1);
    // A file of the root touched: run again.
    utimesSync(path.join(root, 'source.ts'), new Date(), new Date(Date.now() + 5_000));
    const touched = await check();
    assert.ok(touched.ok && !touched.shared, touched.output);
    assert.equal(runs(), 2);
    // An extra test changed (it lives under the state directory, which the tree leaves out): run again, and it fails.
    writeFileSync(path.join(extra, 'slow.test.js'), `require('node:fs').appendFileSync(${JSON.stringify(trace)}, 'start\\n');\ndescribe('slow', () => { it('fails', () => { throw new Error('broken'); }); });\n`);
    const broken = await check();
    assert.ok(!broken.ok && !broken.shared, broken.output);
    assert.equal(runs(), 3);
    // Failing on an unchanged tree: run again all the same.
    const still = await check();
    assert.ok(!still.ok && !still.shared, still.output);
    assert.equal(runs(), 4);
  });

  it('runs a command at the niceness asked for', async () => {
    const r = await runCommand(['node', '-e', "setTimeout(() => console.log(require('node:os').getPriority()), 300)"], { cwd: tmp, timeoutMs: 20_000, niceness: PROJECT_CHECK_NICENESS });
    assert.equal(r.output.trim(), String(PROJECT_CHECK_NICENESS));
  });
});

describe('verification: the detector check', function () {
  this.timeout(20_000);
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'layer1-verify-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  /** nats-server's log line (local time) of a refused publish at `at`. */
  const violation = (at: number): string => {
    const d = new Date(at);
    const p = (n: number, w = 2): string => String(n).padStart(w, '0');
    const stamp = `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`;
    return `[12462] ${stamp} [ERR] 127.0.0.1:58654 - cid:37 - "v3.4.0:nats.js:x" - "$G/user:immutable_log" - Publish Violation - Subject "system.control"\n`;
  };

  function activities(busLog: string) {
    const config = { ...parseConfig('', FILE, {}), stateDir: tmp } as LoadedConfig;
    const pm = { logPath: () => busLog } as unknown as ProcessManager;
    return createVerificationActivities({ config, pm, db: {} as never, bus: {} as never, temporal: {} as never });
  }
  const evidence: VerifiedEvidence = { id: 'acl_violation:message_bus:1@1', kind: 'acl_violation', kernel: 'message_bus', process: 'bus', signature: 's', at: 0 };

  it('acl_violation: passes when every refused publish in the bus log is older than the remedy, fails on one after it', async () => {
    const log = path.join(tmp, 'bus.log');
    const remedyAt = Date.now() - 10_000;
    writeFileSync(log, violation(remedyAt - 5_000));
    const a = activities(log);
    const before = await a.verifyDetector({ evidence, since: remedyAt });
    assert.equal(before.ok, true, before.output);
    assert.equal(before.name, 'detector');
    assert.match(before.command, /acl_violations/);
    writeFileSync(log, violation(remedyAt - 5_000) + violation(remedyAt + 2_000));
    const after = await a.verifyDetector({ evidence, since: remedyAt });
    assert.equal(after.ok, false);
    assert.match(after.output, /1 finding\(s\) reproduce it/);
    assert.match(after.output, /immutable_log -> system\.control/);
  });

  it('a kind no detector reports passes with a note; readiness without a kernel passes with a note', async () => {
    const a = activities(path.join(tmp, 'none.log'));
    const r = await a.verifyDetector({ evidence: { ...evidence, kind: 'model_corruption_unknown' }, since: 0 });
    assert.equal(r.ok, true);
    assert.match(r.output, /no detector reports/);
    const ready = await a.verifyReadiness({ kernel: null });
    assert.equal(ready.ok, true);
    assert.match(ready.output, /no kernel/);
  });
});
