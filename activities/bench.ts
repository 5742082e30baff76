/** A no-op activity for the benchmark floor. Idempotent: it has no side effect at all. */
export function createBenchActivities() {
  return {
    async noop(i: number): Promise<number> {
      return i;
    },
  };
}

export type BenchActivities = ReturnType<typeof createBenchActivities>;
