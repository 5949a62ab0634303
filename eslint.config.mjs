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
    // The legacy node resolver cannot resolve exports-only packages (vite, @vitejs/plugin-react) and
    // crashes. Imports name the compiled '.js' file: the resolver maps it to the '.ts' source, and
    // import-x parses '.ts' files, so that import-x/no-cycle follows them (without both it follows
    // nothing and finds no cycle).
    settings: {
      'import-x/extensions': ['.ts', '.tsx', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/resolver-next': [
        importX.createNodeResolver({
          extensions: ['.ts', '.tsx', '.js', '.mjs', '.json', '.node'],
          extensionAlias: { '.js': ['.ts', '.tsx', '.js'] },
        }),
      ],
    },
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
  // Fences between folders, as each folder's README states them. They match the import's text,
  // so they hold whether or not the import resolves; eslint.config.test.ts plants imports that
  // cross them.
  {
    // The server reads what campaigns wrote through the shared formats (records/, temporal/),
    // never through the code that writes them.
    files: ['server/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(activities|worker)(/|$)',
              message:
                'server/ never imports activities/ or worker/: MLflow names and the trial codec are in records/, the data converter in temporal/.',
            },
          ],
        },
      ],
    },
  },
  {
    // Activities are called by workflows, never the other way round: shapes they share are in
    // domain/. Their tests may hold a workflow's constant against an activity's.
    files: ['activities/**/*.ts'],
    ignores: ['activities/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+workflows(/|$)',
              message:
                'activities/ never imports workflows/ (types neither): shared shapes live in domain/, the report in domain/report.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    // The pure core runs in the workflow sandbox, the server, the CLI and the browser.
    files: ['domain/**/*.ts'],
    ignores: ['domain/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!zod$|jstat$|pure-rand(/|$)|yaml$|\\./[^/]+\\.js$)',
              message: 'domain/ imports only zod, jstat, pure-rand, yaml and domain/.',
            },
          ],
        },
      ],
    },
  },
  {
    // How gaplab's records look in MLflow, read by the worker, the server, the CLI and the
    // benchmarks: pure, so none of them pulls in another's IO.
    files: ['records/**/*.ts'],
    ignores: ['records/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!zod$|\\.\\./(domain|api|mlflow-ts-client)/[^/]+\\.js$|\\./[^/]+\\.js$)',
              message:
                'records/ imports only zod, domain/, api/, mlflow-ts-client/ types and records/.',
            },
            {
              regex: '^\\.\\./mlflow-ts-client/',
              allowTypeImports: true,
              message: 'records/ takes only types from mlflow-ts-client/: encoding does no IO.',
            },
          ],
        },
      ],
    },
  },
  {
    // The Temporal payload format every client and worker shares.
    files: ['temporal/**/*.ts'],
    ignores: ['temporal/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!node:|@temporalio/(common|proto)$|\\./[^/]+\\.js$)',
              message:
                'temporal/ imports only Node built-ins, @temporalio/common, @temporalio/proto and temporal/.',
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
