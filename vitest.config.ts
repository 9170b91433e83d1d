import { defineConfig } from 'vitest/config';

// Test tier is in the file name: *.unit.test.ts, *.int.test.ts, *.e2e.test.ts, *.fault.test.ts.
export default defineConfig({
  test: {
    // Root-level: runs once per `vitest run`, whichever projects it runs.
    globalSetup: ['test/helpers/runtime.ts'],
    projects: [
      {
        test: { name: 'unit', include: ['test/unit/**/*.unit.test.ts'], environment: 'node' },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.int.test.ts'],
          globalSetup: ['test/helpers/globalSetup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          globalSetup: ['test/helpers/globalSetup.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          // e2e files each start several processes; two at once is what a 2-core machine takes.
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'faults',
          include: ['test/faults/**/*.fault.test.ts'],
          globalSetup: ['test/helpers/globalSetup.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          // Fault files restart RabbitMQ and PostgreSQL: one file at a time, never beside another tier.
          fileParallelism: false,
          maxWorkers: 1,
        },
      },
    ],
  },
});
