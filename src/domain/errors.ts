/**
 * Error text for reports and logs. Pure (no Node built-ins, no I/O), so workflow code may use it as
 * well as the CLI, the stack and the activities.
 */
/**
 * One line for an error: an activity's failure by what the activity threw (its cause), any other
 * error by its message, with its cause's message after it when that says something more. The SDK's
 * `ActivityFailure` is known by its name (the SDK's own `instanceof` checks the same name), so this
 * module loads nothing: `layer1 status` uses it without the SDK.
 */
export function errorText(err: unknown): string {
  const cause = err instanceof Error ? (err as { cause?: unknown }).cause : undefined;
  if (err instanceof Error && err.name === 'ActivityFailure' && cause) return `${(cause as Error).message}`;
  if (err instanceof Error) {
    return cause instanceof Error && cause.message !== err.message ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}
