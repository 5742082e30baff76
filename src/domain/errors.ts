/**
 * Error text for reports and logs. Pure (no Node built-ins, no I/O), so workflow code may use it as
 * well as the CLI, the stack and the activities.
 */
import { ActivityFailure } from '@temporalio/common';

/**
 * One line for an error: an activity's failure by what the activity threw (its cause), any other
 * error by its message, with its cause's message after it when that says something more.
 */
export function errorText(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return `${err.cause.message}`;
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error && cause.message !== err.message ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}
