/**
 * The snapshot types: what boot phase 6 and the hourly snapshot schedule copy, each into a label of
 * its own (`snapshots/<type>/<type>-<time>-<key>/`), defined once here so the workflow, the CLI and
 * the docs list the same ones.
 *
 * Each type says where its files come from and, where a file has a known-good checksum (a model
 * file's manifest, a sealed log segment's), that checksum: a damaged file is refused rather than
 * kept as a restore point that a later restore would faithfully put back.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { LoadedConfig } from '../config/load';
import { DEFAULT_PLAYBOOK_DIR } from '../playbooks/default-dir';
import { REPO_ROOT } from '../stack/repo-root';
import { MODELS_DIR, readManifest as readModelManifest } from '../coding-agent/models';
import { policyFileOf } from '../../kernels/message-bus/policy';
import { renderedFileOf } from '../../kernels/message-bus/render';
import { SnapshotStore, type SnapshotSource } from './store';
import { SNAPSHOT_TYPES, type SnapshotType } from './type-names';

export { SNAPSHOT_TYPES, type SnapshotType };

export interface SnapshotTypeDef {
  type: SnapshotType;
  description: string;
  /** What to copy now; empty when there is nothing of this type yet (e.g. no sealed segment). */
  sources(config: LoadedConfig): SnapshotSource[];
}

/** The root a file belongs to: the state directory first, then the config file's directory, then the project. */
function sourceOf(config: LoadedConfig, abs: string, sha256?: string): SnapshotSource {
  const within = (dir: string): string | null => {
    const rel = path.relative(path.resolve(dir), abs);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : null;
  };
  for (const [root, dir] of [['state', config.stateDir], ['config', config.rootDir], ['project', REPO_ROOT]] as const) {
    const rel = within(dir);
    if (rel !== null) return { root, path: rel, ...(sha256 ? { sha256 } : {}) };
  }
  // Outside every root: the take refuses it (PathEscapeError), and the phase says so.
  return { root: 'project', path: abs };
}

/** The immutable log's directory (the kernel's `--dir`). */
function logDir(config: LoadedConfig): string {
  return path.join(config.stateDir, 'log');
}

export const SNAPSHOT_TYPE_DEFS: Record<SnapshotType, SnapshotTypeDef> = {
  models: {
    type: 'models',
    description: "the coding agent's model files and their manifest (`<stateDir>/models/`), each file checked against the manifest",
    sources(config) {
      const manifest = readModelManifest(config.stateDir);
      if (!manifest) return [];
      const dir = path.join(config.stateDir, MODELS_DIR);
      return [
        sourceOf(config, path.join(dir, 'manifest.json')),
        ...Object.entries(manifest.files).map(([name, sha]) => sourceOf(config, path.join(dir, name), sha)),
      ];
    },
  },
  configs: {
    type: 'configs',
    description: 'the config file in use (`temporal.config.yaml`), the bus ACL policy and the rendered bus config (`bus/nats.conf`; for an external bus `bus/authorization.conf`)',
    sources(config) {
      const files = [config.configFile, policyFileOf(config), renderedFileOf(config)];
      return [...new Set(files.map((f) => path.resolve(f)))].filter((f) => existsSync(f)).map((f) => sourceOf(config, f));
    },
  },
  playbooks: {
    type: 'playbooks',
    description: 'the playbook files (`playbooks/`)',
    sources: (config) => (existsSync(DEFAULT_PLAYBOOK_DIR) ? [sourceOf(config, DEFAULT_PLAYBOOK_DIR)] : []),
  },
  log_segments: {
    type: 'log_segments',
    description: "the immutable log's sealed segments (`log/segments/`), each checked against the log's manifest",
    sources(config) {
      const file = path.join(logDir(config), 'manifest.json');
      if (!existsSync(file)) return [];
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as { segments?: Array<{ name: string; sha256: string; archive?: unknown; removedAt?: string }> };
      // Archived segments are compressed elsewhere and no longer under segments/.
      return (manifest.segments ?? [])
        .filter((s) => !s.archive && !s.removedAt)
        .map((s) => sourceOf(config, path.join(logDir(config), 'segments', s.name), s.sha256));
    },
  },
};

/** The store with every root a typed snapshot uses, so a restore can put each file back in its own. */
export function typedSnapshotStore(config: LoadedConfig): SnapshotStore {
  return new SnapshotStore(config.stateDir, { project: REPO_ROOT, config: config.rootDir });
}
