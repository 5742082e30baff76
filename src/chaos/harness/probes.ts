/**
 * The card probes (src/chaos/cards/format.ts `ProbeSchema`), each reading the system itself — the
 * kernels' self-tests, the process table, the log's chain, the bus's enforced rules, files and
 * checksums — and throwing a ProbeError that says what is wrong. The steady-state hypothesis and
 * the recovery gate are lists of them.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { Probe } from '../cards/format';
import { ProbeError, logChainVerifies, type ScenarioContext } from '../probes';
import { failedChecks } from '../../stack/kernel-readiness';
import { KERNEL_NAMES, type KernelName } from '../../domain/kernels';
import { procStatFields } from '../../process/manager';
import { assertBusAnswers, assertEveryUserEnforced } from '../verify-bus';
import { readManifest, MODELS_DIR } from '../../coding-agent/models';
import { sha256File } from '../../snapshots/store';
import { snapshottedSealedSegment } from '../faults/log';
import { REPO_ROOT } from '../../stack/tools';
import { loadConfig } from '../../config/load';
import { immutableLogClient } from '../../../kernels/registry';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectBus } from '../../clients/bus';
import { loadPolicy, policyFileOf } from '../../../kernels/message-bus/policy';

const stopped = (pid: number | null): boolean => pid !== null && ['T', 't'].includes(procStatFields(pid)?.[0] ?? '');

async function check(ctx: ScenarioContext, p: Probe): Promise<void> {
  switch (p.probe) {
    case 'kernel_ready':
    case 'all_kernels_ready': {
      const kernels = p.probe === 'kernel_ready' ? [p.kernel as KernelName] : KERNEL_NAMES;
      const failed = await failedChecks(ctx, kernels);
      if (failed.length > 0) throw new ProbeError(`not ready: ${failed.slice(0, 3).join('; ')}`);
      return;
    }
    case 'process_running': {
      const pid = ctx.pm.pid(p.process);
      if (pid === null) throw new ProbeError(`${p.process} is not running`);
      if (stopped(pid)) throw new ProbeError(`${p.process} (pid ${pid}) is stopped`);
      return;
    }
    case 'process_gone': {
      const pid = ctx.pm.pid(p.process);
      if (pid !== null) throw new ProbeError(`${p.process} still runs (pid ${pid})`);
      return;
    }
    case 'log_chain_verifies':
      return logChainVerifies(ctx);
    case 'sealed_segment_snapshotted':
      return sealedSegmentInSnapshot(ctx);
    case 'bus_answers':
      await assertBusAnswers(ctx.config);
      await assertEveryUserEnforced(ctx.config);
      return;
    case 'no_process_stopped': {
      const halted = ctx.pm.list().filter((n) => stopped(ctx.pm.pid(n)));
      if (halted.length > 0) throw new ProbeError(`stopped (SIGSTOP): ${halted.join(', ')}`);
      return;
    }
    case 'model_matches_manifest': {
      const manifest = readManifest(ctx.config.stateDir);
      if (!manifest) throw new ProbeError('the coding agent has no model manifest');
      for (const [name, sha] of Object.entries(manifest.files)) {
        const now = await sha256File(path.join(ctx.config.stateDir, MODELS_DIR, name)).catch(() => null);
        if (now !== sha) throw new ProbeError(`${MODELS_DIR}/${name} has SHA-256 ${now}, its manifest says ${sha}`);
      }
      return;
    }
    case 'code_parses': {
      const file = path.join(REPO_ROOT, p.file);
      if (spawnSync(process.execPath, ['--check', file]).status !== 0) throw new ProbeError(`${p.file} does not parse`);
      return;
    }
    case 'package_installed':
      if (!existsSync(path.join(REPO_ROOT, 'node_modules', p.package, 'package.json'))) throw new ProbeError(`node_modules/${p.package} is not installed`);
      return;
    case 'log_quota_below_threshold': {
      const { usage } = await immutableLogClient(ctx.config, 10_000).usage();
      const percent = (usage.quotaFraction ?? 0) * 100;
      if (percent >= ctx.config.detectors.logQuota.percent) throw new ProbeError(`the log uses ${percent.toFixed(1)} % of its quota (alert at ${ctx.config.detectors.logQuota.percent} %)`);
      return;
    }
    case 'queues_below_threshold':
      return queuesBelowThreshold(ctx);
    case 'config_valid':
      try {
        loadConfig(ctx.config.configFile);
      } catch (err) {
        throw new ProbeError(`${ctx.config.configFile} does not validate: ${(err as Error).message.split('\n')[0]}`);
      }
      return;
  }
}

/**
 * The integrity repair restores a corrupt segment from the newest snapshot that holds it: a drill
 * that corrupts one is only fair when such a copy exists and is the segment as it is now (a copy
 * taken while it was still being written would lose the entries after it). The fault corrupts that
 * segment ({@link snapshottedSealedSegment}), so the probe asks for one, not for the newest
 * sealed segment: the log seals new ones all the time, and a probe on the newest would fail again
 * after every drill until the next snapshot.
 */
async function sealedSegmentInSnapshot(ctx: ScenarioContext): Promise<void> {
  const found = await snapshottedSealedSegment(ctx.config);
  if (found.segment === null) throw new ProbeError(`${found.why}: the integrity repair would have nothing to restore; the snapshot schedule takes one, or \`layer1 snapshots take --type log_segments\` now`);
}

async function queuesBelowThreshold(ctx: ScenarioContext): Promise<void> {
  const max = ctx.config.detectors.queueBacklog.maxPending;
  const policy = loadPolicy(policyFileOf(ctx.config));
  const nc = await connectBus(ctx.config, { name: 'layer1-chaos-probe-queues' });
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    const over: string[] = [];
    for (const [stream, s] of Object.entries(policy.streams)) {
      for (const consumer of Object.keys(s.consumers)) {
        const pending = (await jsm.consumers.info(stream, consumer).catch(() => null))?.num_pending;
        if (pending === undefined) over.push(`${stream}/${consumer} missing`);
        else if (pending > max) over.push(`${stream}/${consumer} ${pending} pending`);
      }
    }
    if (over.length > 0) throw new ProbeError(`over ${max} pending: ${over.join(', ')}`);
  } finally {
    await nc.close();
  }
}

/** Each probe's failure, as `probe: why`; empty when all hold. */
export async function failingProbes(ctx: ScenarioContext, probes: readonly Probe[]): Promise<string[]> {
  const failed: string[] = [];
  for (const p of probes) {
    try {
      await check(ctx, p);
    } catch (err) {
      failed.push(`${p.probe}${'kernel' in p ? `(${p.kernel})` : 'process' in p ? `(${p.process})` : ''}: ${(err as Error).message}`);
    }
  }
  return failed;
}
