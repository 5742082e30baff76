/**
 * A digest of a project tree's files by their metadata (path, size, modification time), the way
 * ESLint's `--cache` tells a file unchanged: a project check's result on one digest is its result
 * on any tree with the same digest. Cheap (a stat per file: about 1,200 files here, a few ms), so
 * it is taken before and after each check (activities/verification.ts).
 *
 * Left out, because no check reads them as source and they change all the time: `.git`, the state
 * directories (`.layer1*` at the top, and the configured one wherever it is), and `node_modules`
 * but for its `.package-lock.json` (what npm installed: a changed dependency changes the digest).
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync, type Dirent } from 'node:fs';
import path from 'node:path';

/** Null when the root cannot be read. `skip`: absolute paths of directories left out. */
export function treeDigest(root: string, skip: readonly string[] = []): string | null {
  const hash = createHash('sha256');
  const skipped = new Set(skip.map((p) => path.resolve(p)));
  const visit = (dir: string, rel: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      hash.update(`${rel}\0unreadable\n`);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const abs = path.join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (e.name === '.git' || skipped.has(abs) || (!rel && e.name.startsWith('.layer1'))) continue;
        if (e.name === 'node_modules') {
          file(path.join(abs, '.package-lock.json'), `${r}/.package-lock.json`);
          continue;
        }
        visit(abs, r);
      } else if (e.isFile() || e.isSymbolicLink()) file(abs, r);
    }
  };
  const file = (abs: string, rel: string): void => {
    try {
      const s = statSync(abs, { bigint: true });
      hash.update(`${rel}\0${s.size}\0${s.mtimeNs}\n`);
    } catch {
      hash.update(`${rel}\0missing\n`);
    }
  };
  try {
    if (!statSync(root).isDirectory()) return null;
  } catch {
    return null;
  }
  visit(path.resolve(root), '');
  return hash.digest('hex');
}
