/** Where failure cards live by default: its own module so the CLI's registration can name it cheaply. */
import path from 'node:path';
import { REPO_ROOT } from '../../stack/repo-root';

export const DEFAULT_CARD_DIR = path.join(REPO_ROOT, 'chaos', 'cards');
