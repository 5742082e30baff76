/**
 * Kernel benchmark on its own stack (bench/layer1.bench.yaml):
 *  - boot start → all kernels ready, with the stack and workers up: the first boot (kernels not yet
 *    started) and repeated boots of a running system;
 *  - kill -9 of each kernel's process → ready again, N kills per kernel: detection (evidence seen)
 *    and ready (the control plane's self-test passed), p50 and p99. A worker kernel's process is
 *    replaced by its warm spare (workers.standby): each kill waits until the spare started after
 *    the previous one is warm.
 *
 *   npm run build && node dist/bench/kernels.js [--kills 20] [--boots 10]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connectClient } from '../src/clients/temporal';
import { connectStore } from '../src/clients/store';
import type { KernelName } from '../src/domain/kernels';
import { EVIDENCE_COLLECTION } from '../src/clients/collections';
import { fromKernelUnwell } from '../src/healing/evidence';
import { controlPlaneStatus } from '../src/stack/kernel-status';
import { processManager, stopAll } from '../src/stack/stack';
import { bootInput } from '../src/clients/starters';
import type { BootReport } from '../contracts/boot';
import { benchConfig, freshStack, percentile, printTable } from './support';
import { BOOT_WORKFLOW_ID, BOOT_WORKFLOW, type BootWorkflow } from '../contracts/boot';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const log = (m: string): void => {
  process.stderr.write(`• ${m}\n`);
};

async function main(): Promise<void> {
  const kills = arg('kills', 20);
  const boots = arg('boots', 10);
  const config = benchConfig();
  const pm = processManager(config);
  await freshStack(config);
  const client = await connectClient(config);
  const store = await connectStore(config);
  const rows: Array<Record<string, string | number>> = [];
  try {
    const bootOnce = async (i: number): Promise<number> => {
      const t = performance.now();
      const report = (await client.workflow.execute<BootWorkflow>(BOOT_WORKFLOW, {
        taskQueue: config.temporal.taskQueues.healing,
        workflowId: `${BOOT_WORKFLOW_ID}-bench-${Date.now()}-${i}`,
        args: [bootInput(config)],
      })) as BootReport;
      if (!report.ok) throw new Error(`boot failed: ${report.failedChecks.join('; ')}`);
      return performance.now() - t;
    };
    const first = await bootOnce(0);
    log(`first boot: ${first.toFixed(0)} ms`);
    const again: number[] = [];
    for (let i = 1; i <= boots; i++) again.push(await bootOnce(i));
    rows.push({ measure: 'boot start → all ready, first boot (stack up)', p50: `${first.toFixed(0)} ms`, p99: '—', n: 1, target: '≤ 3000 ms' });
    rows.push({ measure: 'boot start → all ready, running system', p50: `${percentile(again, 50).toFixed(0)} ms`, p99: `${percentile(again, 99).toFixed(0)} ms`, n: again.length, target: '≤ 3000 ms' });

    const targets: Array<[KernelName, string]> = [
      ['message_bus', 'bus'],
      ['immutable_log', 'immutable-log'],
      ['coding_agent', 'coding-agent-1'],
      ['self_healing', 'healing-2'],
    ];
    for (const [kernel, proc] of targets) {
      const detect: number[] = [];
      const ready: number[] = [];
      let spareWaits = 0;
      for (let i = 0; i < kills; i++) {
        // A worker's replacement is its warm spare (workers.standby): a kill is measured once the
        // spare started after the previous kill has finished loading, as it would have in any
        // failure that does not follow another within seconds.
        const spareDeadline = Date.now() + 30_000;
        if (config.workers.standby && (kernel === 'self_healing' || kernel === 'coding_agent')) {
          if (!pm.standbyInfo(proc).warm) spareWaits++;
          while (!pm.standbyInfo(proc).warm) {
            if (Date.now() > spareDeadline) throw new Error(`${proc}'s spare is not warm 30 s after the last kill`);
            await sleep(50);
          }
        }
        const before = (await controlPlaneStatus(client))!.kernels[kernel];
        const pid = pm.pid(proc);
        if (!pid) throw new Error(`${proc} is not running`);
        const killedAt = Date.now();
        process.kill(pid, 'SIGKILL');
        const deadline = Date.now() + 30_000;
        for (;;) {
          const rec = (await controlPlaneStatus(client))?.kernels[kernel];
          if (rec && rec.restarts > before.restarts && rec.readySince && Date.parse(rec.readySince) >= killedAt) {
            ready.push(Date.parse(rec.readySince) - killedAt);
            break;
          }
          if (Date.now() > deadline) throw new Error(`${kernel} not ready 30 s after kill ${i + 1}`);
          await sleep(20);
        }
        const id = fromKernelUnwell({ kernel, process: proc, pid, reason: 'exited', detail: '', at: 0, observer: '' }).id;
        const ev = await store.db.collection(EVIDENCE_COLLECTION).findOne({ _id: id as never });
        if (ev?.firstSeen) detect.push((ev.firstSeen as Date).getTime() - killedAt);
        // Let the replacement settle (its bus connections, its pollers) before the next kill.
        await sleep(300);
      }
      log(`${kernel}: ready p50 ${percentile(ready, 50)} ms over ${ready.length} kills`);
      rows.push({
        measure: `kill -9 ${proc} → ${kernel} ready again`,
        p50: `${percentile(ready, 50)} ms`,
        p99: `${percentile(ready, 99)} ms`,
        n: ready.length,
        target: 'p50 ≤ 1000, p99 ≤ 3000 ms',
      });
      if (spareWaits > 0) log(`${proc}: waited for a warm spare before ${spareWaits} of ${kills} kills`);
      rows.push({ measure: `  of which: detection (evidence recorded)`, p50: `${percentile(detect, 50)} ms`, p99: `${percentile(detect, 99)} ms`, n: detect.length, target: '—' });
    }
  } finally {
    await client.connection.close();
    await store.close();
    await stopAll(config, () => undefined);
  }
  console.log(`\nLayer 1 kernel benchmark (${new Date().toISOString()})\n`);
  printTable(rows);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
