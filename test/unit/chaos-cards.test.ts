/**
 * Failure cards: the shipped ones validate, and each kind of problem — YAML syntax, an unknown
 * fault, a bad fault parameter, an id that is not the file's name, a blast radius that escapes its
 * root or that the injection reaches outside of — is reported at its line and column.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cardJsonSchema } from '../../src/chaos/cards/format';
import { CardError, findCard, loadCards, loadCardSources, type CardProblem } from '../../src/chaos/cards/loader';
import { covers, parseRadiusFile } from '../../src/chaos/cards/blast-radius';
import { UserError } from '../../src/errors';
import { REPO_ROOT } from '../../src/stack/tools';

const SHIPPED = [
  'acl_violation',
  'config_drift',
  'cpu_stress',
  'disk_full',
  'heartbeat_stop',
  'import_error',
  'kernel_crash',
  'log_entry_corruption',
  'memory_stress',
  'model_corruption',
  'queue_flood',
  'syntax_error',
];

/** A valid card; line numbers in the tests below refer to it. */
const CARD = `id: crash
title: A kernel crash
risk: medium
target:
  kernel: coding_agent
injection:
  fault: killProcess
  params:
    process: coding-agent-1
steadyState:
  - probe: all_kernels_ready
recovered:
  - probe: kernel_ready
    kernel: coding_agent
expect:
  evidence: [exited]
  remedy: coding_agent_bootstrap
blastRadius:
  files:
    - state:logs
  processes:
    - coding-agent-1
`;

function problemsOf(text: string, file = 'crash.yaml'): CardProblem[] {
  return loadCardSources([{ file, text }]).problems;
}

/** The one problem of a card, as [line, col, path]; its message must match `message`. */
function onlyProblem(text: string, message: RegExp, file?: string): [number | undefined, number | undefined, string] {
  const problems = problemsOf(text, file);
  assert.equal(problems.length, 1, problems.map((p) => `${p.line}:${p.col} ${p.message}`).join('\n'));
  assert.match(problems[0].message, message);
  return [problems[0].line, problems[0].col, problems[0].path];
}

function edit(from: string, to: string): string {
  assert.ok(CARD.includes(from), `the card holds ${JSON.stringify(from)}`);
  return CARD.replace(from, to);
}

describe('failure cards', () => {
  it('ships exactly the 12 cards of the seed, every one valid', () => {
    const { cards, problems } = loadCards();
    assert.deepEqual(problems, []);
    assert.deepEqual(cards.map((c) => c.id).sort(), SHIPPED);
    for (const c of cards) assert.equal(path.basename(c.file), `${c.id}.yaml`);
  });

  it('publishes a JSON Schema that matches the definition', () => {
    const published = JSON.parse(readFileSync(path.join(REPO_ROOT, 'schema', 'chaos-card.schema.json'), 'utf8'));
    assert.deepEqual(published, cardJsonSchema(), 'run `npm run schema` to regenerate schema/');
  });

  it('accepts the base card, with the defaults filled in', () => {
    const { cards, problems } = loadCardSources([{ file: 'crash.yaml', text: CARD }]);
    assert.deepEqual(problems, []);
    assert.deepEqual(cards[0].timeouts, { detected: '30s', incident: '60s', recovered: '90s', steady_state: '60s' });
    assert.equal(cards[0].file, 'crash.yaml');
  });

  it('reports malformed YAML at its line and column', () => {
    const problems = problemsOf(edit('risk: medium', 'risk: medium: high'));
    assert.deepEqual(problems.map((p) => [p.line, p.col, p.message]), [[3, 7, 'Nested mappings are not allowed in compact mappings']]);
  });

  it('refuses an unknown fault, listing the known ones, at the fault', () => {
    assert.deepEqual(onlyProblem(edit('fault: killProcess', 'fault: killProces'), /unknown fault "killProces"; known: killProcess, /), [7, 10, 'injection.fault']);
  });

  it("checks the injection's params against its fault: unknown, ill-typed, missing", () => {
    const unknown = edit('    process: coding-agent-1\nsteady', '    process: coding-agent-1\n    signl: SIGTERM\nsteady');
    assert.deepEqual(onlyProblem(unknown, /unknown parameter "signl" for fault killProcess \(did you mean "signal"\?\); it takes: process, signal/), [10, 5, 'injection.params.signl']);
    const badSignal = edit('    process: coding-agent-1\nsteady', '    process: coding-agent-1\n    signal: SIGNOPE\nsteady');
    assert.deepEqual(onlyProblem(badSignal, /parameter "signal" of killProcess/), [10, 13, 'injection.params.signal']);
    const stall = edit('fault: killProcess', 'fault: stallProcess').replace('    process: coding-agent-1\nsteady', '    process: coding-agent-1\n    ms: soon\nsteady');
    assert.deepEqual(onlyProblem(stall, /parameter "ms" of stallProcess: expected number/), [10, 9, 'injection.params.ms']);
    const missing = edit('fault: killProcess', 'fault: stallProcess');
    assert.deepEqual(onlyProblem(missing, /missing required parameter "ms" for fault stallProcess/), [9, 5, 'injection.params']);
  });

  it('names the key meant for an unknown key, the form meant for a bad target, and the probe meant', () => {
    assert.deepEqual(onlyProblem(edit('risk: medium', 'risk: medium\nowner: me'), /^unknown key "owner"$/), [4, 1, 'owner']);
    assert.deepEqual(onlyProblem(edit('  processes:', '  processs:').replace('    - coding-agent-1\n', ''), /unknown key "processs" \(did you mean "processes"\?\)/), [21, 3, 'blastRadius.processs']);
    const target = problemsOf(edit('  kernel: coding_agent\ninjection', '  process: coding-agent-1\n  kernel: coding_agen\ninjection'));
    assert.deepEqual(target.map((p) => [p.line, p.col, p.path]), [[6, 11, 'target.kernel']]);
    assert.match(target[0].message, /expected one of "message_bus"/);
    assert.deepEqual(onlyProblem(edit('probe: all_kernels_ready', 'probe: all_kernel_ready'), /unknown probe "all_kernel_ready" \(did you mean "all_kernels_ready"\?\)/), [11, 12, 'steadyState[0].probe']);
    assert.deepEqual(onlyProblem(edit('probe: all_kernels_ready', 'probe: process_running\n    process: sshd'), /"sshd" is not a managed process/), [12, 14, 'steadyState[0].process']);
  });

  it("refuses an id that is not the file's name, and an id used twice", () => {
    assert.deepEqual(onlyProblem(CARD, /card id "crash" must equal its file's name: other/, 'cards/other.yaml'), [1, 5, 'id']);
    const { problems } = loadCardSources([
      { file: 'a/crash.yaml', text: CARD },
      { file: 'b/crash.yaml', text: CARD },
    ]);
    assert.deepEqual(
      problems.map((p) => [p.file, p.line, p.col, p.message]),
      [
        ['a/crash.yaml', 1, 5, 'duplicate card id "crash" (also at b/crash.yaml:1)'],
        ['b/crash.yaml', 1, 5, 'duplicate card id "crash" (also at a/crash.yaml:1)'],
      ],
    );
  });

  it('refuses a blast-radius path that escapes its root', () => {
    const text = edit('    - state:logs\n', '    - state:../x\n    - project:/etc/passwd\n    - project:dist/../../b\n    - /etc/shadow\n    - state:logs\n');
    const problems = problemsOf(text);
    assert.deepEqual(
      problems.map((p) => [p.line, p.col, p.path]),
      [
        [20, 7, 'blastRadius.files[0]'],
        [21, 7, 'blastRadius.files[1]'],
        [22, 7, 'blastRadius.files[2]'],
        [23, 7, 'blastRadius.files[3]'],
      ],
    );
    assert.match(problems[0].message, /"state:\.\.\/x" escapes the state directory/);
    assert.match(problems[1].message, /"project:\/etc\/passwd": an absolute path escapes the project/);
    assert.match(problems[2].message, /escapes the project \(it resolves to \.\.\/b\)/);
    assert.match(problems[3].message, /outside the blast radius a card may declare/);
  });

  it('refuses a process that is not a managed one', () => {
    assert.deepEqual(onlyProblem(edit('    - coding-agent-1\n', '    - coding-agent-1\n    - sshd\n'), /"sshd" is not a managed process/), [23, 7, 'blastRadius.processes[1]']);
  });

  it('refuses an injection that reaches outside the declared radius, at the injection', () => {
    const otherProcess = edit('  processes:\n    - coding-agent-1', '  processes:\n    - healing-1');
    assert.deepEqual(onlyProblem(otherProcess, /killProcess touches process coding-agent-1, outside the blast radius/), [9, 14, 'injection.params.process']);
    // A fault whose default touches a folder not declared: at the fault.
    const log = edit('fault: killProcess\n  params:\n    process: coding-agent-1', 'fault: corruptSealedLogEntry');
    assert.deepEqual(onlyProblem(log, /corruptSealedLogEntry touches state:log, outside the blast radius/), [7, 10, 'injection.fault']);
    // A code fault kills a worker's warm spare too.
    const pkg = edit('fault: killProcess\n  params:\n    process: coding-agent-1', 'fault: missingPackage').replace('    - state:logs', '    - project:node_modules');
    assert.deepEqual(onlyProblem(pkg, /missingPackage touches process coding-agent-1\.standby, outside the blast radius/), [7, 10, 'injection.fault']);
  });

  it('covers a path by a declared folder above it, never by a sibling with the same prefix', () => {
    const at = (e: string) => parseRadiusFile(e) as { root: 'state'; rel: string };
    assert.ok(covers(at('state:log'), at('state:log/segments/000001.seg')));
    assert.ok(!covers(at('state:log'), at('state:logs')));
    assert.ok(!covers(at('state:log'), at('project:log')));
    assert.deepEqual(parseRadiusFile('config:'), { root: 'config', rel: '' });
    assert.match((parseRadiusFile('state:.') as { problem: string }).problem, /names all of the state directory/);
  });

  it('checks the expected evidence kinds and remedy against what exists', () => {
    const text = edit('evidence: [exited]', 'evidence: [exited, start_failed]').replace('remedy: coding_agent_bootstrap', 'remedy: coding_agent_bootstrp');
    const problems = problemsOf(text);
    assert.deepEqual(problems.map((p) => [p.line, p.col, p.path]), [
      [16, 22, 'expect.evidence[1]'],
      [17, 11, 'expect.remedy'],
    ]);
    assert.match(problems[0].message, /unknown evidence kind "start_failed"/);
    assert.match(problems[1].message, /no playbook named "coding_agent_bootstrp" \(did you mean "coding_agent_bootstrap"\?\)/);
    assert.deepEqual(onlyProblem(edit('remedy: coding_agent_bootstrap', 'remedy: fix:nope'), /unknown fixer "nope"/), [17, 11, 'expect.remedy']);
  });

  it('findCard: an unknown id is a usage error with a suggestion; an invalid card a CardError with every problem', () => {
    assert.equal(findCard('kernel_crash').injection.fault, 'killProcess');
    assert.throws(
      () => findCard('kernel_crsh'),
      (err: unknown) => err instanceof UserError && err.exitCode === 2 && /did you mean "kernel_crash"/.test(err.message),
    );
    const dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-cards-'));
    try {
      writeFileSync(path.join(dir, 'crash.yaml'), edit('fault: killProcess', 'fault: nope').replace('risk: medium', 'risk: extreme'));
      assert.throws(
        () => findCard('crash', dir),
        (err: unknown) => err instanceof CardError && err.exitCode === 3 && err.problems.length === 2,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`layer1 chaos validate --json` on a bad card exits 3 with its problems', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-cards-'));
    try {
      const file = path.join(dir, 'crash.yaml');
      writeFileSync(file, edit('    - state:logs', '    - state:../x'));
      const run = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'layer1.js'), 'chaos', 'validate', '--json', file], { encoding: 'utf8' });
      assert.equal(run.status, 3, run.stderr);
      const out = JSON.parse(run.stdout) as { ok: boolean; cards: string[]; problems: CardProblem[] };
      assert.equal(out.ok, false);
      assert.deepEqual(out.cards, []);
      assert.deepEqual(out.problems.map((p) => [p.line, p.col, p.path, p.card]), [[20, 7, 'blastRadius.files[0]', 'crash']]);
      const ok = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'layer1.js'), 'chaos', 'validate', '--json'], { encoding: 'utf8' });
      assert.equal(ok.status, 0, ok.stderr);
      assert.deepEqual((JSON.parse(ok.stdout) as { cards: string[] }).cards.sort(), SHIPPED);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
