/**
 * The coding agent's model files: what its fixers load at start, under `<stateDir>/models/`, with
 * a manifest of SHA-256 checksums and a baseline snapshot. The model-checksum detector compares the
 * files with the manifest, and the model_corruption playbook restores a bad one from the snapshot.
 *
 * Today the one model is the fixer catalogue (`fixers.json`: each fixer's name and what it reads);
 * a learned model would live beside it under the same manifest.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SnapshotStore, writeFileAtomic } from '../snapshots/store';
import { FIXER_NAMES } from './fixers/signature-lookup';

export const MODELS_DIR = 'models';
export const MODEL_FILES = ['fixers.json'] as const;
export const MODEL_SNAPSHOT_LABEL = 'model-baseline';

export interface ModelManifest {
  version: 1;
  files: Record<string, string>;
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function fixerCatalogue(): string {
  const fixers = FIXER_NAMES.map((name) => ({ name, reads: 'knowledge', version: 1 }));
  return `${JSON.stringify({ version: 1, fixers }, null, 2)}\n`;
}

export function manifestPath(stateDir: string): string {
  return path.join(stateDir, MODELS_DIR, 'manifest.json');
}

export function readManifest(stateDir: string): ModelManifest | null {
  const file = manifestPath(stateDir);
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as ModelManifest;
}

/**
 * Writes the model files and their manifest when they are missing, and takes the baseline snapshot
 * (its id is derived from the manifest, so a restart of the agent takes none twice). An existing
 * file is never overwritten here: a corrupt one is for the detector to see and a playbook to
 * restore, not for a restart to paper over.
 */
export async function ensureModels(stateDir: string): Promise<ModelManifest> {
  const dir = path.join(stateDir, MODELS_DIR);
  mkdirSync(dir, { recursive: true });
  let manifest = readManifest(stateDir);
  if (!manifest) {
    const files: Record<string, string> = {};
    for (const name of MODEL_FILES) {
      const content = fixerCatalogue();
      const file = path.join(dir, name);
      if (!existsSync(file)) await writeFileAtomic(file, content);
      files[name] = sha256(content);
    }
    manifest = { version: 1, files };
    await writeFileAtomic(manifestPath(stateDir), `${JSON.stringify(manifest, null, 2)}\n`);
  }
  const id = `${MODEL_SNAPSHOT_LABEL}-${sha256(JSON.stringify(manifest)).slice(0, 12)}`;
  await new SnapshotStore(stateDir).take({ id, label: MODEL_SNAPSHOT_LABEL, paths: MODEL_FILES.map((f) => `${MODELS_DIR}/${f}`) });
  return manifest;
}

/** Model files whose checksum differs from the manifest (or that are missing). */
export function corruptModels(stateDir: string): Array<{ file: string; expected: string; actual: string | null }> {
  const manifest = readManifest(stateDir);
  if (!manifest) return [];
  const out: Array<{ file: string; expected: string; actual: string | null }> = [];
  for (const [name, expected] of Object.entries(manifest.files)) {
    const file = path.join(stateDir, MODELS_DIR, name);
    const actual = existsSync(file) ? sha256(readFileSync(file)) : null;
    if (actual !== expected) out.push({ file: `${MODELS_DIR}/${name}`, expected, actual });
  }
  return out;
}

/** The models a running agent works with: each file's SHA-256 as it was read, and the fixers it enables. */
export interface LoadedModels {
  /** File name → SHA-256 of the bytes loaded; what the agent's registration and readiness report. */
  files: Record<string, string>;
  /** The fixer catalogue's fixers, in the file's order. */
  fixers: string[];
}

/** A model file that does not match the manifest: the agent refuses to work from it. */
export class ModelCorruptError extends Error {
  override name = 'ModelCorruptError';
}

/**
 * Reads the model files the agent works with, checking each against the manifest first: a corrupt
 * file is refused (the agent then registers no fixer and its readiness fails, until the
 * model_file_corruption playbook restores the file and restarts it), never half used.
 */
export function loadModels(stateDir: string): LoadedModels {
  const manifest = readManifest(stateDir);
  if (!manifest) throw new ModelCorruptError(`${manifestPath(stateDir)} is missing`);
  const files: Record<string, string> = {};
  let fixers: string[] = [];
  for (const name of MODEL_FILES) {
    const file = path.join(stateDir, MODELS_DIR, name);
    if (!existsSync(file)) throw new ModelCorruptError(`${MODELS_DIR}/${name} is missing`);
    const bytes = readFileSync(file);
    const actual = sha256(bytes);
    if (actual !== manifest.files[name]) {
      throw new ModelCorruptError(`${MODELS_DIR}/${name} has SHA-256 ${actual.slice(0, 12)}…, its manifest says ${(manifest.files[name] ?? 'nothing').slice(0, 12)}…`);
    }
    files[name] = actual;
    if (name === 'fixers.json') {
      const catalogue = JSON.parse(bytes.toString('utf8')) as { fixers?: Array<{ name?: unknown }> };
      fixers = (catalogue.fixers ?? []).map((f) => String(f.name));
    }
  }
  return { files, fixers };
}
