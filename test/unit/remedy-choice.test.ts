/**
 * The coding agent's choice of a remedy (src/coding-agent/remedy.ts): a code fault goes to the
 * fixers before any playbook (a restart would fail the same way), other evidence to the playbook
 * that matches it, and fixers that handle anything (the LLM fixer) are asked last. Fixers are
 * stand-ins here (what they propose is tested in fixers.test.ts); the playbooks are the shipped ones.
 */
import assert from 'node:assert/strict';
import { boundedDiffs } from '../../activities/change-sets';
import type { ChangeSetFileRecord } from '../../contracts/change-set';
import type { ChangeSet, Fixer } from '../../src/coding-agent/change-set';
import { codeFaultOf } from '../../src/coding-agent/code-faults';
import { readProposal, writeProposal } from '../../src/coding-agent/proposals';
import { chooseRemedy, proposeKnownFix } from '../../src/coding-agent/remedy';
import { irrelevance } from '../../src/verification/relevance';
import { makeEvidence, type Evidence } from '../../src/healing/evidence';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const exited = (kernel: 'immutable_log' | 'coding_agent', text: string): Evidence =>
  makeEvidence({ kind: 'exited', kernel, process: kernel === 'immutable_log' ? 'immutable-log' : 'coding-agent-1', pid: 7, detail: 'pid 7 is gone', text, at: Date.now(), observer: 'test', key: text });

function fixer(name: string, handles: (e: Evidence) => boolean, proposes: boolean, calls: string[]): Fixer {
  return {
    name,
    description: name,
    handles,
    propose: async (input) => {
      calls.push(name);
      if (!proposes) return null;
      const cs: ChangeSet = { fixer: name, params: { file: 'x' }, summary: `${name} fixes it`, files: [], commands: [], restartKernel: input.evidence.kernel };
      return cs;
    },
  };
}

describe('the coding agent chooses a remedy', () => {
  const syntax = "immutable-log of immutable_log exited without being stopped; its log ends:\n/w/dist/kernels/immutable-log/server.js:2\nSyntaxError: Unexpected token ';'";
  const deps = (fixers: Fixer[]) => ({ fixers, projectRoot: '/nonexistent', stateDir: '/nonexistent' });

  it('recognises code faults by their text only', () => {
    assert.deepEqual(codeFaultOf(exited('immutable_log', syntax)), ['syntax_error']);
    assert.deepEqual(codeFaultOf(exited('coding_agent', "Error: Cannot find module 'diff'\nRequire stack:\n- /w/dist/src/coding-agent/diff.js")), ['import_error']);
    assert.deepEqual(codeFaultOf(exited('coding_agent', 'ConfigError: invalid configuration in /w/temporal.config.yaml:')), ['config_restore']);
    assert.deepEqual(codeFaultOf(exited('coding_agent', 'coding-agent-1 of coding_agent exited without being stopped')), []);
  });

  it('a code fault: its fixer before any playbook, even where a playbook matches the death', async () => {
    const calls: string[] = [];
    const fixers = [fixer('syntax_error', (e) => /SyntaxError/.test(e.text), true, calls), fixer('llm', () => true, true, calls)];
    const c = await chooseRemedy({ incidentId: 'inc-1', evidence: exited('coding_agent', syntax.replace(/immutable/g, 'coding')), diagnostics: null }, deps(fixers));
    assert.equal(c.kind, 'change_set');
    assert.equal(c.kind === 'change_set' && c.name, 'syntax_error');
    assert.deepEqual(calls, ['syntax_error'], 'the LLM fixer is not asked when a code-fault fixer proposes');
  });

  it('a code fault whose fixer finds nothing: the matching playbook, saying so', async () => {
    const calls: string[] = [];
    const c = await chooseRemedy({ incidentId: 'inc-1', evidence: exited('coding_agent', syntax), diagnostics: null }, deps([fixer('syntax_error', () => true, false, calls)]));
    assert.equal(c.kind, 'playbook');
    assert.equal(c.kind === 'playbook' && c.name, 'coding_agent_bootstrap');
    assert.match(c.reason, /syntax_error found nothing it can fix/);
  });

  it('not a code fault: the playbook, the fixers not asked', async () => {
    const calls: string[] = [];
    const c = await chooseRemedy({ incidentId: 'inc-1', evidence: exited('coding_agent', 'coding-agent-1 of coding_agent exited without being stopped'), diagnostics: null }, deps([fixer('llm', () => true, true, calls)]));
    assert.equal(c.kind === 'playbook' && c.name, 'coding_agent_bootstrap');
    assert.deepEqual(calls, []);
  });

  it('no playbook and no code fault: the fixers that handle anything are asked last; none: why', async () => {
    const calls: string[] = [];
    const e = exited('immutable_log', 'immutable-log of immutable_log exited without being stopped');
    const c = await chooseRemedy({ incidentId: 'inc-1', evidence: e, diagnostics: null }, deps([fixer('llm', () => true, true, calls)]));
    assert.equal(c.kind === 'change_set' && c.name, 'llm');
    const none = await chooseRemedy({ incidentId: 'inc-1', evidence: e, diagnostics: null }, deps([fixer('llm', () => true, false, [])]));
    assert.equal(none.kind, null);
    assert.match(none.reason, /no playbook is triggered by exited on immutable_log.*llm found nothing/);
  });

  it('a learned fixer proposes again without diagnostics; an unregistered one is refused with why', async () => {
    const calls: string[] = [];
    const ok = await proposeKnownFix({ fixer: 'syntax_error', evidence: exited('immutable_log', syntax) }, deps([fixer('syntax_error', () => true, true, calls)]));
    assert.equal(ok.kind, 'change_set');
    assert.match(ok.reason, /knowledge base holds the syntax_error fixer/);
    const gone = await proposeKnownFix({ fixer: 'retired', evidence: exited('immutable_log', syntax) }, deps([]));
    assert.equal(gone.kind, null);
    assert.match(gone.reason, /not registered/);
  });
});

describe('change sets too large for a workflow history', () => {
  it("a package's files travel as a proposal under the state dir, and paths out of it are refused", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-proposals-'));
    try {
      const contents = await writeProposal(dir, 'diff@9.0.0', [{ path: 'lib/index.js', bytes: Buffer.from('x') }]);
      assert.deepEqual(contents, [{ encoding: 'proposal', data: 'diff@9.0.0/lib/index.js' }]);
      assert.equal(readProposal(dir, contents[0]!.data, 'k').toString(), 'x');
      assert.throws(() => readProposal(dir, '../../etc/passwd', 'k'), /only name paths inside its root/);
      assert.throws(() => readProposal(dir, 'diff@9.0.0/missing.js', 'k'), /cannot be read \(ENOENT\)/);
      await assert.rejects(writeProposal(dir, '../up', []), /letters, digits/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the diffs returned to a workflow share a budget; hashes stay whole', () => {
    const f = (i: number): ChangeSetFileRecord => ({ root: 'project', path: `f${i}`, source: 's', beforeSha256: null, afterSha256: `h${i}`, diff: 'd'.repeat(100) });
    const out = boundedDiffs([f(1), f(2), f(3)], 150);
    assert.equal(out[0]!.diff.length, 100);
    assert.match(out[1]!.diff, /^d{50}\n… \(50 more characters/);
    assert.match(out[2]!.diff, /^\n… \(100 more characters/);
    assert.deepEqual(out.map((x) => x.afterSha256), ['h1', 'h2', 'h3']);
  });
});

describe('which project checks a change can affect', () => {
  const p = (path: string) => ({ root: 'project' as const, path });
  it('types only for TypeScript, tsconfig, manifests and dependencies; lint only for own scripts; tests always', () => {
    assert.equal(irrelevance('types', [p('src/a.ts')]), null);
    assert.equal(irrelevance('types', [p('node_modules/diff/lib/index.d.ts')]), null);
    assert.equal(irrelevance('types', [p('package-lock.json')]), null);
    assert.match(irrelevance('types', [p('dist/kernels/immutable-log/server.js'), p('test/layer1.test.yaml'), { root: 'state', path: 'models/fixers.json' }])!, /^not run: no TypeScript source/);
    assert.equal(irrelevance('lint', [p('kernels/immutable-log/server.ts')]), null);
    assert.match(irrelevance('lint', [p('dist/kernels/immutable-log/server.js'), p('node_modules/diff/index.js')])!, /^not run: no script eslint lints/);
    assert.equal(irrelevance('tests', [{ root: 'state', path: 'models/fixers.json' }]), null);
  });
});
