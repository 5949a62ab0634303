/**
 * Once per run of the time-skipping tests: installs Temporal's test server when missing (Maven
 * Central, cached under the state folder) and bundles the campaign workflow code, which every
 * test file's worker then loads instead of bundling it again.
 */
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { resolveTimeSkippingServer } from '../../stack/install.js';
import type {} from '../support/time-skipping.js';

export async function setup(project: TestProject): Promise<void> {
  await resolveTimeSkippingServer((line) => console.log(`[timeskip] ${line}`));
  const { code } = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('../../workflows/index.ts', import.meta.url)),
    logger: {
      log: () => {},
      trace: () => {},
      debug: () => {},
      info: () => {},
      warn: (m: string) => console.warn(m),
      error: (m: string) => console.error(m),
    },
  });
  project.provide('campaignBundle', code);
}
