/**
 * The coding agent's fixers, registered in one place: adding one is a file in this folder and a line
 * in {@link FIXERS}. The order is the order they are asked: the first to propose a change set wins.
 * `signature_lookup` (the knowledge base's answer for a signature) is the older, read-only kind of
 * fixer and keeps its own interface.
 */
import type { Evidence } from '../../healing/evidence';
import type { Config } from '../../config/schema';
import type { Fixer } from '../change-set';
import { configRestoreFixer } from './config-restore';
import { importErrorFixer } from './import-error';
import { llmFixer } from './llm';
import { modelRestoreFixer } from './model-restore';
import { syntaxErrorFixer } from './syntax-error';

export { Fixers, FIXER_NAMES, type Failure, type FixProposal } from './signature-lookup';

export const FIXERS: readonly Fixer[] = [modelRestoreFixer, syntaxErrorFixer, importErrorFixer, configRestoreFixer];

/**
 * The fixers of a configuration: the built-in ones, then the LLM fixer when `codingAgent.llm` is
 * enabled (last: the deterministic fixers are asked first, and it costs a network round trip).
 */
export function configuredFixers(config: Pick<Config, 'codingAgent'>): Fixer[] {
  return config.codingAgent.llm.enabled ? [...FIXERS, llmFixer(config.codingAgent.llm)] : [...FIXERS];
}

/** The fixers that say they handle this evidence, in order. */
export function fixersFor(evidence: Evidence, fixers: readonly Fixer[] = FIXERS): Fixer[] {
  return fixers.filter((f) => f.handles(evidence));
}
