/**
 * The control plane adopts kernels its state does not know, while it runs: a kernel added to the
 * registry after the control plane started (named by a boot, a trigger monitor's report or a
 * command) gets a record and is supervised like the others; one the registry does not know is
 * forgotten again. Time-skipping server, stub lifecycle activities that play the registry.
 */
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { WORKFLOW_FAILURE_ERROR_TYPES } from '../../workers/run-worker';
import {
  CONTROL_PLANE_WORKFLOW,
  CONTROL_PLANE_WORKFLOW_ID,
  getControlPlaneStatusQuery,
  kernelsBootedSignal,
  kernelUnwellSignal,
  startKernelUpdate,
  stopKernelUpdate,
  UNKNOWN_KERNEL,
  type ControlPlaneInput,
  type ControlPlaneStatus,
  type ControlPlaneWorkflow,
} from '../../contracts/control-plane';
import type { KernelActivities } from '../../activities/kernels';
import { KernelState } from '../../src/domain/kernel-state';
import type { KernelName } from '../../src/domain/kernels';
import { timeSkippingFixture } from '../support/time-skipping';
import { testConfig, uniqueId } from '../support/env';
import { failOverControlPlane } from '../../activities/actions/control-plane-client';
import { waitFor } from '../support/kernels';

/** The registry the stubs play: the four kernels, and `fake_kernel`, "added" to it. */
const REGISTRY: Record<string, string[]> = {
  message_bus: ['bus'],
  immutable_log: ['immutable-log'],
  self_healing: ['healing-1', 'healing-2'],
  coding_agent: ['coding-agent-1'],
  fake_kernel: ['fake-1'],
};

/** The messages of an error and its causes (an update's failure wraps the activity's). */
function causes(err: unknown): string {
  const out: string[] = [];
  for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) out.push(String(e.message));
  return out.join(' <- ');
}

function stubActivities(calls: string[]): Partial<KernelActivities> {
  let nextPid = 1000;
  const known = (k: string): string[] => {
    const procs = REGISTRY[k];
    if (!procs) throw ApplicationFailure.create({ type: UNKNOWN_KERNEL, nonRetryable: true, message: `unknown kernel "${k}"` });
    return procs;
  };
  return {
    async startKernel(kernel: string) {
      calls.push(`start ${kernel}`);
      return Object.fromEntries(known(kernel).map((p) => [p, nextPid++]));
    },
    async stopKernel(kernel: string) {
      calls.push(`stop ${kernel}`);
      known(kernel);
    },
    async restartKernelProcess(kernel: string, processName: string) {
      calls.push(`restart ${kernel}/${processName}`);
      known(kernel);
      return { pid: nextPid++, started: true };
    },
    async kernelReadiness(kernel: string) {
      known(kernel);
      return { kernel, ready: true, checks: [{ name: 'self_test', ok: true, detail: 'stub', ms: 1 }], polls: 1 };
    },
  };
}

describe('control plane (time-skipping server, stub lifecycle activities)', function () {
  this.timeout(60_000);
  const ts = timeSkippingFixture();

  it('adopts a kernel it has never seen while running, supervises it, and forgets a name the registry does not know', async () => {
    const taskQueue = uniqueId('cp');
    const calls: string[] = [];
    const worker = await Worker.create({ connection: ts.env.nativeConnection, taskQueue, workflowBundle: ts.bundle, activities: stubActivities(calls) });
    await worker.runUntil(async () => {
      const handle = await ts.env.client.workflow.start<ControlPlaneWorkflow>(CONTROL_PLANE_WORKFLOW, {
        taskQueue,
        workflowId: uniqueId('control-plane'),
        args: [
          {
            settings: { restartBackoff: { initialMs: 100, maxMs: 1000 }, crashLoop: { restarts: 5, windowMs: 60_000 } },
            pids: { message_bus: { bus: 1 } },
            kernels: [{ kernel: 'message_bus', ready: true }],
          },
        ],
      });
      const status = (): Promise<ControlPlaneStatus> => handle.query(getControlPlaneStatusQuery);
      assert.deepEqual(Object.keys((await status()).kernels), ['message_bus']);

      // A boot that knows a kernel the running control plane does not.
      await handle.signal(kernelsBootedSignal, { pids: { fake_kernel: { 'fake-1': 42 } }, kernels: [{ kernel: 'fake_kernel', ready: true }] });
      const adopted = await waitFor('fake_kernel adopted', status, (s) => s.kernels.fake_kernel?.state === KernelState.READY);
      assert.deepEqual(adopted.kernels.fake_kernel.pids, { 'fake-1': 42 });
      assert.ok(adopted.events.some((e) => e.kernel === 'fake_kernel' && /adopted/.test(e.what)));

      // Its process dies: it is restarted like any kernel's.
      await handle.signal(kernelUnwellSignal, {
        kernel: 'fake_kernel' as KernelName, process: 'fake-1', pid: 42, reason: 'exited', detail: 'killed', at: Date.now(), observer: 'test',
      });
      const healed = await waitFor('fake_kernel restarted', status, (s) => s.kernels.fake_kernel.restarts === 1 && s.kernels.fake_kernel.state === KernelState.READY);
      assert.notEqual(healed.kernels.fake_kernel.pids['fake-1'], 42);
      assert.ok(calls.includes('restart fake_kernel/fake-1'));

      // A report about a kernel it has not seen (not even by a boot) is adopted too, not a crash.
      await handle.signal(kernelUnwellSignal, {
        kernel: 'coding_agent', process: 'coding-agent-1', pid: 7, reason: 'exited', detail: 'killed', at: Date.now(), observer: 'test',
      });
      await waitFor('coding_agent adopted and restarted', status, (s) => s.kernels.coding_agent?.restarts === 1);

      // An operator's start of a name the registry does not know fails, and leaves no record.
      await assert.rejects(handle.executeUpdate(startKernelUpdate, { args: ['no_such_kernel'] }), (err: Error) => /unknown kernel "no_such_kernel"/.test(causes(err)));
      const after = await status();
      assert.equal(after.kernels.no_such_kernel, undefined);
      assert.ok(after.events.some((e) => e.kernel === 'no_such_kernel' && /forgotten/.test(e.what)));
      // Stopping a kernel it does not know is refused before anything is recorded.
      await assert.rejects(handle.executeUpdate(stopKernelUpdate, { args: ['never_seen'] }), (err: Error) => /unknown kernel "never_seen"/.test(causes(err)));
      assert.ok(!calls.includes('stop never_seen'));
      await handle.terminate();
    });
  });

  /**
   * A control plane supervising the message bus, a crash loop at two restarts within `windowMs`: its
   * handle, its status, and `die(i)`, a death of the bus that waits for restart `i` to be ready.
   */
  async function crashLoopPlane(taskQueue: string, windowMs: number) {
    const handle = await ts.env.client.workflow.start<ControlPlaneWorkflow>(CONTROL_PLANE_WORKFLOW, {
      taskQueue,
      workflowId: uniqueId('control-plane'),
      args: [
        {
          settings: { restartBackoff: { initialMs: 50, maxMs: 100 }, crashLoop: { restarts: 2, windowMs } },
          pids: { message_bus: { bus: 1 } },
          kernels: [{ kernel: 'message_bus', ready: true }],
        },
      ],
    });
    const status = (): Promise<ControlPlaneStatus> => handle.query(getControlPlaneStatusQuery);
    const die = async (i: number): Promise<ControlPlaneStatus> => {
      const pid = (await status()).kernels.message_bus.pids.bus!;
      await handle.signal(kernelUnwellSignal, { kernel: 'message_bus', process: 'bus', pid, reason: 'exited', detail: 'killed', at: Date.now(), observer: 'test' });
      return waitFor(`restart ${i}`, status, (s) => s.kernels.message_bus.restarts === i && s.kernels.message_bus.readySince !== null);
    };
    return { handle, status, die };
  }

  it('ends a crash loop once its window passes without a restart: the flag clears and the kernel is READY again', async () => {
    const taskQueue = uniqueId('cp');
    const worker = await Worker.create({ connection: ts.env.nativeConnection, taskQueue, workflowBundle: ts.bundle, activities: stubActivities([]) });
    await worker.runUntil(async () => {
      const windowMs = 60_000;
      const { handle, status, die } = await crashLoopPlane(taskQueue, windowMs);
      // Three deaths in a row: the third restart is past the threshold of two in the window.
      for (let i = 1; i <= 3; i++) await die(i);
      const looping = (await status()).kernels.message_bus;
      assert.equal(looping.crashLoop, true);
      assert.equal(looping.state, KernelState.CRASH_LOOP);

      // Half a window later it is still a crash loop; a whole window after the last restart it is not.
      await ts.env.sleep(windowMs / 2);
      assert.equal((await status()).kernels.message_bus.crashLoop, true);
      await ts.env.sleep(windowMs / 2 + 1_000);
      const over = await waitFor('crash loop over', status, (s) => !s.kernels.message_bus.crashLoop);
      assert.equal(over.kernels.message_bus.state, KernelState.READY);
      assert.deepEqual(over.kernels.message_bus.recentRestarts, []);
      assert.ok(over.events.some((e) => e.kernel === 'message_bus' && /crash loop over/.test(e.what)));

      // Replayed by a worker that sees the crash loop's timer fire later, the run makes the same commands.
      await replayWithClockShiftedAfterTimers(ts.bundle, handle);

      // The next death is a first restart again: no backoff, no crash loop.
      const again = await die(4);
      assert.equal(again.kernels.message_bus.crashLoop, false);
      assert.equal(again.kernels.message_bus.backoffMs, 0);
      assert.equal(again.kernels.message_bus.state, KernelState.READY);
      await handle.terminate();
    });
  });

  it('a restart during the window moves its end: the loop ends a whole window after the last restart, whatever time a replay sees', async () => {
    const taskQueue = uniqueId('cp');
    const worker = await Worker.create({ connection: ts.env.nativeConnection, taskQueue, workflowBundle: ts.bundle, activities: stubActivities([]) });
    await worker.runUntil(async () => {
      const windowMs = 60_000;
      const { handle, status, die } = await crashLoopPlane(taskQueue, windowMs);
      for (let i = 1; i <= 3; i++) await die(i);
      assert.equal((await status()).kernels.message_bus.crashLoop, true);
      // Half a window on, one more death: the window now ends a whole window after it.
      await ts.env.sleep(windowMs / 2);
      await die(4);
      await ts.env.sleep(windowMs / 2 + 1_000);
      assert.equal((await status()).kernels.message_bus.crashLoop, true, 'the first timer fired, but the last restart was half a window ago');
      await ts.env.sleep(windowMs / 2);
      const over = await waitFor('crash loop over', status, (s) => !s.kernels.message_bus.crashLoop);
      assert.equal(over.kernels.message_bus.state, KernelState.READY);
      await replayWithClockShiftedAfterTimers(ts.bundle, handle);
      await handle.terminate();
    });
  });

  /**
   * A control plane recorded by the real code, then run on by a worker whose code no longer matches
   * it (test/workflow/fixtures): what its first task there does to the run.
   */
  async function runOnChangedCode(workflowId: string, failureTypes: typeof WORKFLOW_FAILURE_ERROR_TYPES | undefined): Promise<{ status: string; outcome: string }> {
    changed ??= await bundleWorkflowCode({ workflowsPath: require.resolve('./fixtures/changed-control-plane') });
    const taskQueue = uniqueId('cp');
    // Not cached: the next task goes to whichever worker polls, as after a replica's death.
    const recorder = await Worker.create({ connection: ts.env.nativeConnection, taskQueue, workflowBundle: ts.bundle, activities: stubActivities([]), maxCachedWorkflows: 0 });
    const handle = await recorder.runUntil(async () => {
      const h = await ts.env.client.workflow.start<ControlPlaneWorkflow>(CONTROL_PLANE_WORKFLOW, {
        taskQueue,
        workflowId,
        args: [{ settings: { restartBackoff: { initialMs: 50, maxMs: 100 }, crashLoop: { restarts: 5, windowMs: 60_000 } }, pids: { message_bus: { bus: 1 } }, kernels: [{ kernel: 'message_bus', ready: true }] }],
      });
      await h.signal(kernelUnwellSignal, { kernel: 'message_bus', process: 'bus', pid: 1, reason: 'exited', detail: 'killed', at: Date.now(), observer: 'test' });
      await waitFor('restart 1', () => h.query(getControlPlaneStatusQuery), (st) => st.kernels.message_bus.restarts === 1 && st.kernels.message_bus.readySince !== null);
      return h;
    });
    const replayer = await Worker.create({
      connection: ts.env.nativeConnection,
      taskQueue,
      workflowBundle: changed,
      ...(failureTypes ? { workflowFailureErrorTypes: failureTypes } : {}),
    });
    return replayer.runUntil(async () => {
      await handle.signal(kernelUnwellSignal, { kernel: 'message_bus', process: 'bus', pid: 1000, reason: 'exited', detail: 'killed', at: Date.now(), observer: 'test' });
      // The replay meets its history in the first task it runs: the run fails, or that task does.
      const outcome = async (): Promise<string> => {
        const events = (await handle.fetchHistory()).events ?? [];
        if (events.some((e) => e.workflowExecutionFailedEventAttributes)) return 'failed';
        return events.some((e) => e.workflowTaskFailedEventAttributes) ? 'task failed' : 'other';
      };
      const last = await waitFor('the replay to meet its history', outcome, (e) => e !== 'other', 20_000, 100);
      const status = (await handle.describe()).status.name;
      if (status === 'RUNNING') await handle.terminate();
      return { status, outcome: last };
    });
  }
  let changed: WorkflowBundleWithSourceMap | undefined;

  it("a run whose history no longer replays fails, on the workers' options, instead of retrying its task for ever", async () => {
    // With the workers' options: failed, so control_plane_failover replaces it.
    assert.deepEqual(await runOnChangedCode(uniqueId('control-plane'), WORKFLOW_FAILURE_ERROR_TYPES), { status: 'FAILED', outcome: 'failed' });
    // Without them: its task fails and is retried, the run stays RUNNING and answers nothing.
    assert.deepEqual(await runOnChangedCode(uniqueId('control-plane'), undefined), { status: 'RUNNING', outcome: 'task failed' });
  });

  it('failover of a run that no longer replays starts the new run from the kernels as observed, not from nothing', async () => {
    assert.deepEqual(await runOnChangedCode(CONTROL_PLANE_WORKFLOW_ID, WORKFLOW_FAILURE_ERROR_TYPES), { status: 'FAILED', outcome: 'failed' });
    const observed = { pids: { message_bus: { bus: 4242 } }, kernels: [{ kernel: 'message_bus', ready: true }] };
    const handle = await failOverControlPlane(testConfig(), ts.env.client, 'FAILED', async () => observed);
    try {
      const started = (await handle.fetchHistory()).events?.[0]?.workflowExecutionStartedEventAttributes;
      const input = (await ts.env.client.options.loadedDataConverter.payloadConverter.fromPayload(started!.input!.payloads![0])) as ControlPlaneInput;
      assert.deepEqual([input.pids, input.kernels, input.state], [observed.pids, observed.kernels, undefined]);
      assert.equal((await handle.describe()).status.name, 'RUNNING');
    } finally {
      await handle.terminate();
    }
  });
});

/**
 * Replays the run's history as a worker would that saw the crash loop's timer fire ten minutes
 * later than the run did: the workflow task that only that timer's firing started gets a time ten
 * minutes later (the workflow clock never goes back, so the tasks after it are as late). A CI run's
 * control plane met this: the worker that ran the task after its crash-loop timer fired saw the time
 * of the task before it, the replays after it saw the fire's own time, and a decision made from the
 * clock after the timer differed: the replays failed on a nondeterminism error.
 */
async function replayWithClockShiftedAfterTimers(bundle: WorkflowBundleWithSourceMap, handle: WorkflowHandle): Promise<void> {
  const history = await handle.fetchHistory();
  // The crash loop's timers: those of a second or more (the restarts' backoffs here are shorter).
  const long = new Set<string>();
  let onlyTimers = false;
  let shifted = 0;
  for (const e of history.events ?? []) {
    const started = e.timerStartedEventAttributes;
    if (started?.timerId && Number(String(started.startToFireTimeout?.seconds ?? 0)) >= 1) long.add(started.timerId);
    if (e.timerFiredEventAttributes) onlyTimers = long.has(e.timerFiredEventAttributes.timerId ?? '');
    else if (e.workflowTaskStartedEventAttributes) {
      // Only a task that the timer alone started: a signal or a result in it would run at the shifted time too.
      if (onlyTimers && e.eventTime?.seconds && shifted === 0) {
        e.eventTime = { ...e.eventTime, seconds: e.eventTime.seconds.add(600) };
        shifted++;
      }
      onlyTimers = false;
    } else if (!e.workflowTaskScheduledEventAttributes) onlyTimers = false;
  }
  assert.equal(shifted, 1, 'the history has a task that only the crash loop timer started');
  await Worker.runReplayHistory({ workflowBundle: bundle }, history, `${handle.workflowId}-clock-shifted`);
}
