import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  evalCondition,
  parseCondition,
  parseTemplate,
  referencesOf,
  resolveValue,
  TemplateError,
  type TemplateScope,
} from '../../src/playbooks/template';

const scope: TemplateScope = {
  params: { stream: 'EVENTS', max: 1000, zero: 0, on: true, off: false, paths: ['a', 'b'], empty: '' },
  steps: { snap: { snapshot: 'snap-1', files: 2, nested: { deep: { value: 7 } } }, chain: { ok: false, firstBadSeq: null } },
  run: { id: 'run-42', playbook: 'pb', kernel: 'message_bus' },
};

function templateError(fn: () => unknown, pattern: RegExp): TemplateError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TemplateError, String(err));
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail('expected a TemplateError');
}

describe('playbook templates', () => {
  it('keeps the type of a value that is exactly one template', () => {
    assert.equal(resolveValue('${{ params.max }}', scope), 1000);
    assert.equal(resolveValue('${{params.on}}', scope), true);
    assert.deepEqual(resolveValue('${{ params.paths }}', scope), ['a', 'b']);
    assert.deepEqual(resolveValue('${{ steps.snap.nested }}', scope), { deep: { value: 7 } });
    assert.equal(resolveValue('${{ steps.chain.firstBadSeq }}', scope), null);
    assert.equal(resolveValue('${{ params.max > 10 }}', scope), true, 'an expression is a value too');
  });

  it('interpolates templates inside a longer string as text', () => {
    assert.equal(resolveValue('run ${{ run.id }} of ${{ run.playbook }}', scope), 'run run-42 of pb');
    assert.equal(resolveValue('max=${{ params.max }}', scope), 'max=1000');
    assert.equal(resolveValue('paths=${{ params.paths }} bad=${{ steps.chain.firstBadSeq }}', scope), 'paths=["a","b"] bad=null');
    assert.equal(resolveValue(' ${{ params.max }}', scope), ' 1000', 'surrounding text makes it a string');
  });

  it('resolves nested references, deeply through arrays and objects, without mutating the input', () => {
    const input = { a: ['${{ steps.snap.nested.deep.value }}', 'x'], b: { c: '${{ params.paths.1 }}' }, n: 3, t: true, z: null };
    const frozen = JSON.stringify(input);
    assert.deepEqual(resolveValue(input, scope), { a: [7, 'x'], b: { c: 'b' }, n: 3, t: true, z: null });
    assert.equal(JSON.stringify(input), frozen);
  });

  it('reports missing references with what is missing', () => {
    templateError(() => resolveValue('${{ steps.nope.x }}', scope), /steps\.nope\.x: no completed step has produced output "nope"/);
    templateError(() => resolveValue('${{ steps.snap.snapshoot }}', scope), /steps\.snap has no field "snapshoot"/);
    templateError(() => resolveValue('x ${{ params.missing }}', scope), /params\.missing/);
  });

  it('reports malformed templates with their offset', () => {
    assert.equal(templateError(() => parseTemplate('a ${{ params.x'), /unterminated/).offset, 2);
    assert.equal(templateError(() => parseTemplate('${{ params.x = 1 }}'), /unexpected character "="/).offset, 13);
    templateError(() => parseTemplate('${{ }}'), /empty expression/);
    templateError(() => parseTemplate('${{ foo.bar }}'), /unknown name "foo"/);
    templateError(() => parseTemplate('${{ params }}'), /needs a field/);
  });

  it('keeps "}}" inside a quoted string in an expression', () => {
    assert.equal(resolveValue("${{ params.stream == '}}' }}", scope), false);
    assert.deepEqual(
      referencesOf((parseTemplate('${{ steps.a.b && params.c }}')[0] as any).expr).map((r) => [r.root, ...r.path].join('.')),
      ['steps.a.b', 'params.c'],
    );
  });

  it('leaves plain strings and other values untouched', () => {
    assert.equal(resolveValue('no template $ {{ here }}', scope), 'no template $ {{ here }}');
    assert.equal(resolveValue(42, scope), 42);
  });

  it('round-trips any JSON value through a whole-value template', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        assert.deepEqual(resolveValue('${{ params.v }}', { params: { v: value }, steps: {}, run: {} }), value);
      }),
    );
  });
});

describe('playbook conditions', () => {
  const when = (expr: string): boolean => evalCondition(expr, scope);

  it('compares numbers and strings, with or without ${{ }}', () => {
    assert.equal(when('${{ params.max > 0 }}'), true);
    assert.equal(when('params.max >= 1000'), true);
    assert.equal(when('params.max < 1000'), false);
    assert.equal(when('params.max <= -1'), false);
    assert.equal(when("params.stream == 'EVENTS'"), true);
    assert.equal(when('params.stream != "EVENTS"'), false);
    assert.equal(when("'a' < 'b'"), true);
    assert.equal(when('1.5e1 == 15'), true);
  });

  it('compares without coercion', () => {
    assert.equal(when("params.max == '1000'"), false);
    assert.equal(when('params.zero == false'), false);
    assert.equal(when('steps.chain.firstBadSeq == null'), true);
    templateError(() => when("params.max > 'a'"), /cannot compare a number with a string/);
  });

  it('applies precedence: ! then comparisons then == then && then ||', () => {
    assert.equal(when('true || false && false'), true);
    assert.equal(when('(true || false) && false'), false);
    assert.equal(when('!params.off && params.on'), true);
    assert.equal(when('!(params.on && params.off)'), true);
    assert.equal(when('params.max > 1 == true'), true);
    assert.equal(when('!!params.on'), true);
    templateError(() => when('1 < 2 < 3'), /do not chain/);
  });

  it('treats false, null, 0 and "" as false, and a missing reference as null', () => {
    assert.equal(when('params.zero'), false);
    assert.equal(when('params.empty'), false);
    assert.equal(when('steps.chain.ok'), false);
    assert.equal(when('!steps.chain.ok'), true);
    assert.equal(when('steps.skipped == null'), true, 'a skipped step has no output');
    assert.equal(when('steps.skipped.count > 0'), false, 'ordering with null is false');
  });

  it('reports malformed conditions', () => {
    templateError(() => parseCondition('params.max >'), /expected a value but found the end/);
    templateError(() => parseCondition('(params.max > 1'), /expected "\)"/);
    templateError(() => parseCondition('params.a & params.b'), /use "&&"/);
    templateError(() => parseCondition('${{ params.a }} and ${{ params.b }}'), /single/);
  });

  it('follows precedence for any mix of &&, || and !', () => {
    type Tree = { op: 'lit'; v: boolean } | { op: '!'; a: Tree } | { op: '&&' | '||'; a: Tree; b: Tree };
    const tree = fc.letrec<{ t: Tree }>((tie) => ({
      t: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.boolean().map((v): Tree => ({ op: 'lit', v })),
        tie('t').map((a): Tree => ({ op: '!', a })),
        fc.tuple(fc.constantFrom('&&' as const, '||' as const), tie('t'), tie('t')).map(([op, a, b]): Tree => ({ op, a, b })),
      ),
    })).t;
    const prec = { '||': 1, '&&': 2, '!': 3, lit: 4 };
    // Parentheses only where precedence needs them, so the parser's precedence is what is tested.
    const render = (t: Tree, min: number): string => {
      const text =
        t.op === 'lit' ? String(t.v) : t.op === '!' ? `!${render(t.a, 3)}` : `${render(t.a, prec[t.op])} ${t.op} ${render(t.b, prec[t.op] + 1)}`;
      return prec[t.op] < min ? `(${text})` : text;
    };
    const value = (t: Tree): boolean =>
      t.op === 'lit' ? t.v : t.op === '!' ? !value(t.a) : t.op === '&&' ? value(t.a) && value(t.b) : value(t.a) || value(t.b);
    fc.assert(fc.property(tree, (t) => assert.equal(evalCondition(render(t, 0), scope), value(t), render(t, 0))));
  });

  it('compares integers like JavaScript does', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), (a, b) => {
        const s: TemplateScope = { params: { a, b }, steps: {}, run: {} };
        assert.equal(evalCondition('params.a < params.b', s), a < b);
        assert.equal(evalCondition('!(params.a < params.b) == (params.a >= params.b)', s), true);
        assert.equal(evalCondition(`params.a == ${a}`, s), true);
      }),
    );
  });
});
