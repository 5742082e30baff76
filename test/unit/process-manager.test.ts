import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DetachedProcessManager, STANDBY_ENV, STANDBY_WARM_FILE_ENV, type ProcessSpec } from '../../src/process/manager';

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

  it('two managers starting one name at once start one process: both get its pid, and it is the one recorded', async () => {
    // Two processes' managers on one state directory (here two instances): the control plane and
    // a playbook restarting the same kernel.
    const other = new DetachedProcessManager(dir);
    const marker = `layer1-pm-race-${process.pid}-${Date.now()}`;
    const spec = { name: 'r', command: 'bash', args: ['-c', `exec -a ${marker} sleep 300`] };
    const [a, b] = await Promise.all([pm.start(spec), other.start(spec)]);
    assert.equal(a.pid, b.pid, 'one process');
    assert.equal(pm.pid('r'), a.pid, 'the recorded pid is the live one');
    const { execFileSync } = await import('node:child_process');
    // pgrep itself, not a shell around it: a shell's own command line would hold the marker too.
    const running = execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
    assert.deepEqual(running.map(Number), [a.pid], `one process running: ${running.join(', ')}`);
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

  describe('warm spares (ProcessSpec.standby)', () => {
    // A process that speaks the standby protocol as workers/standby.ts does: as a spare it catches
    // SIGUSR2, writes its pid to the warm file, and says "promoted" when told; otherwise it says "working".
    const script = `
      const fs = require('node:fs');
      if (process.env.${STANDBY_ENV} === '1') {
        process.on('SIGUSR2', () => console.log('promoted ' + process.pid));
        fs.writeFileSync(process.env.${STANDBY_WARM_FILE_ENV}, process.pid + '\\n');
      } else console.log('working ' + process.pid);
      setInterval(() => undefined, 1000);
    `;
    const worker = (name: string, tag = 'v1'): ProcessSpec => ({ name, command: process.execPath, args: ['-e', script, tag], standby: true });
    const until = async (what: string, ok: () => boolean): Promise<void> => {
      for (let i = 0; i < 250 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(ok(), what);
    };

    it('keeps a spare that announces itself warm, and promotes it when the process is gone', async () => {
      const first = await pm.start(worker('w'));
      const spare = await pm.ensureStandby(worker('w'));
      assert.ok(spare.pid && spare.pid !== first.pid);
      assert.deepEqual(pm.list(), ['w', 'w.standby']);
      await until('the spare is warm', () => pm.standbyInfo('w').warm);
      assert.equal((await pm.ensureStandby(worker('w'))).pid, spare.pid, 'one spare per process');

      process.kill(first.pid as number, 'SIGKILL');
      await until('the process is gone', () => !pm.isAlive('w'));
      const promoted = await pm.start(worker('w'));
      assert.equal(promoted.pid, spare.pid, 'the spare took the name');
      assert.equal(pm.pid('w'), spare.pid);
      await until('the spare was told', () => readFileSync(pm.logPath('w'), 'utf8').includes(`promoted ${spare.pid}`));
      assert.equal(pm.standbyInfo('w').alive, false, 'the spare is used up');
      const next = await pm.ensureStandby(worker('w'));
      assert.ok(next.alive && next.pid !== spare.pid, 'a new spare replaces it');
    });

    it('starts cold instead of promoting a spare that does not catch the signal, or runs another spec', async () => {
      // `sleep` would die of SIGUSR2's default action: it must never be sent one.
      const notASpare: ProcessSpec = { name: 's', command: 'sleep', args: ['300'], standby: true };
      const spare = await pm.ensureStandby(notASpare);
      const started = await pm.start(notASpare);
      assert.notEqual(started.pid, spare.pid);
      assert.equal(pm.standbyInfo('s').pid, spare.pid, 'left alone, not signalled');

      await pm.ensureStandby(worker('x', 'v1'));
      await until('warm', () => pm.standbyInfo('x').warm);
      const old = pm.standbyInfo('x').pid;
      // Started by a promoted spare, whose environment still says so: the new process is no spare.
      const upgraded = await pm.start({ ...worker('x', 'v2'), env: { ...process.env, [STANDBY_ENV]: '1' } });
      assert.notEqual(upgraded.pid, old, 'a spare of an older spec does not take over');
      await until('started cold', () => readFileSync(pm.logPath('x'), 'utf8').includes(`working ${upgraded.pid}`));
    });

    it('a spec without standby has no spare', async () => {
      const info = await pm.ensureStandby(sleeper('n'));
      assert.equal(info.alive, false);
      assert.deepEqual(pm.list(), []);
    });
  });
});
