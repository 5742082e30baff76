/**
 * Signature ids: readable, stable names for templates.
 *
 * Format: `<kernel>_<ErrorType>_<hash>` when both are known (`message_bus_ACLViolation_3fa2b1c4`),
 * `<kernel>_<hash>` or `<ErrorType>_<hash>` with one of them, and the bare `<hash>` with neither.
 * `<hash>` is the first {@link HASH_LENGTH} hex digits of the SHA-256 of the template text, so the
 * same template always gets the same id, in any process, without coordination.
 */
import { createHash } from 'node:crypto';

/** Hex digits of the template hash kept in an id: 32 bits, so collisions stay unlikely across thousands of templates. */
export const HASH_LENGTH = 8;

/** Where a message came from. Both parts are optional; they become the readable prefix of the id. */
export interface SignatureSource {
  /** The kernel (or log source) that raised the error, e.g. `message_bus`. */
  kernel?: string;
  /** The error's type, e.g. `ACLViolation`. */
  errorType?: string;
}

/** The short hash of a template text (lower-case hex, {@link HASH_LENGTH} digits). */
export function templateHash(template: string): string {
  return createHash('sha256').update(template, 'utf8').digest('hex').slice(0, HASH_LENGTH);
}

/** Keeps an id on one line and free of spaces whatever a caller passes as kernel or type. */
function idPart(part: string | undefined): string | undefined {
  const cleaned = part?.trim().replace(/\s+/g, '-');
  return cleaned ? cleaned : undefined;
}

/** The signature id of a template from a source. */
export function signatureId(template: string, source: SignatureSource = {}): string {
  return [idPart(source.kernel), idPart(source.errorType), templateHash(template)].filter(Boolean).join('_');
}
