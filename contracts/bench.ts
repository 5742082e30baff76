/** Contract of the benchmarks' floor workflow (workflows/bench.ts): N no-op activities in sequence. */
export const NOOP_ACTIVITIES_WORKFLOW = 'noopActivitiesWorkflow';
export type NoopActivitiesWorkflow = (count: number) => Promise<number>;
