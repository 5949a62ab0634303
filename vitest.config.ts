import { defineConfig } from 'vitest/config';

// Three projects: pure unit tests that live beside the code, integration tests under test/
// that share one real Temporal dev server and one real MLflow server started by globalSetup, and
// the campaign-rule tests under test/workflows on Temporal's time-skipping test server.
export default defineConfig({
  test: {
    pool: 'forks',
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{api,docker,domain,worker,workflows,activities,experiments,server,ui,cli,stack,mlflow-ts-client,bench}/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**'],
          pool: 'forks',
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/workflows/**', '**/node_modules/**'],
          pool: 'forks',
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // What a page or a campaign shows next can take seconds on a loaded machine.
          expect: { poll: { timeout: 30_000, interval: 100 } },
          // Integration suites share one Temporal server and one MLflow server; running them
          // a couple at a time keeps a 2-core machine responsive.
          maxWorkers: 2,
          fileParallelism: true,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          // Campaign rules (stops, drain, deadline, approval timeouts) on Temporal's
          // time-skipping test server: one server per file, no shared stack.
          name: 'timeskip',
          include: ['test/workflows/**/*.test.ts'],
          pool: 'forks',
          globalSetup: ['test/workflows/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 180_000,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
