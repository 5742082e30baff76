/**
 * Small durability helpers: atomic file replacement, directory fsync, a promise mutex, and the
 * directory lock that keeps two writers off one log; and gzip, as archives use it.
 */
import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { LogLockedError } from './errors';

export const gzip = promisify(zlib.gzip);
export const gunzip = promisify(zlib.gunzip);

/**
 * Makes a directory entry (a created, renamed or removed file) durable. Without it a crash can
 * forget a file whose contents were fsynced.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const h = await fsp.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * Replaces `file` with `data` so that a reader, even after a crash, sees either the old or the new
 * contents, never a mix: write a temp file, fsync it, rename over, fsync the directory.
 */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const tmp = `${file}.tmp`;
  const h = await fsp.open(tmp, 'w');
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
  await fsp.rename(tmp, file);
  await fsyncDir(path.dirname(file));
}

/** Reads a file, or returns undefined when it does not exist. */
export async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await fsp.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Removes a file; a file already gone counts as removed. */
export async function unlinkIfExists(file: string): Promise<boolean> {
  try {
    await fsp.unlink(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** Serialises async critical sections, in arrival order. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    // The next waiter runs after this one settles, whatever its outcome.
    this.tail = result.catch(() => undefined);
    return result;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed holder stays a zombie until its parent reaps it, and a supervisor restarts the log
  // within that window: a zombie holds nothing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** Identifies this boot of the machine (Linux); a lock from another boot is stale whatever its pid. */
async function bootId(): Promise<string> {
  return ((await readIfExists('/proc/sys/kernel/random/boot_id'))?.toString().trim() ?? '') || 'unknown';
}

/** Directories this process holds, so a second in-process open fails like a second process would. */
const heldHere = new Set<string>();

/**
 * Takes the directory's `LOCK` file. A lock left by a process that no longer exists (kill -9) is
 * taken over, which is what lets a killed kernel restart on its own directory.
 *
 * @returns a function that releases the lock
 * @throws LogLockedError when a live process holds it
 */
export async function acquireDirLock(dir: string): Promise<() => Promise<void>> {
  const abs = path.resolve(dir);
  const file = path.join(abs, 'LOCK');
  if (heldHere.has(abs)) throw new LogLockedError(abs, process.pid);
  const boot = await bootId();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fsp.writeFile(file, `${process.pid} ${boot}\n`, { flag: 'wx' });
      heldHere.add(abs);
      return async () => {
        heldHere.delete(abs);
        await unlinkIfExists(file);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const [pidText, holderBoot] = ((await readIfExists(file))?.toString() ?? '').trim().split(/\s+/);
    const holder = Number(pidText);
    // After a reboot the old pid may belong to an unrelated process, hence the boot id.
    const sameBoot = holderBoot === undefined || holderBoot === boot;
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && sameBoot && pidAlive(holder)) {
      throw new LogLockedError(abs, holder);
    }
    // Stale: its holder is gone. Removing and retrying with 'wx' keeps two restarters from both winning.
    await unlinkIfExists(file);
  }
  throw new LogLockedError(abs, -1);
}
