import { defineConfig } from 'vitest/config';

// One runner for the whole tree: fast unit tests per package, and the
// integration tests under tests/ that talk to real PostgreSQL, Redis and Kubernetes.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'adapter', root: 'adapter', include: ['test/**/*.test.ts'] } },
      { test: { name: 'engine', root: 'engine', include: ['test/**/*.test.ts'] } },
      { test: { name: 'operator', root: 'operator', include: ['test/**/*.test.ts'] } },
      { test: { name: 'bin', root: 'bin', include: ['test/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          root: 'tests',
          include: ['integration/**/*.test.ts'],
          globalSetup: ['support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'kubernetes',
          root: 'tests',
          include: ['kubernetes/**/*.test.ts'],
          globalSetup: ['support/global-setup.ts', 'support/cluster-setup.ts'],
          // One file at a time: they share the cluster, and some count its writes.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        // Pods that really run: images, probes, Services, standbys, `helm test`.
        test: {
          name: 'node',
          root: 'tests',
          include: ['node/**/*.test.ts'],
          globalSetup: ['support/node-setup.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
