import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.gaplab/**',
      'dist/**',
      'ui/dist/**',
      'bench/results/**',
      '**/*.py',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    // The legacy node resolver cannot resolve exports-only packages (vite, @vitejs/plugin-react) and crashes.
    settings: { 'import-x/resolver-next': [importX.createNodeResolver()] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'import-x/no-cycle': 'error',
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node built-ins, no IO modules.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflow code must not use Node built-ins.',
          })),
          patterns: [
            {
              group: ['**/activities/*', '**/activities'],
              allowTypeImports: true,
              message: 'Workflows import only activity types.',
            },
            {
              group: ['**/server/*', '**/stack/*', '**/mlflow-ts-client/*', '**/experiments/*'],
              message: 'Workflows must not import IO code.',
            },
          ],
        },
      ],
    },
  },
  {
    // The API contract is imported by the server, the browser UI and the CLI: zod, the domain
    // and itself only (never workflows/, server/ or anything with IO).
    files: ['api/**/*.ts'],
    ignores: ['api/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!zod$|\\.\\./domain/[^/]+\\.js$|\\./[^/]+\\.js$)',
              message: 'api/ imports only zod, domain/ and api/.',
            },
          ],
        },
      ],
    },
  },
);
