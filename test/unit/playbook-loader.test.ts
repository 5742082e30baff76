import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ACTION_NAMES } from '../../src/playbooks/actions';
import { describeActions, playbookJsonSchema, type Playbook } from '../../src/playbooks/format';
import {
  loadPlaybookFiles,
  loadPlaybooks,
  loadPlaybookSources,
  resolveRunParams,
  RunParamsError,
  type PlaybookProblem,
} from '../../src/playbooks/loader';
import { REPO_ROOT } from '../../src/stack/tools';
import { runCli } from '../support/cli';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'playbooks');
const fixture = (name: string): string => path.join(FIXTURES, name);

/** A one-playbook file around `steps` (YAML lines indented for a step list), with parameters. */
function playbookText(steps: string[], extra: string[] = []): string {
  return [
    'playbooks:',
    '  - name: sample',
    '    trigger: { kernel: message_bus, events: [exited] }',
    '    parameters:',
    '      stream: { type: string, default: EVENTS }',
    '      max: { type: integer, default: 10 }',
    ...extra,
    '    steps:',
    ...steps,
  ].join('\n');
}
const STEPS_LINE = 8; // the line of the first step in playbookText without extra lines

function problemsOf(text: string): PlaybookProblem[] {
  const result = loadPlaybookSources([{ file: 'x.yaml', text }]);
  assert.equal(result.playbooks.length, 0, 'an invalid playbook is never returned');
  assert.ok(result.problems.length > 0);
  return result.problems;
}

function one(text: string): PlaybookProblem {
  const problems = problemsOf(text);
  assert.equal(problems.length, 1, JSON.stringify(problems, null, 1));
  return problems[0];
}

function at(p: PlaybookProblem): string {
  return `${p.line}:${p.col} ${p.path}`;
}

describe('playbook loader', () => {
  it('loads the valid fixture into normalized playbooks', () => {
    const { playbooks, problems } = loadPlaybookFiles([fixture('valid.yaml')]);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      playbooks.map((p) => p.name),
      ['message_bus_restart_drain', 'log_chain_check'],
    );
    const [pb] = playbooks;
    assert.equal(pb.file, fixture('valid.yaml'));
    assert.equal(pb.concurrency, 'refuse');
    assert.deepEqual(pb.trigger, { kernel: 'message_bus', events: ['exited', 'liveness_failed', 'not_ready'], signatures: ['message_bus_*'] });
    assert.deepEqual(pb.parameters.consumer, { type: 'string', default: null, required: true, description: 'The durable consumer to drain' });
    assert.deepEqual(pb.parameters.paths, { type: 'string[]', default: ['bus/nats.conf'], required: false, description: '' });
    const byId = new Map(pb.steps.map((s) => [s.id, s]));
    assert.deepEqual(byId.get('snapshot'), {
      id: 'snapshot',
      action: 'take_snapshot',
      with: { paths: '${{ params.paths }}', label: 'bus' },
      output: 'snap',
      when: null,
      timeoutMs: 30_000,
      retry: { attempts: 3, backoffMs: 1000, nonRetryable: [] },
      onFailure: 'abort',
      compensate: null,
      approval: null,
    });
    const restart = byId.get('restart')!;
    assert.deepEqual(restart.retry, { attempts: 5, backoffMs: 2000, nonRetryable: ['KernelUnknown'] });
    assert.equal(restart.onFailure, 'compensate');
    assert.equal(restart.timeoutMs, 120_000, 'the per-action default');
    assert.deepEqual(restart.compensate, { action: 'restore_from_snapshot', with: { path: 'bus/nats.conf', snapshot: '${{ steps.snap.snapshot }}' } });
    assert.deepEqual(byId.get('purge')!.approval, {
      timeoutMs: 600_000,
      default: 'reject',
      prompt: 'Purge ${{ steps.drained.remaining }} messages from ${{ params.stream }}?',
    });
    assert.equal(byId.get('drain')!.when, '${{ params.max > 0 && steps.readiness.ready }}');
    assert.equal(byId.get('audit')!.timeoutMs, 60_000);
    const roundTrip = JSON.parse(JSON.stringify(playbooks)) as Playbook[];
    assert.deepEqual(roundTrip, playbooks, 'JSON-serialisable: it is workflow input');
  });

  it('fills defaults for a minimal step', () => {
    const { playbooks } = loadPlaybookSources([{ file: 'm.yaml', text: playbookText(['      - { id: a, action: rebuild_log_index }']) }]);
    assert.equal(playbooks.length, 1);
    const [step] = playbooks[0].steps;
    assert.deepEqual(step.with, {});
    assert.equal(step.onFailure, 'abort');
    assert.equal(step.output, null);
    assert.equal(playbooks[0].concurrency, 'wait');
    assert.equal(playbooks[0].description, '');
  });

  it('reports bad YAML with its position', () => {
    const problems = loadPlaybookFiles([fixture('bad-yaml.yaml')]).problems;
    assert.ok(problems.length >= 1);
    assert.equal(problems[0].line, 4);
    assert.equal(problems[0].playbook, null);
  });

  it('reports a file that is not a list of playbooks, and a missing file', () => {
    assert.match(one('steps: []').message, /expected "playbooks:", a list of playbooks/);
    assert.match(one('').message, /expected "playbooks:"/);
    const problems = loadPlaybookFiles(['/nonexistent/x.yaml']).problems;
    assert.deepEqual([problems[0].file, problems[0].message], ['/nonexistent/x.yaml', 'file not found']);
  });

  it('reports an unknown key at the key, with a suggestion', () => {
    const p = one(playbookText(['      - id: a', '        action: rebuild_log_index', '        timout: 5s']));
    assert.equal(at(p), `${STEPS_LINE + 2}:9 playbooks[0].steps[0].timout`);
    assert.equal(p.message, 'unknown key "timout" (did you mean "timeout"?)');
  });

  it('reports an unknown action', () => {
    const p = one(playbookText(['      - id: a', '        action: restart_kernal', '        with: { kernel: message_bus }']));
    assert.equal(at(p), `${STEPS_LINE + 1}:17 playbooks[0].steps[0].action`);
    assert.equal(p.message, 'unknown action "restart_kernal" (did you mean "restart_kernel"?)');
  });

  it('reports a with parameter unknown to the action, at its key', () => {
    const p = one(playbookText(['      - id: a', '        action: drain_queue', '        with: { stream: s, consumer: c, maxMesages: 3 }']));
    assert.equal(at(p), `${STEPS_LINE + 2}:41 playbooks[0].steps[0].with.maxMesages`);
    assert.match(p.message, /^unknown parameter "maxMesages" for action drain_queue \(did you mean "maxMessages"\?\); it takes: stream, consumer, maxMessages, archive, discard, allowReader$/);
  });

  it('reports a missing required parameter, with or without a with', () => {
    let p = one(playbookText(['      - id: a', '        action: drain_queue', '        with: { stream: s }']));
    assert.equal(at(p), `${STEPS_LINE + 2}:15 playbooks[0].steps[0].with.consumer`);
    assert.equal(p.message, 'missing required parameter "consumer" for action drain_queue');
    p = one(playbookText(['      - id: a', '        action: set_kernel_state', '        with: { kernel: message_bus }']));
    assert.match(p.message, /"state"/);
    const both = problemsOf(playbookText(['      - id: a', '        action: set_kernel_state']));
    assert.deepEqual(
      both.map(at),
      [`${STEPS_LINE + 1}:17 playbooks[0].steps[0].with.kernel`, `${STEPS_LINE + 1}:17 playbooks[0].steps[0].with.state`],
      'pointed at the action when there is no with',
    );
  });

  it('checks literal values against the action parameter schema', () => {
    const problems = problemsOf(
      playbookText([
        '      - id: a',
        '        action: drain_queue',
        '        with: { stream: s, consumer: c, maxMessages: "many" }',
        '      - id: b',
        '        action: take_snapshot',
        '        with: { paths: [ok, ""], label: "Not Valid" }',
        '      - id: c',
        '        action: set_kernel_state',
        '        with: { kernel: message_bus, state: paused }',
      ]),
    );
    assert.deepEqual(problems.map(at), [
      `${STEPS_LINE + 2}:54 playbooks[0].steps[0].with.maxMessages`,
      `${STEPS_LINE + 5}:29 playbooks[0].steps[1].with.paths[1]`,
      `${STEPS_LINE + 5}:41 playbooks[0].steps[1].with.label`,
      `${STEPS_LINE + 8}:45 playbooks[0].steps[2].with.state`,
    ]);
    assert.equal(problems[0].message, 'parameter "maxMessages" of drain_queue: expected number, received string');
    assert.match(problems[3].message, /expected one of "running"\|"stopped"/);
  });

  it('checks the type of a whole-value template against the action parameter', () => {
    const problems = problemsOf(
      playbookText([
        '      - id: a',
        '        action: drain_queue',
        "        with: { stream: '${{ params.max }}', consumer: 'c-${{ params.max }}', maxMessages: 'n=${{ params.max }}' }",
        '        output: d',
        '      - id: b',
        '        action: verify_log_chain',
        "        with: { full: '${{ steps.d.archiveFile }}' }",
      ]),
    );
    assert.deepEqual(
      problems.map((p) => [at(p), p.message]),
      [
        [`${STEPS_LINE + 2}:25 playbooks[0].steps[0].with.stream`, 'parameter "stream" of drain_queue expects a string, but "${{ params.max }}" is a number'],
        [
          `${STEPS_LINE + 2}:92 playbooks[0].steps[0].with.maxMessages`,
          'parameter "maxMessages" of drain_queue expects a number, but "n=${{ params.max }}" is a string',
        ],
        [
          `${STEPS_LINE + 6}:23 playbooks[0].steps[1].with.full`,
          'parameter "full" of verify_log_chain expects a boolean, but "${{ steps.d.archiveFile }}" is a string',
        ],
      ],
    );
  });

  it('reports a duplicate step id', () => {
    const p = one(playbookText(['      - { id: a, action: rebuild_log_index }', '      - { id: a, action: validate_bus_acl }']));
    assert.equal(at(p), `${STEPS_LINE + 1}:15 playbooks[0].steps[1].id`);
    assert.equal(p.message, `duplicate step id "a" (first used at line ${STEPS_LINE})`);
  });

  it('reports a duplicate playbook name across files, at each', () => {
    const { playbooks, problems } = loadPlaybookFiles([fixture('valid.yaml'), fixture('duplicate-name.yaml')]);
    assert.deepEqual(
      playbooks.map((p) => p.name),
      ['message_bus_restart_drain'],
    );
    assert.deepEqual(
      problems.map((p) => [path.basename(p.file), p.line, p.col, p.path]),
      [
        ['duplicate-name.yaml', 2, 11, 'playbooks[0].name'],
        ['valid.yaml', 51, 11, 'playbooks[1].name'],
      ],
    );
    assert.match(problems[0].message, /duplicate playbook name "log_chain_check" \(also at .*valid\.yaml:51\)/);
  });

  it('reports an output used before a step produces it, or never produced', () => {
    const problems = problemsOf(
      playbookText([
        '      - id: a',
        '        action: restore_from_snapshot',
        "        with: { path: p, snapshot: '${{ steps.snap.snapshot }}' }",
        '      - id: b',
        '        action: take_snapshot',
        '        with: { paths: [p] }',
        '        output: snap',
        "        when: '${{ steps.nothing.ok }}'",
      ]),
    );
    assert.deepEqual(
      problems.map((p) => [at(p), p.message]),
      [
        [
          `${STEPS_LINE + 2}:41 playbooks[0].steps[0].with.snapshot`,
          'output "snap" is used before a step produces it (steps.snap.snapshot; step "b" produces it later)',
        ],
        [`${STEPS_LINE + 7}:20 playbooks[0].steps[1].when`, 'no step produces output "nothing" (steps.nothing.ok)'],
      ],
    );
  });

  it('checks fields of an output against the action output schema', () => {
    const p = one(
      playbookText([
        '      - { id: a, action: take_snapshot, with: { paths: [p] }, output: snap }',
        "      - { id: b, action: restore_from_snapshot, with: { path: p, snapshot: '${{ steps.snap.snapshoot }}' } }",
      ]),
    );
    assert.equal(p.message, 'steps.snap (output of take_snapshot) has no field "snapshoot" (did you mean "snapshot"?); fields: snapshot, files, bytes');
  });

  it('reports an unknown params reference and an unknown run field', () => {
    const problems = problemsOf(
      playbookText(["      - { id: a, action: append_audit, with: { kind: '${{ params.streem }}', data: { r: '${{ run.user }}' } } }"]),
    );
    assert.deepEqual(problems.map((p) => p.message), [
      'unknown parameter params.streem (did you mean "stream"?); declared: stream, max',
      'unknown reference run.user: run has run.id, run.playbook, run.kernel',
    ]);
    assert.equal(problems[1].path, 'playbooks[0].steps[0].with.data.r');
  });

  it('checks a compensation: its action and its with, which may read the step output', () => {
    const problems = problemsOf(
      playbookText([
        '      - id: a',
        '        action: take_snapshot',
        '        with: { paths: [p] }',
        '        output: snap',
        "        compensate: { action: restore_from_snapshot, with: { snapshot: '${{ steps.snap.snapshot }}' } }",
        '      - id: b',
        '        action: rebuild_log_index',
        '        compensate: { action: undo_everything }',
      ]),
    );
    assert.deepEqual(
      problems.map((p) => [p.path, p.message]),
      [
        ['playbooks[0].steps[0].compensate.with.path', 'missing required parameter "path" for action restore_from_snapshot'],
        ['playbooks[0].steps[1].compensate.action', 'unknown action "undo_everything"'],
      ],
    );
  });

  it('reports a malformed when at the offending character', () => {
    const p = one(playbookText(['      - id: a', '        action: rebuild_log_index', "        when: '${{ params.max => 1 }}'"]));
    assert.equal(at(p), `${STEPS_LINE + 2}:31 playbooks[0].steps[0].when`);
    assert.match(p.message, /^malformed condition: /);
  });

  it('reports shape problems: durations, enums, parameter defaults, missing keys', () => {
    const problems = problemsOf(
      playbookText(
        [
          '      - id: Bad-Id',
          '        action: rebuild_log_index',
          '        timeout: 10 seconds',
          '        on_failure: retry',
          '        approval: { default: maybe }',
          '      - action: rebuild_log_index',
        ],
        ['      flag: { type: boolean, default: yes please }', '    concurrency: parallel'],
      ),
    );
    const byPath = new Map(problems.map((p) => [p.path, p.message]));
    assert.match(byPath.get('playbooks[0].parameters.flag.default')!, /is not of type boolean/);
    assert.match(byPath.get('playbooks[0].concurrency')!, /"wait"\|"refuse"/);
    assert.match(byPath.get('playbooks[0].steps[0].id')!, /step id must be lower case/);
    assert.match(byPath.get('playbooks[0].steps[0].timeout')!, /expected a duration/);
    assert.match(byPath.get('playbooks[0].steps[0].on_failure')!, /"continue"\|"abort"\|"compensate"/);
    assert.match(byPath.get('playbooks[0].steps[0].approval.default')!, /"approve"\|"reject"/);
    assert.equal(byPath.get('playbooks[0].steps[1].id'), 'missing required key "id"');
    assert.equal(problems.length, 7, JSON.stringify(problems, null, 1));
  });

  it('reports every problem of the invalid fixture at once, in file order', () => {
    const { playbooks, problems } = loadPlaybookFiles([fixture('invalid.yaml')]);
    assert.deepEqual(playbooks, []);
    assert.deepEqual(
      problems.map((p) => `${p.line}:${p.col} ${p.path} ${p.message.split(' (')[0]}`),
      [
        '10:17 playbooks[0].steps[0].action unknown action "restart_kernal"',
        '14:30 playbooks[0].steps[1].with.stream unknown parameter params.streem',
        '14:62 playbooks[0].steps[1].with.maxMessages parameter "maxMessages" of drain_queue: expected number, received string',
        '14:81 playbooks[0].steps[1].with.archiv unknown parameter "archiv" for action drain_queue',
        '15:13 playbooks[0].steps[2].id duplicate step id "drain"',
        '17:15 playbooks[0].steps[2].with.path missing required parameter "path" for action restore_from_snapshot',
        '17:32 playbooks[0].steps[2].with.snapshot output "snap" is used before a step produces it',
        '22:34 playbooks[0].steps[3].when malformed condition: unexpected character "="',
        '23:9 playbooks[0].steps[3].colour unknown key "colour"',
      ],
    );
    assert.ok(problems.every((p) => p.playbook === 'broken_recovery'));
  });

  it('keeps valid playbooks of a file when another one in it is invalid', () => {
    const text = playbookText(['      - { id: a, action: rebuild_log_index }']).concat(
      '\n  - name: other\n    trigger: { kernel: message_bus, events: [exited] }\n    steps: []\n',
    );
    const { playbooks, problems } = loadPlaybookSources([{ file: 'x.yaml', text }]);
    assert.deepEqual(playbooks.map((p) => p.name), ['sample']);
    assert.deepEqual(problems.map((p) => [p.playbook, p.message]), [['other', 'a playbook needs at least one step']]);
  });

  it('loads the repository playbooks/ directory without problems', () => {
    assert.deepEqual(loadPlaybooks().problems, []);
  });
});

describe('resolveRunParams', () => {
  const [pb] = loadPlaybookFiles([fixture('valid.yaml')]).playbooks;

  it('types --param strings and fills defaults', () => {
    assert.deepEqual(resolveRunParams(pb, { consumer: 'c1', max: '5', purge: 'true', paths: 'a, b' }), {
      consumer: 'c1',
      max: 5,
      purge: true,
      paths: ['a', 'b'],
      stream: 'LAYER1_EVENTS',
    });
    assert.deepEqual(resolveRunParams(pb, { consumer: 'c', paths: '["x,y"]' }).paths, ['x,y']);
    assert.equal(resolveRunParams(pb, { consumer: 'c', max: 7 }).max, 7, 'typed values are kept');
  });

  it('reports every unknown, missing and ill-typed parameter at once', () => {
    try {
      resolveRunParams(pb, { max: '1.5', purge: 'yes', strem: 'x' });
      assert.fail('expected a RunParamsError');
    } catch (err) {
      assert.ok(err instanceof RunParamsError);
      assert.equal(err.exitCode, 2);
      assert.deepEqual(err.problems, [
        'parameter "max" must be an integer, got "1.5"',
        'parameter "purge" must be a boolean, got "yes"',
        'unknown parameter "strem" (did you mean "stream"?); it takes: stream, consumer, max, purge, paths',
        'missing required parameter "consumer" (string: The durable consumer to drain)',
      ]);
    }
  });
});

describe('playbook schema and CLI', () => {
  it('publishes a JSON Schema that matches the definition', () => {
    const published = JSON.parse(readFileSync(path.join(REPO_ROOT, 'schema', 'playbook.schema.json'), 'utf8'));
    assert.deepEqual(published, playbookJsonSchema(), 'run `npm run schema` to regenerate schema/');
  });

  it('describes every action of the catalogue with its parameters', () => {
    const actions = describeActions();
    assert.deepEqual(actions.map((a) => a.name), ACTION_NAMES);
    const drain = actions.find((a) => a.name === 'drain_queue')!;
    assert.deepEqual(drain.params.find((p) => p.name === 'maxMessages'), {
      name: 'maxMessages',
      type: 'integer ≥ 1 ≤ 1000000',
      default: 10000,
      required: false,
      description: '',
    });
    assert.equal(drain.params.find((p) => p.name === 'stream')!.required, true);
  });

  it('layer1 playbook validate prints FILE:LINE:COL per problem and exits 1', async () => {
    const bad = await runCli(['playbook', 'validate', 'test/fixtures/playbooks/invalid.yaml']);
    assert.equal(bad.code, 1, bad.stderr);
    const lines = bad.stdout.trim().split('\n');
    assert.equal(lines.length, 9);
    assert.match(lines[0], /^test\/fixtures\/playbooks\/invalid\.yaml:10:17: unknown action "restart_kernal" .*→ at playbooks\[0\]\.steps\[0\]\.action$/);
    const good = await runCli(['playbook', 'validate', 'test/fixtures/playbooks/valid.yaml']);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /2 playbooks in 1 file: valid/);
  });

  it('layer1 playbook list --json and layer1 actions --json', async () => {
    const list = await runCli(['playbook', 'list', '--json', '--dir', 'test/fixtures/playbooks']);
    assert.equal(list.code, 1, 'the directory has invalid files');
    const rows = JSON.parse(list.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(rows.map((r) => [r.name, r.file, r.steps]), [['message_bus_restart_drain', 'test/fixtures/playbooks/valid.yaml', 6]]);
    for (const key of ['name', 'file', 'description', 'trigger', 'steps']) assert.ok(key in rows[0], key);
    const actions = await runCli(['actions', '--json']);
    assert.equal(actions.code, 0);
    assert.deepEqual((JSON.parse(actions.stdout) as Array<{ name: string }>).map((a) => a.name), ACTION_NAMES);
  });
});
