/**
 * Proposals: files a fixer proposes that are too many or too large to travel in a change set
 * through the workflow's history (a package restored from the npm cache is a hundred files and a
 * megabyte). The fixer writes them under `<stateDir>/coding-agent/proposals/<key>/`, and the change
 * set names each by its path there (`content: { encoding: 'proposal', data }`); staging reads them
 * like any other new content, hashes them and keeps them in its own record, so a proposal removed
 * afterwards changes nothing that was staged.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../snapshots/store';
import { refuseUnsafePath, UnsafeChangeError, type FileChange } from './change-set';

export const PROPOSALS_DIR = path.join('coding-agent', 'proposals');

export const proposalsDirOf = (stateDir: string): string => path.join(path.resolve(stateDir), PROPOSALS_DIR);

/**
 * Writes `files` (relative paths and bytes) under the proposal `key`, replacing an earlier proposal
 * of the same key, and returns their contents as change-set contents. Idempotent: same key, same bytes.
 */
export async function writeProposal(stateDir: string, key: string, files: Array<{ path: string; bytes: Buffer }>): Promise<Array<NonNullable<FileChange['content']>>> {
  if (!/^[A-Za-z0-9@][A-Za-z0-9@._+-]{0,127}$/.test(key)) throw new UnsafeChangeError(`proposal key "${key}": letters, digits, @ . _ + - only`);
  const dir = path.join(proposalsDirOf(stateDir), key);
  await rm(dir, { recursive: true, force: true });
  const out: Array<NonNullable<FileChange['content']>> = [];
  for (const f of files) {
    refuseUnsafePath({ root: 'state', path: f.path });
    const target = path.join(dir, f.path);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFileAtomic(target, f.bytes);
    out.push({ encoding: 'proposal', data: `${key}/${f.path}` });
  }
  return out;
}

/** The bytes of a proposed file; refused when the path leaves the proposals folder or the file is gone. */
export function readProposal(stateDir: string, rel: string, key: string): Buffer {
  refuseUnsafePath({ root: 'state', path: rel });
  try {
    return readFileSync(path.join(proposalsDirOf(stateDir), rel));
  } catch (err) {
    throw new UnsafeChangeError(`${key}: its proposed content ${rel} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
