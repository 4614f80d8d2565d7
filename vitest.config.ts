import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // graphql 16 ships CommonJS (main) and ESM (module) copies. Node loads the
    // CommonJS one for every importer; Vite would hand our files the ESM one,
    // and two copies break instanceof GraphQLError (Yoga's error masking).
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Each file opens its own in-memory PGlite (2–3 s to start), so files run
    // in parallel and tests inside a file share their database.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
