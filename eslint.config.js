import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioModules = [
  'node:net',
  'node:tls',
  'node:http',
  'node:https',
  'node:fs',
  'node:fs/promises',
  'kafkajs',
  'pg',
  '@electric-sql/pglite',
  'fhir-kit-client',
  'express',
];

export default tseslint.config(
  { ignores: ['node_modules', '.kafka', '.data', 'coverage', '.ci/*.json', 'dist', 'dist.*'] },
  {
    // Plain-node scripts (bin/, scripts/): Node's globals.
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        Buffer: 'readonly',
        console: 'readonly',
      },
    },
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The pure core (parse → convert → match → plan) does no I/O: adapters live at the edge.
    files: ['src/hl7/**/*.ts', 'src/fhir/**/*.ts', 'src/roster/**/*.ts', 'src/care/**/*.ts'],
    ignores: ['**/*.test.ts', 'src/roster/import*.ts', 'src/**/load*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: ioModules.map((name) => ({ name, message: 'The pure core does no I/O; use an adapter.' })) },
      ],
    },
  },
);
