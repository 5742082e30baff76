/**
 * A check is the unit of every self-test in Layer 1 (preflight now, kernel readiness later):
 * a name, pass/fail, a human detail and how long it took. Pure data, safe in workflow code.
 */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

/** Runs `fn`, timing it; an exception is a failed check whose detail is the error message. */
export async function timedCheck(name: string, fn: () => Promise<string>): Promise<CheckResult> {
  const started = Date.now();
  try {
    const detail = await fn();
    return { name, ok: true, detail, ms: Date.now() - started };
  } catch (err) {
    return { name, ok: false, detail: err instanceof Error ? err.message : String(err), ms: Date.now() - started };
  }
}
