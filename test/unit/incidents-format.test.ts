import assert from 'node:assert/strict';
import {
  formatDuration,
  incidentDetail,
  incidentIdPattern,
  incidentJson,
  incidentsTable,
  resolveIncidentId,
  type IncidentDoc,
} from '../../src/incidents/format';
import { kbEntryJson, kbTable } from '../../src/knowledge/format';
import type { KnowledgeEntry } from '../../src/knowledge/types';

const CONTRACT = ['id', 'signature', 'kernel', 'state', 'openedAt', 'closedAt', 'evidenceCount', 'known', 'autoApplied', 'remedy', 'diagnostics', 'verification', 'timeToHealMs', 'clarity'];

const closed: IncidentDoc = {
  _id: 'inc-3f2a9c01',
  signature: 'message_bus_ACLViolation_ab12',
  kernel: 'message_bus',
  state: 'closed',
  openedAt: new Date('2026-12-06T04:00:00.123Z'),
  closedAt: '2026-12-06T04:00:12.000Z',
  evidenceCount: 2,
  known: true,
  autoApplied: true,
  remedy: { kind: 'playbook', name: 'restart_message_bus', runId: 'dispatch-1', chosenBy: 'knowledge_base', reason: 'known' },
  diagnostics: { logLines: ['l1', 'l2'], heartbeats: [{ at: 1 }], resources: { rssMb: 40 } },
  verification: {
    ok: true,
    healedAt: 5,
    checks: [{ name: 'readiness', ok: true, command: 'self-test message_bus', exitCode: 0, output: '', ms: 20, startedAt: '2026-12-06T04:00:10.000Z' }],
  },
  timeToHealMs: 11_877,
  clarity: { seen: 'ACL violation', decided: 'restart', why: 'known', outcome: 'healed', steps: ['detected', 'opened', 'restarted'] },
  attempts: 1,
  template: 'ACL denied <*>',
};

describe('layer1 incidents: formatting', () => {
  it('prints every contract field first, in order, then the extras, dates as ISO strings', () => {
    const json = incidentJson(closed);
    assert.deepEqual(Object.keys(json).slice(0, CONTRACT.length), CONTRACT);
    assert.equal(json.id, 'inc-3f2a9c01');
    assert.equal(json.openedAt, '2026-12-06T04:00:00.123Z');
    assert.deepEqual(json.remedy && [json.remedy.kind, json.remedy.name, json.remedy.runId, json.remedy.chosenBy], ['playbook', 'restart_message_bus', 'dispatch-1', 'knowledge_base']);
    assert.deepEqual(Object.keys(json.verification?.checks[0] ?? {}).slice(0, 5).sort(), ['command', 'exitCode', 'name', 'ok', 'output']);
    assert.equal(json.attempts, 1);
    assert.equal(json.template, 'ACL denied <*>');
    assert.ok(!('_id' in json));
  });

  it('fills the contract fields of an incident written early, so scripts always find them', () => {
    const json = incidentJson({ _id: 'inc-00000001', signature: 's', state: 'open' });
    assert.deepEqual(Object.keys(json), CONTRACT);
    assert.deepEqual(
      [json.kernel, json.closedAt, json.evidenceCount, json.known, json.remedy, json.diagnostics, json.verification, json.timeToHealMs, json.clarity],
      [null, null, 0, false, null, null, null, null, null],
    );
  });

  it('formats durations for people', () => {
    assert.deepEqual([null, 850, 11_877, 245_000, 7_800_000].map(formatDuration), ['-', '850 ms', '11.9 s', '4 min 05 s', '2 h 10 min']);
  });

  it('lists incidents as an aligned table', () => {
    const lines = incidentsTable([incidentJson(closed), incidentJson({ _id: 'inc-00000001', signature: 's', state: 'open' })]);
    assert.deepEqual(lines.map((l) => l.split(/\s{2,}/)), [
      ['ID', 'STATE', 'SIGNATURE', 'KERNEL', 'OPENED', 'TIME TO HEAL', 'REMEDY'],
      ['inc-3f2a9c01', 'closed', 'message_bus_ACLViolation_ab12', 'message_bus', '2026-12-06T04:00:00Z', '11.9 s', 'playbook restart_message_bus'],
      ['inc-00000001', 'open', 's', '-', '-', '-', '-'],
    ]);
    assert.equal(lines[0].indexOf('STATE'), lines[1].indexOf('closed'));
  });

  it('shows one incident as its steps, diagnostics, remedy, checks with command and exit code, and time to heal', () => {
    const text = incidentDetail(incidentJson(closed)).join('\n');
    assert.match(text, /steps:\n {2}1\. detected\n {2}2\. opened\n {2}3\. restarted/);
    assert.match(text, /log lines: 2\n {4}l1\n {4}l2/);
    assert.match(text, /heartbeats: 1/);
    assert.match(text, /rssMb: 40/);
    assert.match(text, /playbook restart_message_bus \(dispatch-1\), chosen by knowledge base/);
    assert.match(text, /✓ readiness +`self-test message_bus` +exit 0/);
    assert.match(text, /time to heal: 11\.9 s/);
    const order = ['steps:', 'diagnostics:', 'remedy:', 'verification:', 'time to heal:'].map((h) => text.indexOf(h));
    assert.deepEqual([...order].sort((a, b) => a - b), order);
  });

  it('shows the end of a failed check’s output', () => {
    const failed = incidentJson({
      _id: 'inc-1',
      state: 'reopened',
      verification: { ok: false, healedAt: null, checks: [{ name: 'tests', ok: false, command: 'npx mocha t', exitCode: 1, output: 'a\nb\nc\nd\ne\nf\nAssertionError: boom\n', ms: 1, startedAt: '' }] },
    });
    const text = incidentDetail(failed).join('\n');
    assert.match(text, /verification: failed\n {2}✗ tests +`npx mocha t` +exit 1/);
    assert.match(text, /AssertionError: boom/);
    assert.doesNotMatch(text, /\n {6}a\n/, 'only the last lines');
  });

  it('resolves an id from a unique prefix, with or without inc-', () => {
    const ids = ['inc-3f2a9c01', 'inc-3f2b0000', 'inc-77777777'];
    assert.deepEqual(resolveIncidentId('inc-3f2a9c01', ids), { id: 'inc-3f2a9c01' });
    assert.deepEqual(resolveIncidentId('3f2a9c01', ids), { id: 'inc-3f2a9c01' });
    assert.deepEqual(resolveIncidentId('3f2a', ids), { id: 'inc-3f2a9c01' });
    assert.deepEqual(resolveIncidentId('inc-7', ids), { id: 'inc-77777777' });
    assert.deepEqual(resolveIncidentId('3f2', ids), { error: 'ambiguous', matches: ['inc-3f2a9c01', 'inc-3f2b0000'] });
    assert.deepEqual(resolveIncidentId('nope', ids), { error: 'none', matches: [] });
    assert.deepEqual(resolveIncidentId('x', []), { error: 'none', matches: [] });
  });

  it('matches candidates in the store with a regular expression that escapes the input', () => {
    const re = (p: string): RegExp => new RegExp(incidentIdPattern(p));
    assert.ok(re('3f2a').test('inc-3f2a9c01'));
    assert.ok(re('inc-3f2a').test('inc-3f2a9c01'));
    assert.ok(!re('inc-3f2a').test('inc-inc-3f2a'));
    assert.ok(!re('.').test('inc-3f2a9c01'), 'a dot is a dot');
    assert.ok(re('a.b').test('a.b') && !re('a.b').test('axb'));
  });
});

describe('layer1 kb: formatting', () => {
  const entry: KnowledgeEntry = {
    signature: 'sig-1',
    template: 't',
    kernel: 'message_bus',
    errorType: 'E',
    examples: ['x'],
    firstSeen: '2026-12-06T04:00:00.000Z',
    lastSeen: '2026-12-06T04:10:00.000Z',
    occurrences: 3,
    remedy: { kind: 'playbook', name: 'restart_message_bus', params: {} },
    successes: 2,
    failures: 0,
    confidence: 0.549,
    autoApply: true,
    manualOnly: false,
    mtthKnownMs: null,
    mtthNewMs: 4000,
  };

  it('prints the contract fields first, in order, then the extras', () => {
    assert.deepEqual(Object.keys(kbEntryJson(entry)), [
      'signature', 'template', 'kernel', 'errorType', 'occurrences', 'remedy', 'successes', 'failures', 'confidence', 'autoApply', 'mtthKnownMs', 'mtthNewMs', 'firstSeen', 'lastSeen', 'examples', 'manualOnly',
    ]);
  });

  it('lists entries as a table, auto-apply on, off or manual', () => {
    const lines = kbTable([entry, { ...entry, signature: 'sig-2', manualOnly: true, autoApply: false }, { ...entry, signature: 'sig-3', autoApply: false, remedy: null }]);
    assert.deepEqual(lines[1].split(/\s{2,}/), ['sig-1', 'message_bus', '3', 'playbook restart_message_bus', '2/0', '0.55', 'on', '-', '4.0 s', '2026-12-06T04:10:00Z']);
    assert.equal(lines[2].split(/\s{2,}/)[6], 'manual');
    assert.equal(lines[3].split(/\s{2,}/)[6], 'off');
  });
});
