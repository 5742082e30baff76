/**
 * The immutable log kernel: Layer 1's audit trail.
 *
 * An append-only log of JSON entries, each carrying the SHA-256 of the one before, stored as
 * newline-delimited JSON in segment files under one directory:
 *
 *     segments/<16-digit first seq>.seg   one entry per line; sealed segments are read-only
 *     index/<first seq>.idx               seq → byte offset, 8 bytes per entry, rebuildable
 *     archive/<first seq>.seg.gz          gzipped sealed segments
 *     manifest.json                       each sealed segment's range, SHA-256, first link, last hash
 *     checkpoint.json                     the last verified seq + hash, for incremental verify
 *     LOCK                                pid of the one process holding the directory
 *
 * - {@link ImmutableLog} (`log.ts`): the library — open (torn-tail repair, `recovery.ts`), append
 *   (fsync before acknowledging, group commit, `append.ts`), read/tail/head (`segments.ts`,
 *   `segment-index.ts`), verify (full and incremental, `verify.ts`), archive and cleanup
 *   (`archive.ts`), quota (`quota.ts`) and disk space; `manifest.ts` and `types.ts` beside them.
 * - {@link checkReadiness} (`readiness.ts`): the kernel's self-test (writable, integrity, disk_space).
 * - {@link createLogServer} (`server.ts`) and `main.ts`: the kernel process and its loopback HTTP API.
 * - {@link ImmutableLogClient} (`client.ts`): how the rest of Layer 1 reaches the kernel.
 *
 * The format and the guarantees are written down in docs/immutable-log.md.
 */
export * from './errors';
export * from './format';
export * from './log';
export * from './readiness';
export { createLogServer, type LogServerOptions } from './server';
export * from './client';
