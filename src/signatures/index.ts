/**
 * Error signatures.
 *
 * An error (kernel, error type, message) or a raw log line becomes a template, its variable parts
 * masked as `<*>`, and a stable, readable id: `<kernel>_<ErrorType>_<hash of the template>`.
 *
 * - `masking.ts` — variable parts recognised by their shape (numbers, hex, ids, addresses, paths, …).
 * - `miner.ts` — online grouping of masked messages into templates; words that vary (host, user,
 *   program names) become variables from how they behave across messages, never from a word list.
 * - `signature.ts` — the id format.
 * - `engine.ts` — ties them together per source and keeps every issued id resolvable (alias map).
 * - `stable.ts` — masking only, no learned state: the same text gets the same id in every process
 *   (what the healing path signs evidence with; the miner's templates depend on arrival order).
 * - `store.ts` — saves and restores what the engine learned in MongoDB, so ids survive restarts.
 *
 * One configuration serves every source: nothing here knows about a particular system's messages.
 */
export { WILDCARD, maskMessage, maskToken, isVariableValue, DEFAULT_MAX_TOKENS } from './masking';
export { TemplateMiner, Slot, DEFAULT_MINER_OPTIONS, isIdentifier, type Cluster, type MatchResult, type MinerOptions } from './miner';
export { signatureId, templateHash, HASH_LENGTH, type SignatureSource } from './signature';
export {
  SignatureEngine,
  type Signature,
  type SignatureInput,
  type SignatureEngineOptions,
  type TemplateRecord,
} from './engine';
export { stableSignature } from './stable';
export { SignatureStore, type StoredTemplate } from './store';
