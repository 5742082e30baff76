import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { lineTime, LogTail } from '../../src/healing/detectors/bus';
import { dispatchIdOf, globMatch, matchingPlaybooks, paramsFromEvidence } from '../../src/healing/dispatcher';
import { EVIDENCE_KIND_NAMES, evidenceSignature, fromKernelUnwell, makeEvidence, toKernelUnwell, type Evidence } from '../../src/healing/evidence';
import { parseViolation, policyAllows } from '../../kernels/message-bus/violations';
import { loadPolicy } from '../../kernels/message-bus/policy';
import { loadPlaybooks, loadPlaybookSources, resolveRunParams } from '../../src/playbooks/loader';

const evidence = (over: Partial<Parameters<typeof makeEvidence>[0]> = {}): Evidence =>
  makeEvidence({ kind: 'log_corruption', kernel: 'immutable_log', process: 'immutable-log', pid: 42, detail: 'x', text: null, at: 1, observer: 'healing-1', key: 'k', ...over });

describe('dispatcher: matching evidence to playbooks', () => {
  const { playbooks, problems } = loadPlaybooks();

  it('the shipped playbooks load with no problems, each name once', () => {
    assert.deepEqual(problems, []);
    assert.ok(playbooks.length > 0);
    assert.equal(new Set(playbooks.map((p) => p.name)).size, playbooks.length);
  });

  it('every evidence kind a detector reports, on each kernel it concerns, has a playbook or is knowingly unmatched', () => {
    // Kinds that reach no playbook on purpose: recorded only.
    const recordedOnly = new Set(['heartbeat_missed:immutable_log', 'heartbeat_missed:self_healing', 'heartbeat_missed:coding_agent', 'heartbeat_missed:message_bus', 'liveness_failed:immutable_log', 'exited:immutable_log', 'not_ready:message_bus', 'not_ready:immutable_log']);
    for (const kind of EVIDENCE_KIND_NAMES) {
      for (const kernel of ['message_bus', 'immutable_log', 'self_healing', 'coding_agent'] as const) {
        const m = matchingPlaybooks(evidence({ kind, kernel }), playbooks);
        if (m.length === 0) assert.ok(recordedOnly.has(`${kind}:${kernel}`) || !['exited', 'liveness_failed', 'not_ready', 'heartbeat_missed'].includes(kind), `${kind} on ${kernel} matches nothing`);
      }
    }
  });

  it('a corrupt log entry starts the integrity repair', () => {
    assert.equal(matchingPlaybooks(evidence(), playbooks)[0].playbook.name, 'immutable_log_integrity_repair');
  });

  it('an ACL violation starts message_bus_acl_violation_fix with the user and subject from the evidence', () => {
    const e = evidence({ kind: 'acl_violation', kernel: 'message_bus', process: 'bus', data: { user: 'immutable_log', subject: 'system.control', op: 'publish' } });
    const [m] = matchingPlaybooks(e, playbooks);
    assert.equal(m.playbook.name, 'message_bus_acl_violation_fix');
    assert.deepEqual(resolveRunParams(m.playbook, paramsFromEvidence(m.playbook, e)), { user: 'immutable_log', subject: 'system.control' });
  });

  it('a named kernel beats `any`; among equals the first in file order', () => {
    const { playbooks: pbs } = loadPlaybookSources([
      {
        file: 'x.yaml',
        text: [
          'playbooks:',
          '  - name: general',
          '    trigger: { kernel: any, events: [cpu_pressure] }',
          '    steps: [{ id: a, action: verify_log_chain }]',
          '  - name: specific',
          '    trigger: { kernel: coding_agent, events: [cpu_pressure] }',
          '    steps: [{ id: a, action: verify_log_chain }]',
          '  - name: specific_too',
          '    trigger: { kernel: coding_agent, events: [cpu_pressure] }',
          '    steps: [{ id: a, action: verify_log_chain }]',
        ].join('\n'),
      },
    ]);
    const names = (kernel: 'coding_agent' | null) => matchingPlaybooks(evidence({ kind: 'cpu_pressure', kernel }), pbs).map((m) => m.playbook.name);
    assert.deepEqual(names('coding_agent'), ['specific', 'specific_too', 'general']);
    assert.deepEqual(names(null), ['general']);
  });

  it('camelCase measurements fill snake_case parameters; values of the wrong type are left out', () => {
    const pb = playbooks.find((p) => p.name === 'memory_pressure')!;
    const e = evidence({ kind: 'memory_pressure', kernel: null, process: 'runaway-memory', data: { rssMb: 812 } });
    assert.deepEqual(paramsFromEvidence(pb, e), { rss_mb: 812, process: 'runaway-memory' });
    assert.deepEqual(paramsFromEvidence(pb, { ...e, data: { rssMb: 'lots' } }), { process: 'runaway-memory' });
  });

  it('one run per playbook and kernel: the workflow id folds duplicates', () => {
    const pb = playbooks.find((p) => p.name === 'immutable_log_integrity_repair')!;
    assert.equal(dispatchIdOf(pb, evidence({ key: 'a' })), dispatchIdOf(pb, evidence({ key: 'b' })));
  });

  it('globs: * and ? only, everything else literal', () => {
    assert.ok(globMatch('message_bus_*', 'message_bus_AclViolation_1234abcd'));
    assert.ok(globMatch('chaos_?og', 'chaos_log'));
    assert.ok(!globMatch('a.b', 'axb'));
  });
});

describe('evidence', () => {
  it('ids: both replicas seeing one death compute the same id; lifecycle kinds round-trip to the control plane', () => {
    const u = { kernel: 'message_bus' as const, process: 'bus', pid: 7, reason: 'exited' as const, detail: 'gone', at: 5, observer: 'healing-1' };
    const a = fromKernelUnwell(u);
    const b = fromKernelUnwell({ ...u, observer: 'healing-2', at: 6 });
    assert.equal(a.id, b.id);
    assert.deepEqual(toKernelUnwell(a), u);
    assert.equal(toKernelUnwell(evidence()), null, 'non-lifecycle evidence never restarts anything');
  });

  it('signatures read like the knowledge base ids', () => {
    const acl = { kind: 'acl_violation' as const, kernel: 'message_bus' as const, text: 'Publish Violation - User "coding_agent", Subject "system.control"' };
    assert.match(evidenceSignature(acl), /^message_bus_ACLViolation_[0-9a-f]{8}$/);
  });
});

describe('bus ACL violations', () => {
  it('parses the violation lines nats-server writes, and nothing else', () => {
    // Verbatim from nats-server 2.15.1's log.
    const v = parseViolation(
      '[12462] 2026/11/27 04:40:00.473579 [ERR] 127.0.0.1:58654 - cid:37 - "v3.4.0:nats.js:layer1-chaos-immutable_log" - "$G/user:immutable_log" - Publish Violation - Subject "system.control"',
    );
    assert.deepEqual({ ...v, line: undefined }, { op: 'publish', user: 'immutable_log', subject: 'system.control', line: undefined });
    const old = parseViolation('[ERR] 127.0.0.1:50412 - cid:9 - Subscription Violation - User "coding_agent", Subject "layer1.events.x"');
    assert.deepEqual({ ...old, line: undefined }, { op: 'subscribe', user: 'coding_agent', subject: 'layer1.events.x', line: undefined });
    assert.equal(parseViolation('[INF] Server is ready'), null);
  });

  it('tells a refusal the policy wants from one caused by a drifted ACL', () => {
    const policy = loadPolicy();
    assert.equal(policyAllows(policy, { op: 'publish', user: 'immutable_log', subject: 'system.control' }), false);
    assert.equal(policyAllows(policy, { op: 'publish', user: 'control_plane', subject: 'system.control' }), true);
  });
});

describe('the ACL-violation detector reading the bus log', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'layer1-buslog-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const stamp = (ms: number): string => {
    const d = new Date(ms);
    const p = (n: number, w = 2) => String(n).padStart(w, '0');
    return `${d.getFullYear()}/${p(d.getMonth() + 1)}/${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`;
  };
  const line = (ms: number, user: string) => `[1] ${stamp(ms)} [ERR] 127.0.0.1:1 - cid:1 - "x" - "$G/user:${user}" - Publish Violation - Subject "system.control"\n`;

  it('reads nats-server timestamps', () => {
    const ms = Date.parse('2026-11-27T04:40:00.473Z');
    assert.equal(lineTime(line(ms, 'x')), ms);
    assert.equal(lineTime('no time here'), null);
  });

  it('first look: only lines from shortly before it started; then every new line once, with stable offsets', () => {
    const file = path.join(dir, 'bus.log');
    writeFileSync(file, line(Date.now() - 3_600_000, 'old') + line(Date.now() - 1_000, 'recent'));
    const tail = new LogTail(Date.now());
    const first = tail.read(file);
    assert.deepEqual(first.map((l) => parseViolation(l.text)?.user), ['recent']);
    appendFileSync(file, line(Date.now(), 'next') + 'partial line without newline');
    const second = tail.read(file);
    assert.deepEqual(second.map((l) => parseViolation(l.text)?.user), ['next']);
    assert.ok(second[0].offset > first[0].offset);
    assert.deepEqual(tail.read(file), []);
    // Another tail (another trigger monitor's detector) has its own offsets: its first look again.
    assert.deepEqual(new LogTail(Date.now()).read(file).map((l) => parseViolation(l.text)?.user), ['recent', 'next']);
  });
});
