/**
 * The immutable log's detectors, through its loopback API:
 *  - integrity: an incremental verify on a period (`detectors.logIntegrity.everyMs`): the entries
 *    appended since the last round, and a rolling re-check of `sweepSegmentsPerRound` sealed
 *    segments by their SHA-256, so a round's cost does not grow with the log's history and a
 *    flipped byte in any sealed segment is found within ceil(segments / sweepSegmentsPerRound)
 *    rounds; a failure names the first bad entry and its segment, which is what the repair
 *    playbook restores;
 *  - quota: the log's usage against its quota (`detectors.logQuota.percent`).
 * An unreachable log API finds nothing here: the liveness probe reports that.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { immutableLogClient } from '../../../kernels/registry';
import { logIntegrityConfig, logQuotaConfig } from './immutable-log.config';
import { defineDetector } from './types';

export const logIntegrity = defineDetector({
  name: 'log_integrity',
  config: logIntegrityConfig,
  kinds: ['log_corruption'],
  createState: () => undefined,
  async check({ config }, { sweepSegmentsPerRound }) {
    // Usually a few MB; the first round after a restart without a checkpoint is a full verify.
    const result = await immutableLogClient(config, 60_000).verify({ sweepSegments: sweepSegmentsPerRound }, 60_000);
    if (result.ok || !result.failure) return [];
    const f = result.failure;
    const archived = !existsSync(path.join(config.stateDir, 'log', 'segments', f.segment));
    const file = archived ? path.join(config.stateDir, 'log', 'archive', f.segment) : path.join(config.stateDir, 'log', 'segments', f.segment);
    // The file's inode is part of the episode: a restore replaces the file (a new inode), so a
    // corruption of the same entry after a repair is a new episode even when no round of this
    // detector saw the log clean in between; a corruption that persists keeps its inode.
    const inode = statSync(file, { throwIfNoEntry: false })?.ino ?? 0;
    return [
      {
        kind: 'log_corruption',
        kernel: 'immutable_log',
        process: 'immutable-log',
        key: `${f.segment}:${f.seq}:${inode}`,
        detail: `chain broken at seq ${f.seq} in ${f.segment}: ${f.reason} (${f.detail})`,
        // The verify's error, as the log's readiness check words it.
        text: `${f.reason} at seq ${f.seq} in ${f.segment}: ${f.detail}`,
        data: {
          seq: f.seq,
          reason: f.reason,
          // The segment as a path relative to the state directory: what restore_from_snapshot takes.
          segment: archived ? `log/archive/${f.segment}` : `log/segments/${f.segment}`,
          archived,
        },
      },
    ];
  },
});

export const logQuota = defineDetector({
  name: 'log_quota',
  config: logQuotaConfig,
  kinds: ['log_quota'],
  createState: () => undefined,
  async check({ config }, { percent: alertAt }) {
    const { usage } = await immutableLogClient(config).usage();
    if (usage.quotaFraction === null) return [];
    const percent = Math.round(usage.quotaFraction * 1000) / 10;
    if (percent < alertAt) return [];
    return [
      {
        kind: 'log_quota',
        kernel: 'immutable_log',
        process: 'immutable-log',
        key: 'quota',
        detail: `the log uses ${percent}% of its ${Math.round((usage.quotaBytes ?? 0) / 1048576)} MB quota (alert at ${alertAt}%)`,
        data: { percent, usedBytes: usage.usedBytes, quotaBytes: usage.quotaBytes ?? 0, archiveBytes: usage.archiveBytes },
      },
    ];
  },
});
