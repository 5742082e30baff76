/**
 * Starting a drill from outside a workflow (the CLI, tests, the bench): the card validated from its
 * file, its gate timeouts parsed, the workflow started on the chaos queue with the card's search
 * attributes; and waiting for it with its progress.
 */
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { LoadedConfig } from '../../config/load';
import { CHAOS_DRILL_WORKFLOW, DRILL_PROGRESS_QUERY, drillWorkflowId, type ChaosDrillWorkflow, type DrillProgress, type DrillResult, type GateName } from '../../../contracts/chaos';
import { cardKernel, gateTimeouts, type ChaosCard } from '../cards/format';
import { findable } from '../../../contracts/search-attributes';

/** Where the cards are: `chaos.cardsDir` (relative to the config file), else undefined (the loader's default). */
export function cardsDirOf(config: LoadedConfig): string | undefined {
  return config.chaos.cardsDir ? path.resolve(config.rootDir, config.chaos.cardsDir) : undefined;
}

export function drillInput(card: ChaosCard, trigger: string): { card: ChaosCard; timeoutsMs: Record<GateName, number>; trigger: string } {
  return { card, timeoutsMs: gateTimeouts(card), trigger };
}

/** The drill's search attributes and memo (Layer1Kind chaos-drill, Layer1Card, Layer1Kernel): `Layer1Card = "x" AND Layer1Outcome = "failed"` finds its failures. */
export function drillFindable(card: ChaosCard, trigger: string): ReturnType<typeof findable> {
  return findable({ kind: 'chaos-drill', card: card.id, kernel: cardKernel(card), summary: `chaos drill of ${card.id} (${card.title}), risk ${card.risk}, started by ${trigger}` });
}

export async function startDrill(config: LoadedConfig, client: Client, card: ChaosCard, trigger: string): Promise<WorkflowHandle<ChaosDrillWorkflow>> {
  return client.workflow.start<ChaosDrillWorkflow>(CHAOS_DRILL_WORKFLOW, {
    workflowId: drillWorkflowId(card.id, new Date()),
    taskQueue: config.temporal.taskQueues.chaos,
    args: [drillInput(card, trigger)],
    ...drillFindable(card, trigger),
  });
}

/** Waits for the drill's result, calling `onProgress` each time its phase or gates change. */
export async function awaitDrill(handle: WorkflowHandle<ChaosDrillWorkflow>, onProgress?: (p: DrillProgress) => void): Promise<DrillResult> {
  let last = '';
  let done = false;
  const watch = (async () => {
    while (!done && onProgress) {
      const p = await handle.query<DrillProgress>(DRILL_PROGRESS_QUERY).catch(() => null);
      const key = p ? `${p.phase}:${p.gates.length}:${p.injection?.detail ?? ''}` : '';
      if (p && key !== last) {
        last = key;
        onProgress(p);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  try {
    return await handle.result();
  } finally {
    done = true;
    await watch;
  }
}
