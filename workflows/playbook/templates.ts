/** Template resolution for what cannot be resolved yet: dry runs, approval prompts, compensations. */
import { resolveValue, type TemplateScope } from '../../src/playbooks/template';

/** Resolves templates whose references exist; leaves the others as written. */
export function resolvePartially(value: unknown, scope: TemplateScope): unknown {
  if (typeof value === 'string') {
    try {
      return resolveValue(value, scope);
    } catch {
      return value;
    }
  }
  if (Array.isArray(value)) return value.map((v) => resolvePartially(v, scope));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolvePartially(v, scope)]));
  }
  return value;
}
