/**
 * Stable signatures: a message → its masked template → an id, with no learned state.
 *
 * The healing path (src/healing/evidence.ts) signs every piece of evidence with this, not with
 * the {@link SignatureEngine}'s online miner. The miner generalises templates from the messages
 * it has seen, so the template — and the id — a message gets depends on which messages arrived
 * before it and in what order. Two healing replicas see evidence in different orders (and a
 * restarted replica has seen none), so with the miner they could name one fault differently, and
 * the evidence, its dispatch and its incident would split in two. Masking alone looks at nothing
 * but the message: values recognised by their shape (numbers, times, addresses, ids, paths) become
 * `<*>` and every other word is kept, so the same text gets the same id in any process, any
 * replica, before and after any restart. Words that vary (user and subject names) stay in the
 * template: an ACL violation by `coding_agent` on `system.control` and one by `probe` on another
 * subject are two signatures, which is what the healing path wants.
 */
import { DEFAULT_MAX_TOKENS, maskMessage } from './masking';
import { signatureId } from './signature';
import type { Signature, SignatureInput } from './engine';

/**
 * The signature of a message by masking only: `signatureId(maskMessage(message).join(' '), { kernel, errorType })`.
 * Pure: the same input always gives the same id and template.
 *
 * @example
 * stableSignature({ kernel: 'message_bus', errorType: 'ACLViolation', message: '[4129] 2026/12/06 04:40:00.473579 [ERR] 127.0.0.1:54321 - cid:12 - … User "coding_agent", Subject "system.control"' });
 * // → { signature: 'message_bus_ACLViolation_…', template: '[<*>] <*> <*> [ERR] <*> - cid:<*> - … User "coding_agent", Subject "system.control"' }
 */
export function stableSignature(input: SignatureInput, maxTokens = DEFAULT_MAX_TOKENS): Signature {
  const template = maskMessage(input.message, maxTokens).join(' ');
  return { signature: signatureId(template, { kernel: input.kernel, errorType: input.errorType }), template };
}
