import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { aclViolations, LogTail } from '../../src/healing/detectors/bus';
import { DetectorLoop } from '../../src/healing/detectors/loop';
import type { DetectorContext } from '../../src/healing/detectors/types';
import { defaultEvidenceText, evidenceSignature, fromKernelUnwell, makeEvidence, signEvidence, type Evidence } from '../../src/healing/evidence';
import { crashReport, exitText, lastLogLines } from '../../src/healing/log-tail';
import { parseConfig } from '../../src/config/load';
import { SignatureEngine, maskMessage, signatureId, stableSignature } from '../../src/signatures';
import { parseViolation } from '../../kernels/message-bus/violations';

/** nats-server's violation line (the format parseViolation reads), with its variable parts as arguments. */
const oldStyle = (o: { pid: number; time: string; port: number; cid: number; user: string; subject: string; client?: string }): string =>
  `[${o.pid}] 2026/12/06 ${o.time} [ERR] 127.0.0.1:${o.port} - cid:${o.cid} - "v3.0.1:nats.js:${o.client ?? 'layer1-coding-agent-1'}" - Publish Violation - User "${o.user}", Subject "${o.subject}"`;
/** nats-server 2.10+ writes the user as `"$G/user:NAME"` before the violation. */
const newStyle = (o: { pid: number; time: string; port: number; cid: number; user: string; subject: string }): string =>
  `[${o.pid}] 2026/12/06 ${o.time} [ERR] 127.0.0.1:${o.port} - cid:${o.cid} - "v3.4.0:nats.js:layer1-chaos-${o.user}" - "$G/user:${o.user}" - Publish Violation - Subject "${o.subject}"`;

/** ACL-violation evidence as the detector loop builds it from a bus log line. */
function aclEvidence(line: string, key = 'k'): Evidence {
  const v = parseViolation(line);
  assert.ok(v, `nats-server writes this shape: ${line}`);
  return makeEvidence({
    kind: 'acl_violation',
    kernel: 'message_bus',
    process: 'bus',
    pid: null,
    detail: `ACL violation: ${v.user} -> ${v.subject} (${v.op} refused by the bus)`,
    text: v.line,
    at: Date.now(),
    observer: 'healing-1',
    key,
  });
}

describe('evidence signatures: from the text, masked, without learned state', () => {
  it('(a) two ACL violations by coding_agent on system.control differing in pid, time, port and cid share a signature', () => {
    const a = aclEvidence(oldStyle({ pid: 4129, time: '04:40:00.473579', port: 54321, cid: 12, user: 'coding_agent', subject: 'system.control' }));
    const b = aclEvidence(oldStyle({ pid: 88, time: '23:01:59.000001', port: 40001, cid: 7, user: 'coding_agent', subject: 'system.control', client: 'layer1-coding-agent-2' }));
    assert.notEqual(a.text, b.text);
    assert.equal(a.signature, b.signature);
    assert.equal(a.template, b.template);
    assert.equal(a.template, '[<*>] <*> <*> [ERR] <*> - cid:<*> - "<*>:nats.js:<*>" - Publish Violation - User "coding_agent", Subject "system.control"');
    // The same for nats-server 2.10+'s form of the line.
    const c = aclEvidence(newStyle({ pid: 12462, time: '04:40:00.473579', port: 58654, cid: 37, user: 'coding_agent', subject: 'system.control' }));
    const d = aclEvidence(newStyle({ pid: 3, time: '05:00:01.5', port: 1025, cid: 1, user: 'coding_agent', subject: 'system.control' }));
    assert.equal(c.signature, d.signature);
  });

  it('(b) another user on another subject is another signature', () => {
    const agent = aclEvidence(oldStyle({ pid: 4129, time: '04:40:00.473579', port: 54321, cid: 12, user: 'coding_agent', subject: 'system.control' }));
    const probe = aclEvidence(oldStyle({ pid: 4129, time: '04:40:00.473579', port: 54321, cid: 12, user: 'probe', subject: 'layer1.events.x' }));
    const log = aclEvidence(newStyle({ pid: 4129, time: '04:40:00.473579', port: 54321, cid: 12, user: 'immutable_log', subject: 'telemetry.other' }));
    assert.equal(new Set([agent.signature, probe.signature, log.signature]).size, 3);
    // Each part alone makes a difference too.
    const otherSubject = aclEvidence(oldStyle({ pid: 1, time: '04:40:00.1', port: 1, cid: 1, user: 'coding_agent', subject: 'layer1.events.x' }));
    const otherUser = aclEvidence(oldStyle({ pid: 1, time: '04:40:00.1', port: 1, cid: 1, user: 'immutable_log', subject: 'system.control' }));
    assert.notEqual(otherSubject.signature, agent.signature);
    assert.notEqual(otherUser.signature, agent.signature);
  });

  it('(c) pure: the same text gets the same id in every call and whatever was signed before', () => {
    const line = oldStyle({ pid: 4129, time: '04:40:00.473579', port: 54321, cid: 12, user: 'coding_agent', subject: 'system.control' });
    const input = { kernel: 'message_bus', errorType: 'ACLViolation', message: line };
    const first = stableSignature(input);
    assert.deepEqual(stableSignature({ ...input }), first);
    // It is the masking step of the engine, hashed: nothing learned.
    assert.equal(first.template, maskMessage(line).join(' '));
    assert.equal(first.signature, signatureId(maskMessage(line).join(' '), { kernel: 'message_bus', errorType: 'ACLViolation' }));
    // Two separate engines, fresh (two replicas, or one after a restart), agree with it: a first
    // message's template is its masked text. (What an engine learns later may generalise its
    // templates, depending on arrival order: the healing path does not use it.)
    assert.equal(new SignatureEngine().sign(input).signature, first.signature);
    assert.equal(new SignatureEngine().sign(input).signature, first.signature);
    assert.equal(evidenceSignature({ kind: 'acl_violation', kernel: 'message_bus', text: line }), first.signature);
    assert.equal(aclEvidence(line, 'x').signature, aclEvidence(line, 'y').signature);
    assert.equal(signEvidence({ kind: 'acl_violation', kernel: 'message_bus', text: line }).signature, first.signature);
  });

  it('(d) evidence with no text gets a fixed text of its kind, kernel and process: the same signature every time', () => {
    const base = { kind: 'exited' as const, kernel: 'immutable_log' as const, process: 'immutable-log', detail: 'gone', observer: 'healing-1' };
    const a = makeEvidence({ ...base, pid: 41, text: null, at: 1, key: 'immutable-log:41' });
    const b = makeEvidence({ ...base, pid: 97, text: '  ', at: 2, key: 'immutable-log:97' });
    assert.equal(a.text, 'exited on immutable_log process immutable-log');
    assert.equal(a.text, defaultEvidenceText('exited', 'immutable_log', 'immutable-log'));
    assert.equal(a.template, a.text, 'nothing in it to mask');
    assert.equal(a.signature, b.signature);
    assert.match(a.signature, /^immutable_log_Exited_[0-9a-f]{8}$/);
    const none = makeEvidence({ kind: 'snapshot_stale', kernel: null, process: null, pid: null, detail: 'x', text: null, at: 1, observer: 'h', key: 'k' });
    assert.equal(none.text, 'snapshot_stale on - process -');
    assert.match(none.signature, /^SnapshotStale_[0-9a-f]{8}$/, 'no kernel part without a kernel');
  });

  it('(e) signatures keep the <kernel>_<ErrorType>_<8 hex> form', () => {
    const e = aclEvidence(oldStyle({ pid: 1, time: '00:00:00.0', port: 2, cid: 3, user: 'coding_agent', subject: 'system.control' }));
    assert.match(e.signature, /^message_bus_ACLViolation_[0-9a-f]{8}$/);
    assert.equal(evidenceSignature(e), e.signature);
  });

  it('lifecycle evidence is signed from the text it came from; the detail by default', () => {
    const u = { kernel: 'message_bus' as const, process: 'bus', pid: 7, reason: 'exited' as const, detail: 'pid 7 is gone (log: /tmp/x/bus.log)', at: 5, observer: 'healing-1' };
    const byDetail = fromKernelUnwell(u);
    assert.equal(byDetail.text, u.detail);
    assert.equal(byDetail.signature, fromKernelUnwell({ ...u, pid: 8, detail: 'pid 8 is gone (log: /tmp/x/bus.log)' }).signature, 'pid and path masked');
    const crashed = fromKernelUnwell(u, {}, exitText('message_bus', 'bus', '[7] 2026/12/06 04:40:00.1 [FTL] Error listening on port: 0.0.0.0:4222, "address already in use"'));
    const again = fromKernelUnwell({ ...u, pid: 9 }, {}, exitText('message_bus', 'bus', '[9] 2026/12/06 05:00:00.2 [FTL] Error listening on port: 0.0.0.0:4222, "address already in use"'));
    assert.equal(crashed.signature, again.signature);
    assert.notEqual(crashed.signature, byDetail.signature);
    assert.match(crashed.signature, /^message_bus_Exited_[0-9a-f]{8}$/);
    // A bus event with neither text nor detail: the fixed text, not its subject.
    assert.equal(fromKernelUnwell({ ...u, detail: 'layer1.events.kernels' }, {}, null).text, 'exited on message_bus process bus');
  });
});

describe('evidence text: what the producers put in it', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'layer1-evidence-text-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a process's log tail: its last lines, bounded in lines and bytes", () => {
    const file = path.join(dir, 'worker.log');
    writeFileSync(file, Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n') + '\n\n');
    assert.equal(lastLogLines(file), ['line 15', 'line 16', 'line 17', 'line 18', 'line 19'].join('\n'));
    assert.equal(lastLogLines(file, 2), 'line 18\nline 19');
    const big = path.join(dir, 'big.log');
    writeFileSync(big, `${'x'.repeat(10_000)}\nlast words\n`);
    assert.equal(lastLogLines(big, 5, 100), 'last words', 'a line cut by the byte bound is left out');
    assert.equal(lastLogLines(path.join(dir, 'none.log')), '');
    assert.equal(exitText('coding_agent', 'coding-agent-1', ''), 'coding-agent-1 of coding_agent exited without being stopped');
    assert.equal(exitText('coding_agent', 'coding-agent-1', 'Error: boom'), 'coding-agent-1 of coding_agent exited without being stopped; its log ends:\nError: boom');
    // Killed while well: its ordinary last lines differ from one death to the next and are left out.
    const well = '{"level":30,"time":1,"msg":"served request 12"}\n{"level":30,"time":2,"msg":"tick"}';
    assert.equal(exitText('coding_agent', 'coding-agent-1', well), 'coding-agent-1 of coding_agent exited without being stopped');
    const crash = '{"level":30,"msg":"tick"}\nTypeError: x is not a function\n    at main (/w/dist/a.js:3:9)';
    assert.equal(exitText('coding_agent', 'coding-agent-1', crash), 'coding-agent-1 of coding_agent exited without being stopped; its log ends:\nTypeError: x is not a function\n    at main (/w/dist/a.js:3:9)');
  });

  it("a Node crash report: its head (where, what, who required it), however long its stack, and not one from an earlier death", () => {
    const syntax = [
      '{"level":30,"msg":"started"}',
      '/w/dist/kernels/immutable-log/segments.js:12',
      'const x = ;',
      '          ^',
      "SyntaxError: Unexpected token ';'",
      '    at wrapSafe (node:internal/modules/cjs/loader:1464:18)',
      ...Array.from({ length: 9 }, (_, i) => `    at Module._compile (node:internal/modules/cjs/loader:${i}:20)`),
      'Node.js v20.20.2',
    ];
    assert.deepEqual(crashReport(syntax), ['/w/dist/kernels/immutable-log/segments.js:12', "SyntaxError: Unexpected token ';'"]);
    const missing = ["Error: Cannot find module 'diff'", 'Require stack:', '- /w/dist/src/coding-agent/diff.js', '- /w/dist/workers/coding-agent.js', '    at Module._resolveFilename (node:internal/modules/cjs/loader:1207:15)', '{', "  code: 'MODULE_NOT_FOUND',", '}', 'Node.js v20.20.2'];
    assert.deepEqual(crashReport(missing), ["Error: Cannot find module 'diff'", 'Require stack:', '- /w/dist/src/coding-agent/diff.js']);
    const config = ['ConfigError: invalid configuration in /w/temporal.config.yaml:', '  kernels.immutable_log.segmentKb at 27:5: Too small', '    at loadConfig (/w/dist/src/config/load.js:40:11)', '    at runWorker (/w/dist/workers/run-worker.js:44:20)'];
    assert.deepEqual(crashReport(config), [...config.slice(0, 2), '    at loadConfig (/w/dist/src/config/load.js:40:11)']);
    // The process ran on after that report (it was restarted into the same log): not this death's.
    assert.equal(crashReport([...syntax, '{"level":30,"msg":"started"}']), null);
    const text = exitText('immutable_log', 'immutable-log', syntax.join('\n'));
    assert.match(text, /exited without being stopped; its log ends:\n\/w\/dist\/kernels\/immutable-log\/segments\.js:12\nSyntaxError/);
  });

  it('the ACL detector signs the bus log line; the loop passes it into the evidence', async () => {
    const file = path.join(dir, 'bus.log');
    writeFileSync(file, '');
    const pm = { logPath: () => file };
    const tail = new LogTail(Date.now());
    const ctx = { pm, config: { bus: { embedded: true } } } as unknown as DetectorContext;
    const settings = {};
    assert.deepEqual(await aclViolations.check(ctx, settings as never, tail), []);
    // Not the first look any more (that one read the empty file): every new line counts.
    const line = (pid: number, cid: number, port: number): string => oldStyle({ pid, time: '04:40:00.473579', port, cid, user: 'coding_agent', subject: 'system.control' });
    appendFileSync(file, `${line(4129, 12, 54321)}\n${line(4129, 13, 54322)}\n`);
    const findings = await aclViolations.check(ctx, settings as never, tail);
    assert.equal(findings.length, 2);
    assert.equal(findings[0].text, line(4129, 12, 54321));
    const config = parseConfig('', '/tmp/layer1-evidence-text/temporal.config.yaml', {});
    const loop = new DetectorLoop({ ctx: { ...ctx, config } as DetectorContext, detectors: [aclViolations], observer: 'healing-1', shouldRun: () => false, report: async () => true });
    const [a, b] = findings.map((f) => loop.evidenceOf(f, f.key, 1));
    assert.equal(a.text, findings[0].text);
    assert.notEqual(a.id, b.id, 'two events');
    assert.equal(a.signature, b.signature, 'one signature');
    // A finding without a text of its own is signed from its detail.
    const plain = loop.evidenceOf({ kind: 'snapshot_stale', kernel: null, key: 'k', detail: 'there is no snapshot' }, 'k', 1);
    assert.equal(plain.text, 'there is no snapshot');
  });
});
