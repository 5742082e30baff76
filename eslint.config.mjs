// ESLint flat config. Temporal's own lint rules (no-floating-promises, consistent-type-imports,
// import/no-cycle) plus the determinism fence: workflow files may not import Node built-ins,
// database or bus clients, or activity implementations (types only); nothing outside workflows/
// imports a workflow file (the contracts in contracts/ are what callers share with a workflow);
// functions in workflows/ and activities/ stay short enough to read at once. Type-only import
// cycles, which import/no-cycle does not see, are checked by madge in `npm run lint`.
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.layer1/**', '.layer1-*/**', 'bin/**', 'eslint.config.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    plugins: { import: importPlugin },
    settings: { 'import/resolver': { node: { extensions: ['.ts', '.js'] } } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'import/no-cycle': 'error',
    },
  },
  {
    files: ['**/*.ts'],
    ignores: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/workflows', '**/workflows/*', '**/workflows/**'], message: 'Import the workflow\'s contract (contracts/), not the workflow.' }] },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts', 'activities/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    files: ['contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Contracts are imported by workflow code: no Node built-ins.' })),
          patterns: [{ group: ['**/activities', '**/activities/*', '**/workflows', '**/workflows/*', '**/src/clients/*', '**/src/stack/*', '**/kernels/**'], message: 'Contracts are pure: types, names and definitions only.' }],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
            { name: 'mongodb', message: 'Workflow code must not do I/O: use an activity.' },
            { name: 'nats', message: 'Workflow code must not do I/O: use an activity.' },
            { name: '@temporalio/worker', message: 'Not for workflow code.' },
            { name: '@temporalio/client', message: 'Not for workflow code: use child workflows or activities.' },
          ],
          patterns: [
            { group: ['@nats-io/*'], message: 'Workflow code must not do I/O: use an activity.' },
            { group: ['**/activities', '**/activities/*'], allowTypeImports: true, message: 'Import activities as types only.' },
            { group: ['**/src/clients/*', '**/src/stack/*', '**/src/process/*', '**/kernels/**'], message: 'Node-side code: not for workflows.' },
            // The kernel list reaches workflows through their inputs (a running control plane adopts new kernels).
            { group: ['**/src/domain/kernels'], allowTypeImports: true, message: 'Kernel names come from the workflow input; import types only (KernelState: src/domain/kernel-state).' },
          ],
        },
      ],
    },
  },
);
