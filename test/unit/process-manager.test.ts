import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DetachedProcessManager } from '../../src/process/manager';

describe('DetachedProcessManager', () => {
  let dir: string;
  let pm: DetachedProcessManager;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'layer1-pm-'));
    mkdirSync(path.join(dir, 'run'));
    pm = new DetachedProcessManager(dir);
  });

  afterEach(async () => {
    for (const name of pm.list()) await pm.stop(name, 1_000);
    rmSync(dir, { recursive: true, force: true });
  });

  const sleeper = (name: string) => ({ name, command: 'sleep', args: ['300'] });

  it('starts detached with a pid file and a log, and start is a no-op while it runs', async () => {
    const first = await pm.start(sleeper('a'));
    assert.ok(first.pid && first.alive);
    assert.ok(readFileSync(path.join(dir, 'run', 'a.pid'), 'utf8').includes(String(first.pid)));
    const again = await pm.start(sleeper('a'));
    assert.equal(again.pid, first.pid);
    assert.deepEqual(pm.list(), ['a']);
  });

  it('stops with TERM, and KILLs what ignores TERM after the grace period', async () => {
    const stubborn = await pm.start({ name: 'b', command: 'sh', args: ['-c', 'trap "" TERM; echo trapped; exec sleep 300'] });
    // Only once the shell has set its trap does it ignore TERM; a TERM before that would kill it.
    for (let i = 0; i < 200 && !readFileSync(pm.logPath('b'), 'utf8').includes('trapped'); i++) await new Promise((r) => setTimeout(r, 10));
    const started = Date.now();
    await pm.stop('b', 300);
    assert.ok(Date.now() - started >= 300, 'waited for the grace period');
    assert.equal(pm.isAlive('b'), false);
    assert.equal(pm.info('b').pid, null);
    assert.ok(stubborn.pid);
    await pm.stop('b'); // stopping again is a no-op
  });

  it('recognises a stale pid file and never signals a process it did not start', async () => {
    // A pid file naming our own test process, with a start time that does not match it: a recycled pid.
    writeFileSync(
      path.join(dir, 'run', 'c.pid'),
      JSON.stringify({ pid: process.pid, startTicks: 1, command: 'x', args: [], startedAt: new Date().toISOString() }),
    );
    const info = pm.info('c');
    assert.equal(info.alive, false);
    assert.equal(info.stale, true);
    assert.equal(pm.signal('c', 'SIGTERM'), false);
    await pm.stop('c'); // removes the stale record, must not kill us
    assert.deepEqual(pm.list(), []);
  });

  it('notices a process that died on its own', async () => {
    const info = await pm.start(sleeper('d'));
    process.kill(info.pid as number, 'SIGKILL');
    for (let i = 0; i < 100 && pm.isAlive('d'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(pm.isAlive('d'), false);
    assert.equal(pm.info('d').stale, true);
  });
});
