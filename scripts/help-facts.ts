/**
 * The registry facts the CLI's help names: the kernel names (`kernel start|stop|restart`) and the
 * number of action primitives (`actions`). Deriving them loads zod and every kernel manifest, about
 * half of the 150 ms `layer1 --help` may take, so the build writes them once to
 * dist/scripts/help-facts.json (scripts/gen-help-facts.ts) and the CLI reads that file; without it (a
 * `tsc`-only build) they are derived as before.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { KERNEL_NAMES } from '../src/domain/kernels';
import type { ACTION_NAMES } from '../src/playbooks/actions';

export interface HelpFacts {
  kernels: string[];
  actions: number;
}

export const HELP_FACTS_FILE = path.join(__dirname, 'help-facts.json');

/** Derived from the registries (slow: loads them). */
export function deriveHelpFacts(): HelpFacts {
  /* eslint-disable @typescript-eslint/no-require-imports -- synchronous on purpose: help text is built synchronously */
  const kernels = (require('../src/domain/kernels') as { KERNEL_NAMES: typeof KERNEL_NAMES }).KERNEL_NAMES;
  const actions = (require('../src/playbooks/actions') as { ACTION_NAMES: typeof ACTION_NAMES }).ACTION_NAMES;
  /* eslint-enable @typescript-eslint/no-require-imports */
  return { kernels: [...kernels], actions: actions.length };
}

let facts: HelpFacts | undefined;

export function helpFacts(): HelpFacts {
  if (!facts) {
    try {
      facts = JSON.parse(readFileSync(HELP_FACTS_FILE, 'utf8')) as HelpFacts;
    } catch {
      facts = deriveHelpFacts();
    }
  }
  return facts;
}
