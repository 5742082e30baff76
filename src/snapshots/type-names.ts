/** The snapshot types' names alone, so the config schema can list them without loading what takes them (./types.ts). */
export const SNAPSHOT_TYPES = ['models', 'configs', 'playbooks', 'log_segments'] as const;
export type SnapshotType = (typeof SNAPSHOT_TYPES)[number];
