/** The verification action: run_verification, the repository's checks (tests, lint, types). */
import { runVerification, VerificationAbortedError } from '../../src/verification/loop';
import { activityContext, heartbeat } from './context';
import { action, type ActionDeps, type ActionGroup } from './shared';

export function verificationActions({ verificationCommands }: ActionDeps): ActionGroup<'run_verification'> {
  return {
    run_verification: action('run_verification', async ({ target, checks }) => {
      const ctx = activityContext();
      try {
        // Runs checks only: nothing is written but their report, so running it again is harmless.
        const report = await runVerification({
          target,
          checks,
          commands: verificationCommands,
          signal: ctx?.cancellationSignal,
          onProgress: (check) => heartbeat({ check }),
        });
        return { ok: report.ok, results: report.results.map(({ check, ok, detail }) => ({ check, ok, detail })) };
      } catch (err) {
        // Cancelled: surface the SDK's cancellation, not our abort.
        if (err instanceof VerificationAbortedError && ctx) await ctx.cancelled;
        throw err;
      }
    }),
  };
}
