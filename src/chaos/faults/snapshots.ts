/** Snapshot faults: every snapshot moved out of sight, so none is fresh. */
import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { SNAPSHOTS_DIR } from '../../snapshots/store';
import type { FaultContext, Injected } from './types';

/**
 * Moves every complete snapshot (`snapshots/<label>/<id>/`) to `<stateDir>/snapshots-hidden-<ts>/`
 * (same file system, so each move is a rename), leaving no fresh snapshot. A take in progress (its
 * `.tmp-` directory) is left alone. `keepLabels` spares some labels.
 *
 * restore: moves them back, skipping any whose name exists again (a newer take of the same id).
 */
export async function hideSnapshots(
  ctx: FaultContext,
  options: { keepLabels?: string[] } = {},
): Promise<Injected<{ hiddenDir: string; moved: string[] }>> {
  const root = path.join(ctx.config.stateDir, SNAPSHOTS_DIR);
  const hiddenDir = path.join(ctx.config.stateDir, `${SNAPSHOTS_DIR}-hidden-${Date.now()}`);
  const moved: string[] = [];
  const dirs = (p: string): string[] => {
    try {
      return readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      return [];
    }
  };
  for (const label of dirs(root)) {
    if (options.keepLabels?.includes(label)) continue;
    for (const id of dirs(path.join(root, label))) {
      if (id.startsWith('.tmp-')) continue;
      mkdirSync(path.join(hiddenDir, label), { recursive: true });
      renameSync(path.join(root, label, id), path.join(hiddenDir, label, id));
      moved.push(`${label}/${id}`);
    }
  }
  return {
    detail: `moved ${moved.length} snapshot(s) to ${path.relative(ctx.config.stateDir, hiddenDir)}`,
    hiddenDir,
    moved,
    restore: async () => {
      for (const rel of moved) {
        const from = path.join(hiddenDir, rel);
        const to = path.join(root, rel);
        if (!existsSync(from) || existsSync(to)) continue;
        mkdirSync(path.dirname(to), { recursive: true });
        renameSync(from, to);
      }
      // Only empty directories go; a snapshot left behind (its name taken meanwhile) stays visible here.
      for (const label of dirs(hiddenDir)) {
        try {
          rmdirSync(path.join(hiddenDir, label));
        } catch {
          // Not empty.
        }
      }
      try {
        rmdirSync(hiddenDir);
      } catch {
        // Not empty, or already gone.
      }
    },
  };
}
