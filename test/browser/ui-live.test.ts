/**
 * A campaign page that keeps up with a campaign finishing trials faster than the page can read
 * them, as on a loaded machine: the leaderboard's read takes longer than the time between trial
 * events. While the trials stream in, the leaderboard still lands; once the campaign is quiet, the
 * trial list and the leaderboard agree with the status on the same page.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiService } from '../../server/context.js';
import { createTestEnv, pi, researcher, submitQuadratic, type TestEnv } from '../support/env.js';
import { holdSeeds, slowQuadraticSpec, testRegistry } from '../support/quadratic.js';
import { launchBrowser, screenshot, signIn, startUiServer, type UiServer } from './ui-helpers.js';

/** How long the server takes to answer a leaderboard: far longer than the time between events. */
const SLOW_READ_MS = 4000;

let env: TestEnv;
let ui: UiServer;
let browser: Browser;
let campaignId = '';
let hold: ReturnType<typeof holdSeeds> | undefined;

beforeAll(async () => {
  browser = await launchBrowser();
  env = await createTestEnv({ registry: testRegistry() });
  const real = env.service;
  // The real service, with a leaderboard that answers slowly (as a busy worker does).
  const service = new Proxy(real, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (prop === 'leaderboard')
        return async (...args: Parameters<ApiService['leaderboard']>) => {
          await sleep(SLOW_READ_MS);
          return real.leaderboard(...args);
        };
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
  ui = await startUiServer({
    service,
    mlflow: env.mlflow,
    temporalAddress: env.temporalAddress,
    mlflowUri: env.mlflowUri,
    taskQueue: env.taskQueue,
  });
});

afterAll(async () => {
  hold?.release();
  if (campaignId)
    await env?.service
      .stop(pi, campaignId, { reason: 'test ended', cancelRunning: true })
      .catch(() => {});
  await browser?.close();
  await ui?.close();
  await env?.close();
});

describe('a campaign page while trials stream in', () => {
  it('lands a read slower than the events, and agrees with the status once the campaign is quiet', async () => {
    const problemId = await submitQuadratic(env.service, {
      prefix: 'ui-live',
      spec: slowQuadraticSpec([100, 300], 100),
      criteria: {
        targetPgr: 2,
        budgets: { maxTrials: 1000, concurrency: 4 },
        verification: { topK: 1, seeds: 2 },
      },
    });
    // Nothing finishes until the page has read an empty leaderboard: what it shows after that
    // came from a read made while trials finish.
    hold = holdSeeds();
    ({ campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 11,
    }));
    const { page, problems, context } = await signIn(browser, ui.url, 'pi');
    await page.goto(`${ui.url}/campaigns/${encodeURIComponent(campaignId)}`);
    await page.getByTestId('campaign-page').waitFor();
    const done = async () => (await env.service.status(campaignId)).trialsDone;
    await page.getByText('No scored trial yet.').waitFor({ timeout: 30_000 });
    hold.release();

    // The leaderboard the page shows lands while trials keep finishing: trial events every
    // second, each read 4 s long (a page that cancels its read at each event never shows one).
    const board = page.getByTestId('leaderboard').locator('tbody tr');
    await expect.poll(() => board.count(), { timeout: 30_000, interval: 250 }).toBeGreaterThan(0);
    // Trials still finish after it landed: it landed during the burst, not after it. (Polled:
    // on a loaded machine the next trial may take more than a second or two.)
    const first = await done();
    await expect
      .poll(done, { timeout: 60_000, interval: 250, message: 'trials still finish' })
      .toBeGreaterThan(first);

    // Quiet: every seed from now on waits, so no trial finishes (and no event comes) any more.
    hold = holdSeeds();
    let quiet = await done();
    for (;;) {
      await sleep(2000);
      const now = await done();
      if (now === quiet) break;
      quiet = now;
    }
    const status = await env.service.status(campaignId);
    expect(status.phase).not.toBe('finished');
    expect(status.best).not.toBeNull();

    // The page agrees with the campaign: its count, its trial list, its leaderboard.
    const trialsDone = () =>
      page
        .getByTestId('trials-done')
        .locator('.big-number')
        .textContent()
        .then((t) => Number(/\d+/.exec(t ?? '')?.[0] ?? -1));
    await expect.poll(trialsDone, { timeout: 15_000 }).toBe(status.trialsDone);
    await page.getByRole('button', { name: 'Search only' }).click();
    const listed = () => page.getByTestId('trials').getAttribute('data-count').then(Number);
    await expect.poll(listed, { timeout: 15_000 }).toBe(status.trialsDone);
    await page
      .getByTestId('leaderboard')
      .locator(`tr[data-trial="${status.best!.trialId}"]`)
      .waitFor({ timeout: 15_000 });
    await screenshot(page, 'live-quiet');
    expect(problems).toEqual([]);
    await context.close();
  }, 180_000);
});
