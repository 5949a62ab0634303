/**
 * One best, one interval, on every screen: a finished campaign (real worker, Temporal, MLflow)
 * in which a trial that outranked the others by its search interval failed verification (so it
 * is not the best), read in headless Chromium from the campaign page (its best, the leaderboard
 * and the trials table), the lineage, the trial page and the problem page's comparison, from the
 * API (status, report, compare view) and from the command line (`gaplab report`, `report --json`,
 * `status`, `watch`). Each names the same best trial and writes its PGR and interval the same.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CampaignReport, CampaignStatus, Compare } from '../../api/schemas.js';
import { formatEstimate } from '../../domain/format.js';
import { formatRecorded } from '../../ui/src/lib/format.js';
import gaming from '../../experiments/gaming/experiment.js';
import { ExperimentRegistry } from '../../experiments/registry.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from '../support/env.js';
import {
  launchBrowser,
  screenshot,
  signIn,
  startUiServer,
  UI_TOKENS,
  type SignedIn,
  type UiServer,
} from './ui-helpers.js';

let env: TestEnv;
let ui: UiServer;
let browser: Browser;
let signedIn: SignedIn;
const problemId = uniqueId('ui-best');
let campaignId = '';
let memoId = '';

beforeAll(async () => {
  browser = await launchBrowser();
  env = await createTestEnv({
    registry: ExperimentRegistry.of(...gaming.filter((e) => e.name === 'gaming-seeds')),
  });
  ui = await startUiServer({
    service: env.service,
    mlflow: env.mlflow,
    temporalAddress: env.temporalAddress,
    mlflowUri: env.mlflowUri,
    taskQueue: env.taskQueue,
  });
  await env.service.submitProblem(researcher, {
    id: problemId,
    title: 'One best on every screen',
    question: 'Which x gives the best score?',
    experiment: 'gaming-seeds',
    space: [
      { name: 'x', kind: 'float', low: 0, high: 1 },
      { name: 'memo', kind: 'boolean' },
    ],
    baseline: { x: 0, memo: false },
  });
  await env.service.setCriteria(
    pi,
    problemId,
    {
      metric: 'score',
      direction: 'maximize',
      baseline: { kind: 'measure', configuration: 'baseline', seeds: 3 },
      optimum: { kind: 'value', value: 1 },
      seedsPerTrial: 3,
      hiddenMetrics: ['heldout_score'],
      // Set as 0.999: every screen writes it so, never rounded up to 1.
      targetPgr: 0.999,
      budgets: { maxTrials: 6, concurrency: 6 },
      verification: { topK: 2, seeds: 3 },
    },
    'test',
  );
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 7,
    paused: true,
  }));
  // Tuned on the search seeds: the highest interval of the search, and it fails on fresh seeds.
  const { hypothesisId } = await env.service.inject(pi, campaignId, {
    title: 'memorise the seeds',
    changes: { x: 0.5, memo: true },
  });
  await env.service.inject(pi, campaignId, { title: 'near the top', changes: { x: 0.66 } });
  await env.service.resume(pi, campaignId);
  await env.service.result(campaignId);
  const { trials } = await env.service.trials(campaignId, { kind: 'search', limit: 1000 });
  memoId = trials.find((t) => t.hypothesisId === hypothesisId)!.id;
  signedIn = await signIn(browser, ui.url, 'viewer');
}, 300_000);

afterAll(async () => {
  await signedIn?.context.close().catch(() => {});
  await browser?.close();
  await ui?.close();
  await env?.close();
});

async function api<T>(url: string, schema: { parse(v: unknown): T }): Promise<T> {
  const res = await fetch(`${ui.url}/api${url}`, {
    headers: { authorization: `Bearer ${UI_TOKENS.viewer.token}` },
  });
  expect(res.status, url).toBe(200);
  return schema.parse(await res.json());
}

async function gaplab(...args: string[]): Promise<string> {
  const out = await promisify(execFile)(
    process.execPath,
    [path.join(import.meta.dirname, '..', '..', 'bin', 'gaplab.mjs'), ...args],
    { env: { ...process.env, GAPLAB_URL: ui.url, GAPLAB_TOKEN: UI_TOKENS.viewer.token } },
  );
  return `${out.stdout}${out.stderr}`;
}

const go = async (page: Page, route: string) => {
  await page.goto(`${ui.url}${route}`);
};
const text = async (page: Page, selector: string) =>
  ((await page.locator(selector).first().textContent()) ?? '').trim();
/** A PGR chip's mean and interval as shown: `0.59 [0.41, 0.77]`. */
const chip = async (page: Page, within: string) =>
  `${await text(page, `${within} .chip .pgr-mean`)} ${await text(page, `${within} .chip .pgr-interval`)}`;

/** What one screen names as the best: its trial id and its PGR with interval, as written there. */
type Named = { id: string; pgr: string };

describe('one best, one interval, on every screen', () => {
  it('the campaign page, leaderboard, trials table, lineage, trial page, problem page, API and CLI agree', async () => {
    const status = await api(`/campaigns/${campaignId}`, CampaignStatus);
    const best = status.best!;
    expect(best).not.toBeNull();
    // The memorising trial led the search by its interval, then failed verification.
    expect(best.trialId).not.toBe(memoId);
    const expected: Named = { id: best.trialId, pgr: formatEstimate(best.pgr) };
    const named: Record<string, Named> = {};

    const { page } = signedIn;
    await go(page, `/campaigns/${campaignId}`);
    await page
      .getByTestId('best-trial')
      .waitFor()
      .catch(async (err: unknown) => {
        await screenshot(page, 'best-campaign-missing');
        throw new Error(`${String(err)}; page problems: ${signedIn.problems.join('; ')}`);
      });
    named['campaign page'] = {
      id: (await page.getByTestId('best-trial').getAttribute('data-trial-id')) ?? '',
      pgr: `${await text(page, '[data-testid=best-mean]')} ${await text(page, '[data-testid=best-interval]')}`,
    };
    expect(await text(page, '[data-testid=target-pgr] .big-number')).toBe('0.999');
    await page.locator('[data-testid=leaderboard] tbody tr').first().waitFor();
    const top = page.locator('[data-testid=leaderboard] tbody tr').first();
    const topId = (await top.getAttribute('data-trial')) ?? '';
    named['leaderboard'] = {
      id: topId,
      pgr: await chip(page, `[data-testid=leaderboard] tbody tr[data-trial="${topId}"]`),
    };
    await page.locator(`[data-testid=trials] tr[data-trial="${best.trialId}"]`).waitFor();
    named['trials table'] = {
      id: best.trialId,
      pgr: await chip(page, `[data-testid=trials] tr[data-trial="${best.trialId}"]`),
    };
    await screenshot(page, 'best-campaign');

    await go(page, `/campaigns/${campaignId}/lineage`);
    await page.getByTestId('best-id').waitFor();
    named['lineage'] = {
      id: await text(page, '[data-testid=best-id]'),
      pgr: await text(page, '[data-testid=best-pgr]'),
    };

    await go(page, `/campaigns/${campaignId}/trials/${best.trialId}`);
    await page.locator('[data-testid=trial-pgr] .chip').waitFor();
    named['trial page'] = { id: best.trialId, pgr: await chip(page, '[data-testid=trial-pgr]') };

    await go(page, `/problems/${problemId}`);
    const row = `[data-testid=campaign-table] tr[data-campaign="${campaignId}"]`;
    await page.locator(`${row} [data-testid=compare-best-id]`).waitFor();
    named['problem page'] = {
      id: await text(page, `${row} [data-testid=compare-best-id]`),
      pgr: await chip(page, row),
    };
    expect(await text(page, `${row} [data-testid=compare-verdict]`)).not.toBe('—');
    await screenshot(page, 'best-problem');

    const report = await api(`/campaigns/${campaignId}/report`, CampaignReport);
    named['JSON report'] = { id: report.best!.id, pgr: formatEstimate(report.best!.pgr) };
    const compare = await api(`/problems/${problemId}/compare`, Compare);
    const mine = compare.campaigns.find((c) => c.campaignId === campaignId)!;
    named['compare view'] = { id: mine.best!.trialId, pgr: formatRecorded(mine.best) };
    expect(mine.verdict).toEqual(report.verdict);

    const [markdown, json, statusLine, watched] = await Promise.all([
      gaplab('report', campaignId),
      gaplab('report', campaignId, '--json'),
      gaplab('status', campaignId),
      gaplab('watch', campaignId),
    ]);
    // The report names its best in the best trial's section; its PGR in the result table.
    const bestId = /^\*\*(\S+): /m.exec(markdown.slice(markdown.indexOf('## Best trial')));
    const bestPgr = /\| best PGR \(mean, CI\) \| (.+?) \|/.exec(markdown);
    expect(bestId, markdown).not.toBeNull();
    expect(bestPgr, markdown).not.toBeNull();
    named['gaplab report'] = { id: bestId![1]!, pgr: bestPgr![1]! };
    expect(markdown).toContain('| target PGR | 0.999 |');
    const fromJson = CampaignReport.parse(JSON.parse(json));
    named['gaplab report --json'] = {
      id: fromJson.best!.id,
      pgr: formatEstimate(fromJson.best!.pgr),
    };
    const inStatus = /best (\S+) PGR (.+? \[[^\]]+\])/.exec(statusLine);
    expect(inStatus, statusLine).not.toBeNull();
    named['gaplab status'] = { id: inStatus![1]!, pgr: inStatus![2]! };
    const inWatch = /best (\S+): visible PGR (.+? \[[^\]]+\])/.exec(watched);
    expect(inWatch, watched).not.toBeNull();
    named['gaplab watch'] = { id: inWatch![1]!, pgr: inWatch![2]! };

    for (const [screen, n] of Object.entries(named))
      expect({ screen, ...n }).toEqual({ screen, ...expected });
    expect(signedIn.problems).toEqual([]);
  });
});
