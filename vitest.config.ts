import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Two cores: integration files start servers and Redis processes of their own.
    maxWorkers: 2,
    globalSetup: ['test/global-setup.ts'],
  },
});
