/**
 * Code faults: evidence whose text shows a fault in the code or configuration a process loads —
 * a file that does not parse, a module that does not resolve, a configuration that does not
 * validate. (A model file that does not match its manifest has its playbook, model_file_corruption,
 * whose step is the model_restore fixer's change set.) Restarting the process cannot repair
 * them (it fails the same way again), so the coding agent's fixers are asked before any playbook,
 * and such evidence opens an incident even when it is a process death no playbook names.
 *
 * Pure and cheap (regular expressions over the evidence's text): the seam asks it for every
 * evidence it routes.
 */
import type { Evidence } from '../healing/evidence';

/** Per fixer (src/coding-agent/fixers/), what in the evidence shows a fault of its kind. */
export const CODE_FAULT_PATTERNS = {
  syntax_error: /\bSyntaxError\b/,
  import_error: /Cannot find (?:module|package) '|ERR_MODULE_NOT_FOUND/,
  config_restore: /invalid configuration in \S/,
} as const;

const textOf = (e: Pick<Evidence, 'text' | 'detail'>): string => `${e.text ?? ''}\n${e.detail ?? ''}`;

/** Whether the evidence shows a fault of the kind `fixer` repairs. */
export function showsFault(fixer: keyof typeof CODE_FAULT_PATTERNS, e: Pick<Evidence, 'text' | 'detail'>): boolean {
  return CODE_FAULT_PATTERNS[fixer].test(textOf(e));
}

/** The fixers whose kind of fault the evidence shows, in the registry's order; [] for none. */
export function codeFaultOf(e: Pick<Evidence, 'text' | 'detail'>): string[] {
  const text = textOf(e);
  const out: string[] = [];
  for (const [fixer, re] of Object.entries(CODE_FAULT_PATTERNS)) if (re.test(text)) out.push(fixer);
  return out;
}
