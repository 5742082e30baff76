/** The knowledge base's errors the CLI prints as they are (src/errors.ts maps them to exit codes). */
import { ExitCode, UserError } from '../errors';

/** No knowledge-base entry has this signature. Exit code 2, as for any name the CLI does not know. */
export class UnknownSignatureError extends UserError {
  override name = 'UnknownSignatureError';
  constructor(readonly signature: string) {
    super(`no knowledge of signature ${signature} (see layer1 kb)`, ExitCode.USAGE);
  }
}

/** An entry kept changing under a compare-and-set longer than the retries allow. */
export class KnowledgeConflictError extends UserError {
  override name = 'KnowledgeConflictError';
  constructor(readonly signature: string, attempts: number) {
    super(`the knowledge-base entry ${signature} kept changing: gave up after ${attempts} attempts`);
  }
}
