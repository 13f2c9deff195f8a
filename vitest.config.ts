import { defineConfig } from 'vitest/config';

// TEST_BACKEND=embedded (default: PGlite + in-process store) or services (real Postgres + Redis).
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    // TEST_WORKERS: test files run at once (default: vitest's, cores − 1).
    ...(process.env.TEST_WORKERS ? { maxWorkers: Number(process.env.TEST_WORKERS), minWorkers: 1 } : {}),
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
