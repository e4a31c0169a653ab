// ESLint for the whole repository (flat config). TypeScript files are linted with type
// information (each file's nearest tsconfig.json, found by the project service), so rules that
// need types, like no-floating-promises, see the real types of @uk/* packages (their dist/*.d.ts:
// `nx lint` builds dependencies first). Plain JavaScript (.mjs/.js: bench, scripts, examples,
// test fixtures) gets the same rules without type information.
// Formatting is Prettier's job (.prettierrc.json), so no stylistic rule is enabled here.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/.nx/**', '**/.tap/**', '**/coverage/**', 'logs/**'],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise nobody awaits loses its rejection: the code marks deliberate fire-and-forget
      // with `void promise`, which this rule accepts.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // tap queues subtests and assertion promises itself and fails the test if one rejects,
          // so `t.test(...)` and `t.rejects(...)` without await are its intended idiom.
          allowForKnownSafeCalls: [
            { from: 'package', package: '@tapjs/test', name: ['test', 'skip', 'todo', 'only'] },
            { from: 'package', package: '@tapjs/asserts', name: ['rejects', 'resolves', 'resolveMatch', 'resolveMatchOnly', 'resolveMatchStrict'] },
          ],
        },
      ],
      // protobufjs types int64 values as a bare `Long` interface, but they are long.js objects whose
      // toString() gives the decimal text.
      '@typescript-eslint/no-base-to-string': ['error', { ignoredTypeNames: ['Error', 'RegExp', 'URL', 'URLSearchParams', 'Long'] }],
      // uk handles terminal output and raw log bytes: its regular expressions match control characters on purpose.
      'no-control-regex': 'off',
      // `_`-prefixed names are deliberately unused (placeholders in signatures and destructuring).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['**/test/**/*.ts'],
    rules: {
      // tap subtests are written `async (t) => {...}` throughout, awaiting or not; an async
      // callback without await is harmless there. Kept on in src/, where it flags a needless promise.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
