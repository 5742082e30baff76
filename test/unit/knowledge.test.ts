import assert from 'node:assert/strict';
import { autoApplyOf, DEFAULT_KNOWLEDGE_SETTINGS, wilsonLowerBound } from '../../src/knowledge/confidence';
import { applyOutcome, entryOf, type KnowledgeDoc } from '../../src/knowledge/kb';
import { UnknownSignatureError } from '../../src/knowledge/errors';
import { ExitCode, UserError } from '../../src/errors';
import type { RemedyOutcome } from '../../src/knowledge/types';

const Z = 1.2816;
const settings = DEFAULT_KNOWLEDGE_SETTINGS;
const remedy = { kind: 'playbook' as const, name: 'restart_bus', params: {} };

const close = (actual: number, expected: number, digits = 3): void =>
  assert.ok(Math.abs(actual - expected) < 10 ** -digits, `${actual} ≈ ${expected}`);

describe('knowledge base: confidence', () => {
  it('is the Wilson lower bound: 1 success → 0.378, 2 → 0.549, 2 of 3 → 0.321 at z = 1.2816', () => {
    close(wilsonLowerBound(1, 0, Z), 0.3784);
    close(wilsonLowerBound(2, 0, Z), 0.5491);
    close(wilsonLowerBound(2, 1, Z), 0.3211);
    close(wilsonLowerBound(10, 0, Z), 0.8590);
  });

  it('is 0 without trials and without successes, and grows with successes', () => {
    assert.equal(wilsonLowerBound(0, 0, Z), 0);
    assert.equal(wilsonLowerBound(0, 5, Z), 0);
    let last = 0;
    for (let s = 1; s <= 50; s++) {
      const c = wilsonLowerBound(s, 0, Z);
      assert.ok(c > last && c < 1, `${s} successes: ${c}`);
      last = c;
    }
  });

  it('one lucky success is not certainty: auto-apply needs the threshold and minSuccesses', () => {
    const entry = { successes: 1, failures: 0, manualOnly: false, remedy };
    assert.equal(autoApplyOf(entry, settings), false, '0.378 < 0.5 and 1 < 2');
    assert.equal(autoApplyOf({ ...entry, successes: 2 }, settings), true, '0.549 ≥ 0.5 and 2 ≥ 2');
    assert.equal(autoApplyOf({ ...entry, successes: 2, failures: 1 }, settings), false, '0.321 < 0.5');
    assert.equal(autoApplyOf({ ...entry, successes: 2 }, { ...settings, minSuccesses: 3 }), false);
    assert.equal(autoApplyOf({ ...entry, successes: 1 }, { ...settings, minSuccesses: 1, autoApplyConfidence: 0.3 }), true);
  });

  it('never auto-applies what an operator turned off, or without a remedy', () => {
    assert.equal(autoApplyOf({ successes: 20, failures: 0, manualOnly: true, remedy }, settings), false);
    assert.equal(autoApplyOf({ successes: 20, failures: 0, manualOnly: false, remedy: null }, settings), false);
  });
});

describe('knowledge base: outcomes', () => {
  const empty: KnowledgeDoc = {
    _id: 'sig-1',
    template: 'denied <*>',
    kernel: 'message_bus',
    errorType: 'ACLViolation',
    examples: [],
    firstSeen: new Date('2026-01-01T00:00:00Z'),
    lastSeen: new Date('2026-01-02T00:00:00Z'),
    occurrences: 3,
    remedy: null,
    successes: 0,
    failures: 0,
    confidence: 0,
    autoApply: false,
    manualOnly: false,
    mtthKnownMs: null,
    mtthNewMs: null,
    healsKnown: 0,
    healsNew: 0,
    seenEvidence: ['e1'],
    outcomeIds: [],
    version: 0,
  };
  const outcome = (o: Partial<RemedyOutcome>): RemedyOutcome => ({ outcomeId: 'inc-1:1', signature: 'sig-1', remedy, ok: true, timeToHealMs: 1000, autoApplied: false, ...o });

  it('counts successes and failures, keeps the remedy that healed, and keeps running means per kind', () => {
    let doc = { ...empty, ...applyOutcome(empty, outcome({ timeToHealMs: 4000 }), settings) };
    assert.deepEqual([doc.successes, doc.failures, doc.remedy, doc.mtthNewMs, doc.mtthKnownMs], [1, 0, remedy, 4000, null]);
    close(doc.confidence, 0.378);
    assert.equal(doc.autoApply, false);
    doc = { ...doc, ...applyOutcome(doc, outcome({ timeToHealMs: 2000 }), settings) };
    assert.equal(doc.mtthNewMs, 3000);
    assert.equal(doc.autoApply, true);
    doc = { ...doc, ...applyOutcome(doc, outcome({ timeToHealMs: 500, autoApplied: true }), settings) };
    assert.deepEqual([doc.mtthKnownMs, doc.mtthNewMs, doc.healsKnown, doc.healsNew], [500, 3000, 1, 2]);
    const other = { kind: 'fix' as const, name: 'bus_fixer', params: {} };
    doc = { ...doc, ...applyOutcome(doc, outcome({ ok: false, remedy: other, timeToHealMs: null }), settings) };
    assert.deepEqual([doc.successes, doc.failures, doc.remedy], [3, 1, remedy], 'a failure keeps the remedy that healed');
    doc = { ...doc, ...applyOutcome(doc, outcome({ remedy: other, timeToHealMs: null }), settings) };
    assert.deepEqual([doc.successes, doc.remedy, doc.mtthNewMs], [4, other, 3000], 'a heal without a time keeps the means');
  });

  it('entries recompute confidence and autoApply from the counters, whatever is stored', () => {
    const stale = { ...empty, remedy, successes: 2, confidence: 0.99, autoApply: false };
    const entry = entryOf(stale, settings);
    close(entry.confidence, 0.549);
    assert.equal(entry.autoApply, true);
    assert.equal(entry.firstSeen, '2026-01-01T00:00:00.000Z');
    assert.equal(entry.signature, 'sig-1');
    for (const internal of ['seenEvidence', 'outcomeIds', 'version', '_id', 'healsKnown', 'healsNew']) assert.ok(!(internal in entry), internal);
    assert.equal(entryOf({ ...stale, manualOnly: true }, settings).autoApply, false);
  });

  it('an unknown signature is a user error with the usage exit code', () => {
    const err = new UnknownSignatureError('sig-x');
    assert.ok(err instanceof UserError);
    assert.equal(err.exitCode, ExitCode.USAGE);
    assert.equal(err.message, 'no knowledge of signature sig-x (see layer1 kb)');
  });
});
