/**
 * Learning curves on the trial page and the compare page, in headless Chromium: a finished
 * campaign whose seeds reported `score` and the hidden `heldout_score` by step (the test bowl's
 * `curve_steps`). The trial page draws one SVG line per seed, the compare page one per trial,
 * each line through as many points as were reported. Screenshots go to test-results/screenshots/.
 */
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CampaignReport } from '../../workflows/types.js';
import { quadraticSpec, testRegistry } from '../support/quadratic.js';
import { createTestEnv, researcher, submitQuadratic, type TestEnv } from '../support/env.js';
import {
  launchBrowser,
  screenshot,
  signIn,
  startUiServer,
  type SignedIn,
  type UiServer,
} from './ui-helpers.js';

let env: TestEnv;
let ui: UiServer;
let browser: Browser;
const opened: SignedIn[] = [];
let campaignId = '';
let trialIds: string[] = [];

beforeAll(async () => {
  browser = await launchBrowser();
  env = await createTestEnv({ registry: testRegistry() });
  ui = await startUiServer({
    service: env.service,
    mlflow: env.mlflow,
    temporalAddress: env.temporalAddress,
    mlflowUri: env.mlflowUri,
    taskQueue: env.taskQueue,
  });
  const problemId = await submitQuadratic(env.service, {
    prefix: 'ui-curves',
    spec: {
      ...quadraticSpec,
      space: [...quadraticSpec.space, { name: 'curve_steps', kind: 'int', low: 5, high: 8 }],
      baseline: { ...quadraticSpec.baseline, curve_steps: 6 },
      configurations: { best: { ...quadraticSpec.configurations.best, curve_steps: 6 } },
    },
    criteria: { seedsPerTrial: 2, budgets: { maxTrials: 2, concurrency: 2 } },
  });
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 21,
  }));
  await (env.client.workflow.getHandle(campaignId).result() as Promise<CampaignReport>);
  const { trials } = await env.service.trials(campaignId, { limit: 100 });
  trialIds = trials.filter((t) => t.kind === 'search' && t.status === 'succeeded').map((t) => t.id);
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.context.close().catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  await env?.close();
});

/** The number of points a path's `d` draws (M and L commands). */
const pointsOf = (d: string | null) => (d?.match(/[ML]/g) ?? []).length;

describe('learning curves in the UI', () => {
  it('the trial page draws one line per seed; the compare page one per trial', async () => {
    expect(trialIds.length).toBe(2);
    const s = await signIn(browser, ui.url, 'researcher');
    opened.push(s);
    const page = s.page;
    const trialId = trialIds[0]!;
    const steps = Number((await env.service.trial(campaignId, trialId)).trial.params.curve_steps);
    await page.goto(`${ui.url}/campaigns/${encodeURIComponent(campaignId)}/trials/${trialId}`);
    const card = page.getByTestId('learning-curves');
    await card.locator('svg path[data-testid=curve-line]').first().waitFor();
    // The objective's curve first: a line per seed, through every reported step.
    expect(await card.getByTestId('curve-chart').getAttribute('data-metric')).toBe('score');
    const lines = card.locator('path[data-testid=curve-line]');
    expect(await lines.count()).toBe(2);
    for (let i = 0; i < 2; i++) {
      const d = await lines.nth(i).getAttribute('d');
      expect(pointsOf(d)).toBe(steps);
    }
    // The campaign has ended: the hidden metric's curve is everyone's to see, one click away.
    await card.getByTestId('curve-metric').filter({ hasText: 'heldout_score' }).click();
    await card.locator('[data-testid=curve-chart][data-metric=heldout_score]').waitFor();
    expect(await card.getByTestId('curves-withheld').count()).toBe(0);
    await screenshot(page, 'trial-learning-curves');

    await page.goto(
      `${ui.url}/campaigns/${encodeURIComponent(campaignId)}/compare?ids=${trialIds.join(',')}`,
    );
    const compared = page.getByTestId('learning-curves');
    await compared.locator('svg path[data-testid=curve-line]').nth(1).waitFor();
    const overlaid = compared.locator('path[data-testid=curve-line]');
    expect(await overlaid.count()).toBe(2);
    expect([
      await overlaid.nth(0).getAttribute('data-label'),
      await overlaid.nth(1).getAttribute('data-label'),
    ]).toEqual(trialIds);
    await screenshot(page, 'compare-learning-curves');
    expect(s.problems).toEqual([]);
  });
});
