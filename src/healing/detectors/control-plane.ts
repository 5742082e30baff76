/**
 * The control plane, watched from outside it:
 *  - lost: its workflow exists and is closed (terminated, failed, timed out) — a boot started it,
 *    so any replica, leader since whenever, can tell it is gone;
 *  - deadlock: it does not answer its status query within `detectors.controlPlane.queryTimeoutMs`,
 *    or a kernel has stayed in one lifecycle transition (STARTING, RESTARTING) longer than
 *    `deadlockMs` — its lifecycle activity is stuck on a process that neither stops nor starts;
 *  - crash loop: it says a kernel is in a crash loop.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { withDeadline } from '../../deadline';
import { KERNEL_NAMES, KernelState } from '../../domain/kernels';
import { KERNELS } from '../../../kernels/registry';
import { CONTROL_PLANE_WORKFLOW_ID, getControlPlaneStatusQuery, type ControlPlaneStatus } from '../../../contracts/control-plane';
import { procStatFields } from '../../process/manager';
import { workerProcesses } from '../../stack/workers';
import { selfHealingManifest } from '../../../kernels/self-healing/kernel-manifest';
import { controlPlaneConfig } from './control-plane.config';
import { defineDetector, type Finding } from './types';

/** Status queries unanswered in a row that make a deadlock. */
const QUERY_FAILURES = 3;
const TRANSITIONS: readonly string[] = [KernelState.STARTING, KernelState.RESTARTING];

export const controlPlane = defineDetector({
  name: 'control_plane',
  config: controlPlaneConfig,
  kinds: ['control_plane_lost', 'control_plane_deadlock', 'crash_loop'],
  createState: () => ({
    /** Status queries unanswered in a row. */
    unanswered: 0,
    /** Per kernel: since when it has been in its current transition (keyed by state and restart time). */
    transitions: new Map<string, { key: string; since: number }>(),
    /**
     * Per kernel in a crash loop: the key of its episode, fixed when the loop is first seen. The
     * window's oldest restart slides on while the loop lasts, and a key taken from it each round
     * made a new episode (a second evidence, a second remedy) for one loop.
     */
    loops: new Map<string, string>(),
  }),
  async check({ config, temporal, pm }, { deadlockMs, queryTimeoutMs }, state) {
    const { transitions, loops } = state;
    const handle = temporal.workflow.getHandle(CONTROL_PLANE_WORKFLOW_ID);
    let status: string;
    let runId: string;
    try {
      const d = await handle.describe();
      status = d.status.name;
      runId = d.runId;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return []; // never started: boot has not reached phase 7
      throw err;
    }
    if (status !== 'RUNNING') {
      // It ran (it has a history) and does not run now: terminated, failed or timed out.
      return [
        {
          kind: 'control_plane_lost',
          kernel: 'self_healing',
          key: runId,
          detail: `the control plane workflow ${CONTROL_PLANE_WORKFLOW_ID} is ${status} (run ${runId})`,
          data: { status, runId },
        },
      ];
    }

    let cp: ControlPlaneStatus;
    try {
      cp = await withDeadline(handle.query(getControlPlaneStatusQuery), queryTimeoutMs);
    } catch (err) {
      // One slow answer is a busy worker (a replica just died and its sticky tasks move over):
      // several in a row is a control plane that cannot make progress.
      if (++state.unanswered < QUERY_FAILURES) return [];
      // The workers that run it: one that cannot move (stopped, or in uninterruptible I/O) may hold
      // its workflow (a sticky task queue answers only there): that process is what the playbook kills.
      const stuck = workerProcesses(config, selfHealingManifest).find((p) => ['T', 't', 'D'].includes(procState(pm.pid(p)) ?? ''));
      return [
        {
          kind: 'control_plane_deadlock',
          kernel: 'self_healing',
          ...(stuck ? { process: stuck, pid: pm.pid(stuck) } : {}),
          key: `query:${runId}`,
          detail:
            `the control plane did not answer ${state.unanswered} status queries in a row: ${(err as Error).message}` +
            (stuck ? `; ${stuck} is ${describeState(procState(pm.pid(stuck)))}` : '; no healing worker is stopped'),
          text: `the control plane did not answer its status query: ${(err as Error).message}`,
          data: { cause: 'query', runId, process: stuck ?? '' },
        },
      ];
    }
    state.unanswered = 0;

    const out: Array<Finding<'crash_loop' | 'control_plane_deadlock'>> = [];
    const now = Date.now();
    for (const k of KERNEL_NAMES) {
      const rec = cp.kernels[k];
      if (!rec.crashLoop) loops.delete(k);
      else {
        if (!loops.has(k)) loops.set(k, `${rec.recentRestarts[0] ?? 0}`);
        out.push({
          kind: 'crash_loop',
          kernel: k,
          key: loops.get(k)!,
          detail: `${k} is in a crash loop: ${rec.recentRestarts.length} restarts in the window; last: ${rec.lastReason ?? 'unknown'}`,
          data: { restarts: rec.restarts, recent: rec.recentRestarts.length, lastReason: rec.lastReason ?? '' },
        });
      }
      if (!TRANSITIONS.includes(rec.state)) {
        transitions.delete(k);
        continue;
      }
      const key = `${rec.state}:${rec.lastRestartAt ?? ''}`;
      const t = transitions.get(k);
      if (!t || t.key !== key) {
        transitions.set(k, { key, since: now });
        continue;
      }
      if (now - t.since < deadlockMs) continue;
      // A slow start is not a deadlock: only a transition waiting on a process that cannot move
      // (stopped, or in uninterruptible I/O) is, and that process is what the playbook kills.
      const stuck = KERNELS[k].processes(config).find((p) => ['T', 't', 'D'].includes(procState(pm.pid(p)) ?? ''));
      if (!stuck) continue;
      out.push({
        kind: 'control_plane_deadlock',
        kernel: k,
        process: stuck,
        pid: pm.pid(stuck),
        key,
        detail: `${k} has been ${rec.state} for ${Math.round((now - t.since) / 1000)} s (threshold ${deadlockMs} ms); ${stuck} is ${describeState(procState(pm.pid(stuck)))}`,
        data: { state: rec.state, stuckMs: now - t.since, process: stuck, cause: 'transition' },
      });
    }
    return out;
  },
});


/** The one-letter state of /proc/PID/stat (R, S, D, T, Z…); null when gone. */
export function procState(pid: number | null): string | null {
  return pid === null ? null : (procStatFields(pid)?.[0] ?? null);
}

function describeState(s: string | null): string {
  return s === null ? 'gone' : s === 'T' ? 'stopped (SIGSTOP)' : s === 'D' ? 'in uninterruptible I/O' : s === 'Z' ? 'a zombie' : `in state ${s}`;
}
