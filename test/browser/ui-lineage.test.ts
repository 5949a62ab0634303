/**
 * The lineage view on a campaign written straight into MLflow (as recording.ts writes it), in
 * headless Chromium: it opens, draws on a canvas without a DOM node per trial, marks the best
 * path, searches and selects. A small size here; bench/ui-render.ts measures 10,000 trials.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRegistry } from '../support/quadratic.js';
import { createTestEnv, uniqueId, type TestEnv } from '../support/env.js';
import {
  launchBrowser,
  lineageTimings,
  screenshot,
  seedLineage,
  signIn,
  startUiServer,
  type SeededTrial,
  type UiServer,
} from './ui-helpers.js';

const TRIALS = 400;
let env: TestEnv;
let ui: UiServer;
let browser: Browser;
let plan: SeededTrial[];
const problemId = uniqueId('ui-lineage');
const campaignId = `${problemId}-claude-seeded`;

beforeAll(async () => {
  browser = await launchBrowser();
  env = await createTestEnv({ registry: testRegistry(), noWorker: true });
  plan = await seedLineage(env.mlflow, { problemId, campaignId, trials: TRIALS, seed: 7 });
  ui = await startUiServer({
    service: env.service,
    mlflow: env.mlflow,
    temporalAddress: env.temporalAddress,
    mlflowUri: env.mlflowUri,
  });
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  // The seeded runs would slow every later search of a shared MLflow: delete them (soft delete).
  const exp = await env?.mlflow.getExperimentByName(`gaplab/${problemId}`).catch(() => null);
  if (exp)
    await fetch(`${env.mlflowUri}/api/2.0/mlflow/experiments/delete`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(env.mlflow.authorization ? { authorization: env.mlflow.authorization } : {}),
      },
      body: JSON.stringify({ experiment_id: exp.experimentId }),
    }).catch(() => {});
  await env?.close();
});

describe(`the lineage view of ${TRIALS} trials seeded into MLflow`, () => {
  it('draws every trial on one canvas, finds the best, searches, selects and opens a trial', async () => {
    // A researcher: the trial page's MLflow link below is not shown to viewers.
    const { page, context, problems } = await signIn(browser, ui.url, 'researcher');
    await page.goto(`${ui.url}/campaigns/${campaignId}/lineage`);
    await page.waitForSelector('body[data-lineage-ready]', { timeout: 120_000 });
    const timings = await lineageTimings(page);
    expect(timings.nodes).toBe(TRIALS);
    expect(Number(await page.getByTestId('lineage-canvas').getAttribute('data-nodes'))).toBe(
      TRIALS,
    );
    // No DOM per node: the whole view is a handful of elements whatever the size.
    expect(await page.locator('.lineage *').count()).toBeLessThan(120);
    // Speed is measured by the benchmark (bench/ui-render.ts), not asserted here.
    expect(Number.isFinite(timings.layoutMs + timings.drawMs)).toBe(true);

    // The best trial (highest lower bound) is the one the page names.
    const ci = (i: number) => 0.04 + ((i * 7919) % 100) / 1000;
    let best = -1;
    plan.forEach((t, i) => {
      if (
        t.id !== 'baseline' &&
        t.pgr !== null &&
        (best < 0 || t.pgr - ci(i) > plan[best]!.pgr! - ci(best))
      )
        best = i;
    });
    expect(await page.getByTestId('lineage-stats').textContent()).toContain(plan[best]!.title);

    // Search by title, step to the match: it is selected and described.
    const target = plan[123]!;
    await page.getByTestId('lineage-search').fill(target.title);
    await expect.poll(() => page.getByTestId('match-count').textContent()).toBe('1 / 1');
    await page.getByTestId('lineage-search').press('Enter');
    const panel = page.getByTestId('lineage-selected');
    await panel.waitFor();
    expect(await panel.textContent()).toContain(target.title);

    // Zoom with the wheel and pan by dragging: the page stays responsive.
    const box = (await page.getByTestId('lineage-canvas').boundingBox())!;
    await page.mouse.move(box.x + box.width / 3, box.y + box.height / 2);
    for (let i = 0; i < 5; i++) await page.mouse.wheel(0, -240);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 3, { steps: 8 });
    await page.mouse.up();
    await page.getByRole('button', { name: 'Radial' }).click();
    await page.getByRole('button', { name: 'Fit' }).click();
    await screenshot(page, 'lineage-seeded-radial', false);
    await page.getByRole('button', { name: 'Tree' }).click();
    await page.getByRole('button', { name: 'Fit' }).click();
    await screenshot(page, 'lineage-seeded', false);

    // Open the selected trial: its record comes from MLflow (no workflow behind this campaign).
    await page.getByTestId('open-trial').click();
    await page.getByTestId('trial-page').waitFor();
    expect(await page.getByTestId('trial-title').textContent()).toBe(target.title);
    expect(await page.getByTestId('trial-lineage').locator('li').count()).toBeGreaterThanOrEqual(2);
    const run = await env.mlflow.searchRuns({
      experimentIds: [(await env.mlflow.getExperimentByName(`gaplab/${problemId}`))!.experimentId],
      filter: `tags.\`gaplab.trialId\` = '${target.id}'`,
      maxResults: 1,
    });
    expect(await page.getByTestId('mlflow-link').getAttribute('href')).toContain(
      `/runs/${run.runs[0]!.info.runId}`,
    );
    // The facts its MLflow record carries: expected effect, feasibility, the hidden metric's mark.
    expect(await page.getByTestId('trial-expected-effect').textContent()).toBe(
      target.expectedEffect,
    );
    expect(await page.getByTestId('feasibility').getAttribute('data-feasible')).toBe(
      String(target.status === 'succeeded'),
    );
    expect(
      await page.locator('[data-testid=metrics] tr[data-metric=heldout]').textContent(),
    ).toContain('hidden from agents');
    expect(problems).toEqual([]);
    await context.close();
  });
});
