/**
 * Waiting on something that may never answer (a stopped store, a hung worker): one timer, always
 * cleared, so nothing keeps the process alive after the wait is over.
 */
export class DeadlineError extends Error {
  override name = 'DeadlineError';
}

/** `p`'s outcome, or a DeadlineError saying `${what} within ${ms} ms` when it takes longer. */
export async function withDeadline<T>(p: Promise<T>, ms: number, what = 'no answer'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what} within ${ms} ms`)), Math.max(1, ms));
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** `p`'s value, or `undefined` when it does not settle within `ms` (a rejection of `p` still rejects). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  try {
    return await withDeadline(p, ms);
  } catch (err) {
    if (err instanceof DeadlineError) return undefined;
    throw err;
  }
}
