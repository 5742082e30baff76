/**
 * The coding agent's fixers, registered in one place: adding one is a file in this folder and a line
 * in {@link FIXERS}. The order is the order they are asked: the first to propose a change set wins.
 * `signature_lookup` (the knowledge base's answer for a signature) is the older, read-only kind of
 * fixer and keeps its own interface.
 */
import type { Evidence } from '../../healing/evidence';
import type { Fixer } from '../change-set';
import { configRestoreFixer } from './config-restore';
import { importErrorFixer } from './import-error';
import { modelRestoreFixer } from './model-restore';
import { syntaxErrorFixer } from './syntax-error';

export { Fixers, FIXER_NAMES, type Failure, type FixProposal } from './signature-lookup';

export const FIXERS: readonly Fixer[] = [modelRestoreFixer, syntaxErrorFixer, importErrorFixer, configRestoreFixer];

/** The fixers that say they handle this evidence, in order. */
export function fixersFor(evidence: Evidence, fixers: readonly Fixer[] = FIXERS): Fixer[] {
  return fixers.filter((f) => f.handles(evidence));
}
