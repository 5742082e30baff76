/**
 * The configuration fixer: a kernel failed because its configuration file no longer validates (the
 * loader's `invalid configuration in <file>:` with each problem at file:line:col). The last good
 * version is the newest that *does* validate against the config schema — a snapshot holding the
 * file (newest first), then git's — so a drift is never "restored" to another invalid file. The bus's
 * own configuration is not this fixer's: its ACL render has the config_drift playbook.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { faultText, type ChangeSet, type Fixer, type FixerInput } from '../change-set';
import { showsFault } from '../code-faults';
import { parseConfig } from '../../config/load';
import { SnapshotStore, SNAPSHOTS_DIR } from '../../snapshots/store';
import { lastGoodContent } from './sources';

/** The configuration file an error names (`invalid configuration in /abs/file.yaml:`), or null. */
export function invalidConfigFile(text: string): string | null {
  return /invalid configuration in (\S+?):?\n/.exec(`${text}\n`)?.[1] ?? null;
}

/** Whether `text` validates as a Layer 1 configuration (the same loader the processes use). */
function validates(text: string, file: string): boolean {
  try {
    parseConfig(text, file, {});
    return true;
  } catch {
    return false;
  }
}

/** Candidates for the last good `rel` (relative to the project root), newest first: snapshots, then git. */
async function candidates(input: FixerInput, rel: string): Promise<Array<{ content: string; source: string }>> {
  const out: Array<{ content: string; source: string }> = [];
  for (const snap of await new SnapshotStore(input.stateDir).list()) {
    const f = snap.files.find((x) => path.resolve(input.stateDir, x.path) === path.resolve(input.projectRoot, rel));
    if (!f) continue;
    const copy = path.join(input.stateDir, SNAPSHOTS_DIR, snap.label, snap.id, 'files', f.path);
    const content = await readFile(copy, 'utf8').catch(() => null);
    if (content !== null) out.push({ content, source: `snapshot:${snap.id}` });
  }
  const git = await lastGoodContent(input.projectRoot, rel);
  if (git) out.push(git);
  return out;
}

export const configRestoreFixer: Fixer = {
  name: 'config_restore',
  description: 'restores a configuration file that no longer validates to its newest version that does (a snapshot, else git)',
  handles: (e) => showsFault('config_restore', e),
  async propose(input: FixerInput): Promise<ChangeSet | null> {
    const text = faultText(input);
    const named = invalidConfigFile(text);
    if (!named) return null;
    const abs = path.resolve(input.projectRoot, named);
    const root = path.resolve(input.projectRoot) + path.sep;
    if (!abs.startsWith(root)) return null;
    const rel = path.relative(input.projectRoot, abs);
    const current = await readFile(abs, 'utf8').catch(() => null);
    if (current !== null && validates(current, abs)) return null; // valid now: nothing to restore
    const good = (await candidates(input, rel)).find((c) => c.content !== current && validates(c.content, abs));
    if (!good) return null;
    return {
      fixer: 'config_restore',
      params: { file: rel },
      summary: `${rel} does not validate; restore its newest valid version from ${good.source}`,
      files: [{ root: 'project', path: rel, content: { encoding: 'utf8', data: good.content }, source: good.source }],
      commands: [],
      restartKernel: input.evidence.kernel,
    };
  },
};
