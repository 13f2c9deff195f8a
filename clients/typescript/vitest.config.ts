import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// The client's tests: each file starts the real server (embedded backend by default) and talks to it over HTTP.
export default defineConfig({
  // The repository root, so the tests can start the server from src/ with the shared test helpers.
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['clients/typescript/test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
