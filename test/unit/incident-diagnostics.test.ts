/** An incident's log lines: the lines around the event's text, else the last lines, read boundedly. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { logContext } from '../../activities/incidents';

describe('incident diagnostics: log lines around the event', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-diag-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the lines around the line the evidence came from', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i}`);
    lines[20] = '[7] 2026/12/06 [ERR] Publish Violation - User "immutable_log", Subject "system.control"';
    const file = path.join(dir, 'bus.log');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const out = logContext([file], lines[20]);
    assert.ok(out.includes(lines[20]));
    assert.deepEqual(out, lines.slice(14, 27));
  });

  it('without the text in any log: the text, then the last lines of the first log that has any', () => {
    const file = path.join(dir, 'a.log');
    writeFileSync(file, 'one\ntwo\nthree\n');
    assert.deepEqual(logContext([path.join(dir, 'missing.log'), file], 'not there'), ['not there', 'a.log: one', 'a.log: two', 'a.log: three']);
  });

  it('reads only the end of a large log, dropping the line the cut falls in', () => {
    const file = path.join(dir, 'big.log');
    writeFileSync(file, `${'x'.repeat(200_000)}\nlast line\n`);
    assert.deepEqual(logContext([file], ''), ['big.log: last line']);
  });
});
