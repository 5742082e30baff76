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
