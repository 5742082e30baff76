/**
 * The model fixer: a coding-agent model file that no longer matches its manifest is restored from
 * the baseline snapshot (its copy checked against the snapshot's SHA-256 before it is proposed), and
 * the agent restarted so it loads it (workers/coding-agent.ts refuses a file that does not match).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChangeSet, Fixer, FixerInput } from '../change-set';
import { corruptModels, MODEL_SNAPSHOT_LABEL } from '../models';
import { sha256File, SnapshotStore, SNAPSHOTS_DIR } from '../../snapshots/store';

export const modelRestoreFixer: Fixer = {
  name: 'model_restore',
  description: "restores a coding-agent model file that differs from its manifest from the baseline snapshot, and restarts the agent",
  handles: (e) => e.kind === 'model_corruption',
  async propose(input: FixerInput): Promise<ChangeSet | null> {
    const bad = corruptModels(input.stateDir);
    if (bad.length === 0) return null;
    const snapshots = await new SnapshotStore(input.stateDir).listLabel(MODEL_SNAPSHOT_LABEL);
    const files: ChangeSet['files'] = [];
    for (const m of bad) {
      // The newest baseline holding the file with the manifest's checksum, and a copy that still has it.
      const snap = snapshots.find((s) => s.files.some((f) => f.path === m.file && f.sha256 === m.expected));
      if (!snap) return null;
      const copy = path.join(input.stateDir, SNAPSHOTS_DIR, snap.label, snap.id, 'files', m.file);
      if ((await sha256File(copy).catch(() => null)) !== m.expected) return null;
      files.push({ root: 'state', path: m.file, content: { encoding: 'base64', data: (await readFile(copy)).toString('base64') }, source: `snapshot:${snap.id}` });
    }
    return {
      fixer: 'model_restore',
      params: { files: bad.map((m) => m.file) },
      summary: `${bad.map((m) => m.file).join(', ')} differ from the manifest; restore from the model baseline`,
      files,
      commands: [],
      restartKernel: 'coding_agent',
    };
  },
};
