/**
 * Our custom search attributes as the servers take them: its own module because it loads the
 * SDK's common package, which `layer1 status` does without.
 */
import { SEARCH_ATTRIBUTES as WORKFLOW_SEARCH_ATTRIBUTES } from '../../contracts/search-attributes';

/** The CLI's and the operator API's name of each search attribute type we use. */
const TYPE_NAMES = { KEYWORD: 'Keyword', INT: 'Int', BOOL: 'Bool', DATETIME: 'Datetime' } as const;

/**
 * Custom search attributes (contracts/search-attributes.ts) by name and type, as the embedded
 * server's flags and the operator API take them; a real cluster needs them too.
 */
export const SEARCH_ATTRIBUTES: Record<string, 'Keyword' | 'Int' | 'Bool' | 'Datetime'> = Object.fromEntries(
  WORKFLOW_SEARCH_ATTRIBUTES.map((k) => [k.name, TYPE_NAMES[k.type as keyof typeof TYPE_NAMES]]),
);

/** temporal.api.enums.v1.IndexedValueType, for registering the attributes over gRPC. */
export const INDEXED_VALUE_TYPE = { Keyword: 2, Int: 3, Bool: 5, Datetime: 6 } as const;
