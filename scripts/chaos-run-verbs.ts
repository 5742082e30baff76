/**
 * `layer1 chaos run|ledger|coverage|schedule`: the drills, their ledger and coverage, and their
 * Temporal Schedules. Attached to the `chaos` command scripts/chaos-verbs.ts creates.
 */
import type { Command } from 'commander';

export function registerChaosRunVerbs(_chaos: Command): void {
  // Filled in with the drill workflow (issue 17).
}
