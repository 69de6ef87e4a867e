import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native kernels and lavapipe both use all cores; running files in parallel only thrashes.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    // One event-loop turn after each test: long runs of spawnSync tests otherwise starve vitest's worker RPC.
    setupFiles: ['test/helpers/yield-between-tests.ts'],
  },
});
