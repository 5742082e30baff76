/**
 * Exit codes and the error classes the CLI turns into them. Scripts depend on these numbers.
 */

export const ExitCode = {
  OK: 0,
  /** The operation ran and failed (a check failed, a workflow failed, the stack is unhealthy). */
  FAILURE: 1,
  /** Bad command-line usage. */
  USAGE: 2,
  /** The configuration file is invalid. */
  CONFIG: 3,
  /** A prerequisite (tool, binary, server) is missing or unreachable. */
  PREREQUISITE: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error meant for the person at the terminal: printed without a stack trace. */
export class UserError extends Error {
  override name = 'UserError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.FAILURE,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A required tool or server is missing; the message says how to get it. */
export class PrerequisiteError extends UserError {
  override name = 'PrerequisiteError';
  constructor(
    readonly what: string,
    readonly howToGet: string,
    options?: { cause?: unknown },
  ) {
    super(`missing prerequisite: ${what}. ${howToGet}`, ExitCode.PREREQUISITE, options);
  }
}
