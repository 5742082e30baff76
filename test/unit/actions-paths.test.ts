import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { confinePath, PathEscapeError } from '../../src/playbooks/paths';

describe('actions: paths confined to the state directory', () => {
  let base: string;
  let state: string;
  let outside: string;

  beforeEach(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'layer1-paths-'));
    state = path.join(base, 'state');
    outside = path.join(base, 'outside');
    mkdirSync(path.join(state, 'log'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'secret'), 'secret');
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  const refused = (p: string, reason: 'outside' | 'symlink') =>
    assert.throws(
      () => confinePath(state, p),
      (err: unknown) => err instanceof PathEscapeError && err.reason === reason && err.requested === p,
    );

  it('accepts paths inside, existing or not', () => {
    assert.equal(confinePath(state, 'log'), path.join(state, 'log'));
    assert.equal(confinePath(state, 'log/new/file.json'), path.join(state, 'log', 'new', 'file.json'));
    assert.equal(confinePath(state, 'log/../bus/nats.conf'), path.join(state, 'bus', 'nats.conf'));
    assert.equal(confinePath(state, path.join(state, 'log')), path.join(state, 'log'));
    assert.equal(confinePath(state, '.'), state);
  });

  it('refuses .. escapes and absolute paths elsewhere', () => {
    refused('..', 'outside');
    refused('../outside/secret', 'outside');
    refused('log/../../outside/secret', 'outside');
    refused(path.join(outside, 'secret'), 'outside');
    refused('/etc/passwd', 'outside');
  });

  it('refuses a symlink that leads out, as the path itself or as a directory on the way', () => {
    symlinkSync(outside, path.join(state, 'escape'));
    symlinkSync(path.join(outside, 'secret'), path.join(state, 'log', 'secret-link'));
    refused('escape', 'symlink');
    refused('escape/secret', 'symlink');
    refused('escape/not/yet/there', 'symlink');
    refused('log/secret-link', 'symlink');
  });

  it('refuses a dangling symlink: writing through it would create its target anywhere', () => {
    symlinkSync(path.join(outside, 'nothing-yet'), path.join(state, 'dangling'));
    refused('dangling', 'symlink');
  });

  it('accepts a symlink that stays inside', () => {
    symlinkSync(path.join(state, 'log'), path.join(state, 'log-link'));
    assert.equal(confinePath(state, 'log-link/x'), path.join(state, 'log', 'x'));
  });

  it('works when the state directory itself is reached through a symlink', () => {
    const alias = path.join(base, 'alias');
    symlinkSync(state, alias);
    assert.equal(confinePath(alias, 'log'), path.join(state, 'log'));
    assert.throws(() => confinePath(alias, '../outside'), PathEscapeError);
  });
});
