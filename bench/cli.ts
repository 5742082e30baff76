/**
 * CLI responsiveness on its own stack (bench/layer1.bench.yaml, or `--config FILE`): the wall time
 * of whole `layer1` processes, median of N runs each after one warm-up, beside the Temporal CLI's
 * `temporal workflow list` against the same server and Node's own start, with the targets of issue #15:
 *  - `layer1 --help` and a usage error (an unknown verb): ≤ 150 ms;
 *  - `layer1 status --json` (the control plane's last self-tests, pid files, heartbeats): ≤ 300 ms;
 *  - `layer1 status --deep --json` (every kernel's self-test run now): reported, no target.
 * The stack is started and booted first and stopped afterwards.
 *
 *   npm run build && npm run bench:cli [-- --config FILE] [--runs 20]
 */
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import { connectClient } from '../src/clients/temporal';
import { stopAll, workerStatuses } from '../src/stack/stack';
import { REPO_ROOT, toolPaths } from '../src/stack/tools';
import { runBoot } from '../scripts/kernel-verbs';
import { benchConfig, freshStack, percentile, printTable } from './support';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const log = (m: string): void => {
  process.stderr.write(`• ${m}\n`);
};

interface Measure {
  measure: string;
  command: string[];
  /** The exit code every run must have. */
  code: number;
  target: string;
}

/** Median wall time of `runs` runs (after one warm-up); fails on an unexpected exit code. */
function time(m: Measure, runs: number): number {
  const once = (): number => {
    const t = process.hrtime.bigint();
    const res = spawnSync(m.command[0], m.command.slice(1), { cwd: REPO_ROOT, encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    if (res.status !== m.code) throw new Error(`${m.command.join(' ')}: exit ${res.status}, expected ${m.code}\n${res.stderr}${res.stdout.slice(0, 2000)}`);
    return ms;
  };
  once();
  return percentile(Array.from({ length: runs }, once), 50);
}

async function main(): Promise<void> {
  const runs = arg('runs', 20);
  const config = benchConfig();
  const layer1 = [process.execPath, path.join(REPO_ROOT, 'bin', 'layer1.js')];
  log(`starting the stack of ${config.configFile}`);
  await freshStack(config, log);
  const rows: Array<Record<string, string | number>> = [];
  try {
    const client = await connectClient(config);
    try {
      const boot = await runBoot(config, client);
      if (!boot.ok) throw new Error(`boot failed: ${boot.failedChecks.join('; ')}`);
      // After a boot the warm spares are started one by one, each loading the SDK: measuring then
      // would measure them. Wait until every spare is warm (or a minute).
      for (let t = Date.now(); Date.now() - t < 60_000; await sleep(1_000)) {
        const workers = await workerStatuses(config, client);
        if (workers.every((w) => !w.standby || w.standby.warm)) break;
      }
      log('every warm spare is warm');
    } finally {
      await client.connection.close();
    }
    const measures: Measure[] = [
      { measure: 'node -e 0 (Node alone: the floor)', command: [process.execPath, '-e', '0'], code: 0, target: '—' },
      { measure: 'layer1 --help', command: [...layer1, '--help'], code: 0, target: '≤ 150 ms' },
      { measure: 'layer1 nosuchverb (usage error)', command: [...layer1, 'nosuchverb'], code: 2, target: '≤ 150 ms' },
      { measure: 'layer1 status --json', command: [...layer1, '--config', config.configFile, 'status', '--json'], code: 0, target: '≤ 300 ms' },
      { measure: 'layer1 status --deep --json', command: [...layer1, '--config', config.configFile, 'status', '--deep', '--json'], code: 0, target: '—' },
      {
        measure: 'temporal workflow list (Temporal CLI)',
        command: [toolPaths().temporal, 'workflow', 'list', '--address', config.temporal.address, '--namespace', config.temporal.namespace, '--limit', '10'],
        code: 0,
        target: '— (reference)',
      },
    ];
    for (const m of measures) {
      log(`${m.measure}: ${runs} runs`);
      rows.push({ measure: m.measure, median: `${time(m, runs).toFixed(0)} ms`, runs, target: m.target });
    }
  } finally {
    await stopAll(config, () => undefined);
  }
  console.log(`\nLayer 1 CLI benchmark (${new Date().toISOString()}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})\n`);
  printTable(rows);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
