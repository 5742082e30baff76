/**
 * The search attributes and memo a workflow gives the children it starts (contracts/search-attributes.ts
 * `findable`), so a verification, a change set or a playbook run an incident started is found by the
 * incident's id, kernel and signature in the Web UI. Behind a patch: a child start command that
 * carries them differs from the one recorded in histories from before they did, which replay without.
 */
import { patched } from '@temporalio/workflow';
import { findable, type Findable } from '../contracts/search-attributes';

export const FINDABLE_CHILDREN_PATCH = 'findable-children';

export function childFindable(f: Findable): ReturnType<typeof findable> | Record<string, never> {
  return patched(FINDABLE_CHILDREN_PATCH) ? findable(f) : {};
}
