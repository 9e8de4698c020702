// ESLint for the extension's TypeScript (`jlpm lint:check`, run by `make lint`): ESLint's and
// typescript-eslint's recommended rules, as JupyterLab's extension template has them, with
// eslint-config-prettier last so that layout is Prettier's alone (package.json "prettier").
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['lib/', 'node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts'],
    rules: {
      // JupyterLab's own style: `namespace CommandIDs { ... }`, `namespace Private { ... }`.
      '@typescript-eslint/no-namespace': 'off',
      // Arguments a callback must accept (a signal's sender) need not be used.
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none' }],
      curly: ['error', 'all'],
      eqeqeq: ['error', 'smart'],
      'prefer-arrow-callback': 'error'
    }
  },
  prettier
);
