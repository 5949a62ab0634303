import { defineConfig } from 'vitest/config';

// Four projects, run one group after another (sequence.groupOrder): pure unit tests that live
// beside the code; integration tests under test/ that share one real Temporal dev server and one
// real MLflow server started by globalSetup; the browser tests under test/browser, headless
// Chromium against the same stack; and the campaign-rule tests under test/time-skipping on
// Temporal's time-skipping test server. `npm test` runs them all.
export default defineConfig({
  test: {
    pool: 'forks',
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{api,docker,domain,worker,workflows,activities,experiments,server,ui,cli,stack,mlflow-ts-client,records,temporal,bench}/**/*.test.ts',
            'vitest.config.test.ts',
            'eslint.config.test.ts',
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
          exclude: ['test/browser/**', 'test/time-skipping/**', '**/node_modules/**'],
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
          // Each file starts a worker, the API server and a Chromium of its own against the
          // integration stack (the same globalSetup: one stack for both projects). A group of
          // their own, after the integration suites, so Chromium never competes with their
          // workers and subprocesses for the two cores while a page is polled for what it shows
          // (docs/decisions/0008-browser-and-time-skipping-tests-own-projects.md).
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          pool: 'forks',
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          expect: { poll: { timeout: 30_000, interval: 100 } },
          maxWorkers: 2,
          fileParallelism: true,
          sequence: { groupOrder: 2 },
        },
      },
      {
        test: {
          // Campaign rules (stops, drain, deadline, approval timeouts) on Temporal's
          // time-skipping test server: one server per file, no shared stack.
          name: 'timeskip',
          include: ['test/time-skipping/**/*.test.ts'],
          pool: 'forks',
          globalSetup: ['test/time-skipping/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 180_000,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
