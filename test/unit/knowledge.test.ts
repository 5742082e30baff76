import assert from 'node:assert/strict';
import { autoApplyOf, DEFAULT_KNOWLEDGE_SETTINGS, wilsonLowerBound } from '../../src/knowledge/confidence';
import { deriveEntry, groupFacts, type EntryFacts, type KnowledgeEvent, type ObservationEvent, type OutcomeEvent } from '../../src/knowledge/kb';
import { UnknownSignatureError } from '../../src/knowledge/errors';
import { ExitCode, UserError } from '../../src/errors';

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

describe('knowledge base: entries derived from facts', () => {
  const t = (s: number): Date => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  const obs = (i: number, at: Date): ObservationEvent => ({
    _id: `obs:sig-1:e${i}`,
    type: 'observation',
    signature: 'sig-1',
    at,
    evidenceId: `e${i}`,
    template: `denied <*> v${i}`,
    kernel: 'message_bus',
    errorType: 'ACLViolation',
    text: `denied ${i}`,
  });
  let n = 0;
  const out = (o: Partial<OutcomeEvent>): OutcomeEvent => ({
    _id: `out:sig-1:${n}`,
    type: 'outcome',
    signature: 'sig-1',
    at: t(100 + n++),
    outcomeId: `inc-${n}:1`,
    ok: true,
    remedy,
    timeToHealMs: 1000,
    autoApplied: false,
    ...o,
  });
  const facts = (outcomes: OutcomeEvent[], lastSwitch: EntryFacts['lastSwitch'] = null): EntryFacts => ({
    signature: 'sig-1',
    occurrences: 7,
    oldest: obs(0, t(1)),
    newest: [obs(6, t(9)), obs(5, t(8))],
    outcomes,
    lastSwitch,
  });

  it('describes the signature from its newest observation, with first and last seen and the examples oldest first', () => {
    const e = deriveEntry(facts([]), settings);
    assert.deepEqual(
      [e.signature, e.template, e.kernel, e.errorType, e.occurrences, e.firstSeen, e.lastSeen, e.examples],
      ['sig-1', 'denied <*> v6', 'message_bus', 'ACLViolation', 7, '2026-01-01T00:00:01.000Z', '2026-01-01T00:00:09.000Z', ['denied 5', 'denied 6']],
    );
    assert.deepEqual([e.remedy, e.successes, e.failures, e.confidence, e.autoApply, e.manualOnly, e.mtthKnownMs, e.mtthNewMs], [null, 0, 0, 0, false, false, null, null]);
  });

  it('counts successes and failures, keeps the remedy that healed last, and means per kind', () => {
    const other = { kind: 'fix' as const, name: 'bus_fixer', params: {} };
    const one = deriveEntry(facts([out({ timeToHealMs: 4000 })]), settings);
    assert.deepEqual([one.successes, one.failures, one.remedy, one.mtthNewMs, one.mtthKnownMs, one.autoApply], [1, 0, remedy, 4000, null, false]);
    close(one.confidence, 0.378);
    const outcomes = [out({ timeToHealMs: 4000 }), out({ timeToHealMs: 2000 }), out({ timeToHealMs: 500, autoApplied: true }), out({ ok: false, remedy: other, timeToHealMs: null })];
    const e = deriveEntry(facts(outcomes), settings);
    assert.deepEqual([e.successes, e.failures, e.remedy, e.mtthNewMs, e.mtthKnownMs, e.healsNew, e.healsKnown], [3, 1, remedy, 3000, 500, 2, 1], 'a failure keeps the remedy that healed');
    const later = deriveEntry(facts([...outcomes, out({ remedy: other, timeToHealMs: null })]), settings);
    assert.deepEqual([later.successes, later.remedy, later.mtthNewMs], [4, other, 3000], 'a heal without a time keeps the means');
    // Outcomes arrive in any order: the remedy is the one of the newest success.
    assert.deepEqual(deriveEntry(facts([...outcomes].reverse()), settings).remedy, remedy);
  });

  it('auto-applies after two successes unless the newest switch is off', () => {
    const two = [out({}), out({})];
    assert.equal(deriveEntry(facts(two), settings).autoApply, true);
    const sw = (autoApply: boolean): EntryFacts['lastSwitch'] => ({ _id: 'switch:sig-1:1', type: 'switch', signature: 'sig-1', at: t(5), autoApply });
    const off = deriveEntry(facts(two, sw(false)), settings);
    assert.deepEqual([off.manualOnly, off.autoApply], [true, false]);
    const on = deriveEntry(facts(two, sw(true)), settings);
    assert.deepEqual([on.manualOnly, on.autoApply], [false, true]);
  });

  it('an unknown signature is a user error with the usage exit code', () => {
    const err = new UnknownSignatureError('sig-x');
    assert.ok(err instanceof UserError);
    assert.equal(err.exitCode, ExitCode.USAGE);
    assert.equal(err.message, 'no knowledge of signature sig-x (see layer1 kb)');
  });
});

describe('knowledge base: facts grouped from one read of the events', () => {
  const at = (s: number): Date => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  const obs = (sig: string, id: string, s: number): KnowledgeEvent => ({ _id: `obs:${sig}:${id}`, type: 'observation', signature: sig, at: at(s), evidenceId: id, template: 't', kernel: null, errorType: 'E', text: id });

  it('counts, the oldest, the newest examples newest first (ties by _id), outcomes and the newest switch, per signature', () => {
    const events: KnowledgeEvent[] = [
      obs('a', 'e3', 3),
      obs('b', 'x1', 1),
      obs('a', 'e1', 1),
      { _id: 'switch:a:2', type: 'switch', signature: 'a', at: at(9), autoApply: true },
      obs('a', 'e2b', 2),
      obs('a', 'e2a', 2),
      { _id: 'switch:a:1', type: 'switch', signature: 'a', at: at(5), autoApply: false },
      { _id: 'out:a:1', type: 'outcome', signature: 'a', at: at(4), outcomeId: 'o1', ok: true, remedy, timeToHealMs: 5, autoApplied: false },
    ];
    const grouped = groupFacts(events, 2);
    assert.deepEqual([...grouped.keys()].sort(), ['a', 'b']);
    const a = grouped.get('a')!;
    assert.equal(a.occurrences, 4);
    assert.equal(a.oldest?._id, 'obs:a:e1');
    assert.deepEqual(a.newest.map((o) => o._id), ['obs:a:e3', 'obs:a:e2b']);
    assert.deepEqual(a.outcomes.map((o) => o._id), ['out:a:1']);
    assert.equal(a.lastSwitch?._id, 'switch:a:2');
    const b = grouped.get('b')!;
    assert.deepEqual([b.occurrences, b.outcomes.length, b.lastSwitch], [1, 0, null]);
  });
});
