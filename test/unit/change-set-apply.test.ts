import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { backupDirOf, checkChangeSet, commandCheck, promote, rollback, stageChangeSet, verifyStaged } from '../../src/coding-agent/apply';
import { UnsafeChangeError, type ChangeSet, type FileChange } from '../../src/coding-agent/change-set';

/** sha256 of every file under `dir` (relative path → hash), `.git` left out. */
function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      if (name === '.git') continue;
      const full = path.join(d, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else out[path.relative(dir, full)] = createHash('sha256').update(readFileSync(full)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

const cs = (files: FileChange[], commands: ChangeSet['commands'] = []): ChangeSet => ({ fixer: 'test', params: {}, summary: 'a test change', files, commands, restartKernel: null });
const text = (data: string) => ({ encoding: 'utf8' as const, data });

describe('coding agent: applying a change set safely', () => {
  let tmp: string;
  let project: string;
  let stateDir: string;
  let outside: string;

  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'layer1-apply-'));
    project = path.join(tmp, 'project');
    stateDir = path.join(tmp, 'state');
    outside = path.join(tmp, 'outside');
    for (const d of [project, stateDir, outside, path.join(project, 'src'), path.join(project, 'dist'), path.join(stateDir, 'config')]) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(project, 'src', 'a.ts'), 'export const a = 1;\n');
    writeFileSync(path.join(project, 'src', 'b.ts'), 'export const b = 2;\n');
    writeFileSync(path.join(project, 'dist', 'a.js'), 'exports.a = 1;\n');
    writeFileSync(path.join(project, 'untracked.txt'), 'not in git\n');
    writeFileSync(path.join(stateDir, 'config', 'k.yaml'), 'port: 1\n');
    writeFileSync(path.join(outside, 'secret'), 'outside\n');
    const git = (...args: string[]) => execFileSync('git', args, { cwd: project, stdio: 'ignore' });
    git('init', '-q');
    git('add', 'src/a.ts', 'src/b.ts');
    git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'init');
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  const roots = () => ({ projectRoot: project, stateDir });
  const refused = async (c: ChangeSet, re: RegExp) => {
    await assert.rejects(checkChangeSet(c, roots()), (err: unknown) => err instanceof UnsafeChangeError && re.test(err.message));
  };

  it('refuses `..`, absolute paths, symlinks leaving the root, untracked files and .git', async () => {
    await refused(cs([{ root: 'project', path: '../outside/secret', content: text('x'), source: 't' }]), /\.\.\/outside\/secret/);
    await refused(cs([{ root: 'project', path: '/etc/passwd', content: text('x'), source: 't' }]), /\/etc\/passwd/);
    symlinkSync(outside, path.join(project, 'src', 'link'));
    await refused(cs([{ root: 'project', path: 'src/link/secret', content: text('x'), source: 't' }]), /outside its root/);
    symlinkSync(outside, path.join(stateDir, 'config', 'link'));
    await refused(cs([{ root: 'state', path: 'config/link/new.yaml', content: text('x'), source: 't' }]), /outside its root/);
    await refused(cs([{ root: 'project', path: 'untracked.txt', content: text('x'), source: 't' }]), /untracked\.txt: not tracked by git/);
    await refused(cs([{ root: 'project', path: 'src/new.ts', content: text('x'), source: 't' }]), /not tracked by git/);
    await refused(cs([{ root: 'project', path: '.git/config', content: text('x'), source: 't' }]), /inside \.git/);
    await refused(cs([{ root: 'state', path: 'coding-agent/backups/x/manifest.json', content: text('x'), source: 't' }]), /own scratch/);
    await refused(cs([{ root: 'project', path: 'src/a.ts', source: 't' }]), /exactly one of content and diff/);
    // Tracked, generated output and state files pass.
    await checkChangeSet(
      cs([
        { root: 'project', path: 'src/a.ts', content: text('x'), source: 't' },
        { root: 'project', path: 'dist/a.js', content: text('x'), source: 't' },
        { root: 'project', path: 'node_modules/m/index.js', content: text('x'), source: 't' },
        { root: 'state', path: 'config/k.yaml', content: text('x'), source: 't' },
      ]),
      roots(),
    );
  });

  it('a diff that does not apply is refused before anything is written (no scratch copy either)', async () => {
    const before = hashTree(tmp);
    const diff = createTwoFilesPatch('a/src/a.ts', 'b/src/a.ts', 'export const a = 99;\n', 'export const a = 100;\n');
    await assert.rejects(stageChangeSet(cs([{ root: 'project', path: 'src/a.ts', diff, source: 't' }]), { ...roots(), id: 'cs-bad-diff' }), /does not apply/);
    assert.deepEqual(hashTree(tmp), before);
  });

  it("a scratch copy's fingerprint: the same change on the same tree gives the same; a byte changed anywhere, or another change, does not", async () => {
    const change = cs([
      { root: 'project', path: 'dist/a.js', content: text('exports.a = 2;\n'), source: 't' },
      { root: 'state', path: 'config/k.yaml', content: text('port: 2\n'), source: 't' },
    ]);
    const one = await stageChangeSet(change, { ...roots(), id: 'cs-fp-1' });
    const two = await stageChangeSet(change, { ...roots(), id: 'cs-fp-2' });
    assert.match(one.fingerprint!, /^[0-9a-f]{64}$/);
    assert.equal(two.fingerprint, one.fingerprint, 'what the checks would see is the same');
    const other = await stageChangeSet(cs([{ ...change.files[0]!, content: text('exports.a = 3;\n') }, change.files[1]!]), { ...roots(), id: 'cs-fp-3' });
    assert.notEqual(other.fingerprint, one.fingerprint, 'another change');
    const state = await stageChangeSet(cs([change.files[0]!, { ...change.files[1]!, content: text('port: 3\n') }]), { ...roots(), id: 'cs-fp-4' });
    assert.notEqual(state.fingerprint, one.fingerprint, 'another state file');
    writeFileSync(path.join(project, 'src', 'b.ts'), 'export const b = 3;\n');
    const moved = await stageChangeSet(change, { ...roots(), id: 'cs-fp-5' });
    assert.notEqual(moved.fingerprint, one.fingerprint, 'the tree around it changed');
  });

  it('a change set that fails verification in the scratch copy leaves the live tree byte-identical and is never promoted', async () => {
    const before = { project: hashTree(project), config: hashTree(path.join(stateDir, 'config')) };
    const diff = createTwoFilesPatch('a/src/a.ts', 'b/src/a.ts', 'export const a = 1;\n', 'export const a = ;\n');
    const change = cs([
      { root: 'project', path: 'src/a.ts', diff, source: 't' },
      { root: 'state', path: 'config/k.yaml', content: text('port: 2\n'), source: 't' },
    ]);
    const staged = await stageChangeSet(change, { ...roots(), id: 'cs-fails' });
    assert.equal(readFileSync(path.join(staged.scratchRoot, 'src', 'a.ts'), 'utf8'), 'export const a = ;\n');
    // A "types" check that fails on the broken file, in the scratch copy.
    const verified = await verifyStaged(staged, [commandCheck('types', ['sh', '-c', "! grep -q '= ;' src/a.ts || { echo 'src/a.ts: syntax error'; exit 1; }"])]);
    assert.equal(verified.ok, false);
    assert.match(verified.checks[0]!.output, /syntax error/);
    assert.deepEqual(hashTree(project), before.project);
    assert.deepEqual(hashTree(path.join(stateDir, 'config')), before.config);
    assert.equal(existsSync(backupDirOf(stateDir, 'cs-fails')), false);
  });

  it('promote writes the verified files with a backup; rollback restores them byte-identical (hashes); promote twice is a no-op', async () => {
    const before = { project: hashTree(project), config: hashTree(path.join(stateDir, 'config')) };
    const diff = createTwoFilesPatch('a/src/a.ts', 'b/src/a.ts', 'export const a = 1;\n', 'export const a = 3;\n');
    const change = cs(
      [
        { root: 'project', path: 'src/a.ts', diff, source: 't' },
        { root: 'project', path: 'src/b.ts', content: null, source: 't' },
        { root: 'project', path: 'dist/new.js', content: text('exports.n = 1;\n'), source: 't' },
        { root: 'state', path: 'config/k.yaml', content: text('port: 2\n'), source: 't' },
      ],
      [
        { why: 'check in the copy', argv: ['sh', '-c', 'grep -q "a = 3" {root}/src/a.ts'], live: false },
        { why: 'rebuild live', argv: ['sh', '-c', 'echo built >> {root}/dist/build.log'], live: true },
      ],
    );
    const staged = await stageChangeSet(change, { ...roots(), id: 'cs-ok' });
    assert.equal(staged.ok, true, JSON.stringify(staged.commands));
    assert.match(staged.files[0]!.diff, /-export const a = 1;\n\+export const a = 3;/);
    const verified = await verifyStaged(staged, [commandCheck('tests', ['true'])]);
    assert.equal(verified.ok, true);
    assert.deepEqual(hashTree(project), before.project, 'staging and verifying write nothing live');

    const p1 = await promote(change, { ...roots(), id: 'cs-ok' });
    assert.equal(p1.ok, true);
    assert.equal(readFileSync(path.join(project, 'src', 'a.ts'), 'utf8'), 'export const a = 3;\n');
    assert.equal(existsSync(path.join(project, 'src', 'b.ts')), false);
    assert.equal(readFileSync(path.join(stateDir, 'config', 'k.yaml'), 'utf8'), 'port: 2\n');
    assert.equal(readFileSync(path.join(project, 'dist', 'build.log'), 'utf8'), 'built\n');
    assert.ok(p1.files.every((f) => f.written));

    // Idempotent: a second promote finds the manifest and writes nothing again (the backup keeps the old bytes).
    const manifest = readFileSync(path.join(backupDirOf(stateDir, 'cs-ok'), 'manifest.json'), 'utf8');
    const p2 = await promote(change, { ...roots(), id: 'cs-ok' });
    assert.ok(p2.files.every((f) => !f.written));
    assert.equal(readFileSync(path.join(backupDirOf(stateDir, 'cs-ok'), 'manifest.json'), 'utf8'), manifest);

    const r = await rollback({ ...roots(), id: 'cs-ok' });
    assert.equal(r.ok, true);
    assert.ok(r.files.every((f) => f.ok && f.restoredSha256 === f.expectedSha256));
    const after = hashTree(project);
    // The live rebuild ran once more after the rollback (its log is the live command's output, not a restored file).
    delete after['dist/build.log'];
    assert.deepEqual(after, before.project);
    assert.deepEqual(hashTree(path.join(stateDir, 'config')), before.config);
    // Rolling back twice restores the same bytes.
    assert.equal((await rollback({ ...roots(), id: 'cs-ok' })).ok, true);
  });

  it('promote refuses a live file changed since staging, and writes nothing', async () => {
    const change = cs([{ root: 'project', path: 'src/a.ts', content: text('export const a = 4;\n'), source: 't' }]);
    await stageChangeSet(change, { ...roots(), id: 'cs-raced' });
    writeFileSync(path.join(project, 'src', 'a.ts'), 'export const a = 5;\n');
    await assert.rejects(promote(change, { ...roots(), id: 'cs-raced' }), /changed since it was staged/);
    assert.equal(readFileSync(path.join(project, 'src', 'a.ts'), 'utf8'), 'export const a = 5;\n');
  });

  it('stages when the state directory lies inside the project (the scratch copy leaves it out)', async () => {
    const inner = path.join(project, '.state');
    mkdirSync(path.join(inner, 'x'), { recursive: true });
    writeFileSync(path.join(inner, 'x', 'big'), 'state\n');
    const staged = await stageChangeSet(cs([{ root: 'project', path: 'src/a.ts', content: text('export const a = 6;\n'), source: 't' }]), { projectRoot: project, stateDir: inner, id: 'cs-inner' });
    assert.equal(readFileSync(path.join(staged.scratchRoot, 'src', 'a.ts'), 'utf8'), 'export const a = 6;\n');
    assert.equal(existsSync(path.join(staged.scratchRoot, '.state')), false);
    assert.equal(existsSync(path.join(staged.scratchRoot, 'dist', 'a.js')), true);
  });

  it('rollback refuses, writing nothing, when a promoted file was changed since', async () => {
    const change = cs([
      { root: 'project', path: 'src/a.ts', content: text('export const a = 7;\n'), source: 't' },
      { root: 'project', path: 'src/b.ts', content: text('export const b = 7;\n'), source: 't' },
    ]);
    await stageChangeSet(change, { ...roots(), id: 'cs-edited' });
    await promote(change, { ...roots(), id: 'cs-edited' });
    writeFileSync(path.join(project, 'src', 'b.ts'), 'edited by hand\n');
    const before = hashTree(project);
    await assert.rejects(rollback({ ...roots(), id: 'cs-edited' }), /src\/b\.ts: changed since the promotion/);
    assert.deepEqual(hashTree(project), before);
  });
});
