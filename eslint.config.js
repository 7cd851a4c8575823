// Lint: type-aware rules that catch floating promises and non-exhaustive switches.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/.tmp/**', 'examples/*/public/**', '**/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] },
      ],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },

  // Plain JavaScript entry points (the version gate, the test runner) run on Node as they are.
  {
    files: ['scripts/**/*.js', 'packages/cli/bin/**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
  },
  // Layer boundaries: protocol imports nothing of ours (nor Node); back-end contracts import no feature;
  // the client takes only types from the server; nothing imports the CLI.
  {
    files: ['packages/protocol/src/**/*.ts'],
    ignores: ['packages/protocol/src/**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@switchboard/*', 'node:*', '../../*'], message: 'protocol is the bottom layer: it imports nothing of ours and no Node module' }] }],
    },
  },
  {
    files: ['packages/server/src/{bus,stream,presence,store}/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../auth/*', '../channel/*', '../plug/*', '../pipeline/*', '../connection/*', '../observe/*', '../grants/*', '../server.ts', '../feature.ts', '../api.ts', '../options.ts'],
              message: 'a back-end contract imports no feature: only @switchboard/protocol types and the other contracts',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/client/src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: ['@switchboard/server', '@switchboard/server/*', '@switchboard/cli'], message: 'the client may import server types only', allowTypeImports: true }] }],
    },
  },
  {
    files: ['packages/{protocol,server,client}/src/**/*.ts'],
    rules: {
      'no-restricted-syntax': ['error', { selector: "ImportDeclaration[source.value=/^@switchboard\\/cli/]", message: 'nothing imports the CLI: it sits on top' }],
    },
  },
);
