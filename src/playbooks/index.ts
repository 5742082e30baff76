/**
 * Playbooks: YAML recipes of the action primitives, validated completely before anything runs
 * and then run step by step by the `playbook` workflow. Reference: docs/playbooks.md.
 *
 * - `actions.ts` — the primitives, each with zod `params` and `output` schemas.
 * - `format.ts` — the file format as a zod schema (and the JSON Schema generated from it), and the
 *   normalized {@link Playbook} the loader returns and the workflow takes as input.
 * - `template.ts` — `${{ … }}` templates and `when` conditions: a tiny expression language parsed
 *   and evaluated as data, never `eval`. Pure, so the workflow bundle imports it.
 * - `loader.ts` — reads files, reports every problem with file:line:col and path, returns only
 *   valid playbooks; `resolveRunParams` types `--param k=v` values.
 *
 * Workflow code must import `template.ts` directly and `format.ts` as types only: this index
 * re-exports the loader, which uses Node's file system.
 */
export * from './actions';
export * from './format';
export * from './loader';
export * from './template';
