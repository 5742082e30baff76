/**
 * YAML files of a folder and their texts, for the loaders that validate a folder of YAML documents
 * at once (playbooks, failure cards): which files, and each one's text or why it cannot be read.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** Every `*.yaml` and `*.yml` file under `dir` (recursively), sorted; none when `dir` does not exist. */
export function yamlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && /\.ya?ml$/.test(entry.name)) files.push(path.join(entry.parentPath, entry.name));
  }
  return files.sort();
}

/** The texts of `files` (a directory stands for its YAML files), and the ones that could not be read, with why. */
export function readYamlSources(files: readonly string[]): { sources: Array<{ file: string; text: string }>; unreadable: Array<{ file: string; message: string }> } {
  const sources: Array<{ file: string; text: string }> = [];
  const unreadable: Array<{ file: string; message: string }> = [];
  const expanded = files.flatMap((f) => (existsSync(f) && statSync(f).isDirectory() ? yamlFiles(f) : [f]));
  for (const file of expanded) {
    try {
      sources.push({ file, text: readFileSync(file, 'utf8') });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      unreadable.push({ file, message: code === 'ENOENT' ? 'file not found' : `cannot read: ${String(err)}` });
    }
  }
  return { sources, unreadable };
}

/** True when the last key of `segments` is absent from its (existing) parent in `source`. */
export function isMissing(source: unknown, segments: ReadonlyArray<string | number>): boolean {
  let value: unknown = source;
  for (const [i, s] of segments.entries()) {
    if (!isObject(value) && !Array.isArray(value)) return false;
    if (!(s in value)) return i === segments.length - 1;
    value = (value as Record<string | number, unknown>)[s];
  }
  return false;
}

export function isObject(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Problems by file, then line and column, so they read top to bottom like the files. */
export function sortByPosition<P extends { file: string; line?: number; col?: number }>(problems: readonly P[]): P[] {
  return [...problems].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}
