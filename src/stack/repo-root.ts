/** The repository's root: its own module so the CLI's registration can name paths without loading tools.ts. */
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
