import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['oci/**/*.test.ts', 'lib/**/*.test.ts', 'origin/**/*.test.ts', 'cache-node/**/*.test.ts', 'control-plane/**/*.test.ts', 'cli/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // real servers and real clients share two cores: keep file parallelism modest
    maxWorkers: 2,
    minWorkers: 1,
    typecheck: { enabled: false },
  },
})
