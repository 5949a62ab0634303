/**
 * The web UI in headless Chromium against the real API server, worker, Temporal and MLflow:
 * sign-in per role, submitting a problem and criteria, starting campaigns and watching them live,
 * approvals, injected ideas, the lineage and a trial, comparing campaigns, and a viewer who can
 * change nothing. Screenshots of each page go to test-results/screenshots/.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { quadraticCriteria, quadraticSpec, testRegistry } from '../support/quadratic.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from '../support/env.js';
import { eventually } from '../support/eventually.js';
import {
  launchBrowser,
  lineageTimings,
  screenshot,
  signIn,
  startUiServer,
  UI_TOKENS,
  type PageGlobals,
  type SignedIn,
  type UiServer,
} from './ui-helpers.js';

let env: TestEnv;
let ui: UiServer;
let browser: Browser;
const opened: SignedIn[] = [];

beforeAll(async () => {
  // Chromium first: without it the suite fails at once with the install command in the message.
  browser = await launchBrowser();
  env = await createTestEnv({ registry: testRegistry() });
  ui = await startUiServer({
    service: env.service,
    mlflow: env.mlflow,
    temporalAddress: env.temporalAddress,
    mlflowUri: env.mlflowUri,
    taskQueue: env.taskQueue,
  });
});

// Each test's pages close with it: open event streams would use up the browser's connections.
afterEach(async () => {
  for (const s of opened.splice(0)) await s.context.close().catch(() => {});
});

afterAll(async () => {
  // A campaign a failed test left running would go on without a worker: stop it.
  if (campaignA)
    await env?.service
      .stop(pi, campaignA, { reason: 'test suite ended', cancelRunning: true })
      .catch(() => {});
  await browser?.close();
  await ui?.close();
  await env?.close();
});

async function as(role: 'pi' | 'researcher' | 'viewer'): Promise<SignedIn> {
  const s = await signIn(browser, ui.url, role);
  opened.push(s);
  return s;
}

const go = (page: Page, route: string) => page.goto(`${ui.url}${route}`);

/** Text of the wrapper tooltip that explains why a control is disabled. */
const reasonOf = (page: Page, testId: string) =>
  page.getByTestId(testId).locator('xpath=..').getAttribute('title');

const problemId = uniqueId('ui-quad');
const specYaml = `id: ${problemId}
title: Quadratic bowl seen in the browser
question: Where is the maximum of the bowl?
context: A smooth bowl with seed noise; the maximum is 10.
experiment: quadratic
space:
  - { name: x, kind: float, low: -5, high: 5 }
  - { name: y, kind: float, low: -5, high: 5 }
  - { name: delay_ms, kind: int, low: 300, high: 1200 }
baseline: { x: -4, y: 3, delay_ms: 300 }
configurations: { best: { x: 1, y: -2, delay_ms: 300 } }
`;
const criteriaYaml = `metric: score
direction: maximize
baseline: { kind: measure, configuration: baseline, seeds: 2 }
optimum: { kind: value, value: 10 }
seedsPerTrial: 2
hiddenMetrics: [heldout_score]
constraints:
  - { kind: absolute, metric: cost, op: '<=', value: 4 }
targetPgr: 2
budgets: { maxTrials: 400, concurrency: 2 }
verification: { topK: 1, seeds: 2 }
`;
let campaignA = '';
const ideaTitle = 'Go straight to the centre';

describe('the web UI in headless Chromium against the real server', () => {
  it('signs in with a token per role and offers each role only what it may do', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${ui.url}/`);
    await page.getByLabel('Token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toMatch(/unknown or revoked token/);
    await screenshot(page, 'signin');
    await context.close();

    for (const role of ['pi', 'researcher', 'viewer'] as const) {
      const { page, problems } = await as(role);
      expect(await page.getByTestId('who').textContent()).toContain(UI_TOKENS[role].name);
      await page.getByRole('heading', { name: 'Problems' }).waitFor();
      const submit = page.getByTestId('new-problem');
      if (role === 'viewer') {
        expect(await submit.isDisabled()).toBe(true);
        expect(await reasonOf(page, 'new-problem')).toBe(
          'Only researchers and PIs can submit problems; you are signed in as viewer.',
        );
      } else {
        expect(await submit.isEnabled()).toBe(true);
      }
      // The token lives in this tab's sessionStorage only.
      expect(
        await page.evaluate(() =>
          (globalThis as unknown as PageGlobals).sessionStorage.getItem('gaplab.token'),
        ),
      ).toBe(UI_TOKENS[role].token);
      expect(
        await page.evaluate(() => (globalThis as unknown as PageGlobals).localStorage.length),
      ).toBe(0);
      expect(problems).toEqual([]);
    }
  });

  it('lets a researcher submit a problem and a PI set criteria, showing the API field issues', async () => {
    const r = await as('researcher');
    await r.page.getByTestId('new-problem').click();
    await r.page.getByTestId('spec-editor').fill(specYaml);
    await screenshot(r.page, 'problem-submit');
    await r.page.getByRole('button', { name: 'Submit problem' }).click();
    await r.page.waitForURL(`**/problems/${problemId}`);
    await r.page.getByRole('heading', { name: 'Quadratic bowl seen in the browser' }).waitFor();
    // A researcher cannot edit criteria: the control says why.
    expect(await r.page.getByTestId('edit-criteria').isDisabled()).toBe(true);
    expect(await reasonOf(r.page, 'edit-criteria')).toMatch(
      /Only a PI can set evaluation criteria/,
    );
    expect(await r.page.getByTestId('new-campaign').isDisabled()).toBe(true);

    const p = await as('pi');
    await go(p.page, `/problems/${problemId}`);
    await p.page.getByTestId('edit-criteria').click();
    // Invalid criteria: the API's 400 names each field, and the editor shows them.
    await p.page
      .getByTestId('criteria-text')
      .fill(
        criteriaYaml
          .replace('seedsPerTrial: 2', 'seedsPerTrial: 0')
          .replace('budgets: { maxTrials: 400, concurrency: 2 }', 'budgets: { concurrency: 2 }'),
      );
    await p.page.getByTestId('save-criteria').click();
    const issues = p.page.getByTestId('issues');
    await issues.waitFor();
    const text = await issues.textContent();
    expect(text).toContain('criteria.seedsPerTrial');
    expect(text).toMatch(/criteria\.budgets.*set at least one budget/);
    await screenshot(p.page, 'criteria-invalid');

    await p.page.getByTestId('criteria-text').fill(criteriaYaml);
    await p.page.getByLabel('Why this version?').fill('first version');
    await p.page.getByTestId('save-criteria').click();
    await p.page.locator('[data-testid=criteria-view][data-version="1"]').waitFor();
    expect(await p.page.getByTestId('criteria-view').textContent()).toContain('hidden from agents');
    const stored = await env.service.getProblem(problemId);
    expect(stored.criteria).toHaveLength(1);
    expect(stored.criteria[0]!.actor.name).toBe('Pat PI');
    expect(stored.criteria[0]!.reason).toBe('first version');
    await screenshot(p.page, 'problem');
    expect(p.problems).toEqual([]);
  });

  it('lets a researcher start a campaign and watch trials arrive live, then add an idea that runs', async () => {
    const { page, problems } = await as('researcher');
    await go(page, `/problems/${problemId}`);
    await page.getByTestId('new-campaign').click();
    await page.locator('select[name=strategy]').selectOption('random');
    await page.locator('input[name=label]').fill('random A');
    await page.locator('input[name=seed]').fill('11');
    await page.getByTestId('start-submit').click();
    await page.waitForURL(/\/campaigns\//);
    campaignA = decodeURIComponent(new URL(page.url()).pathname.split('/campaigns/')[1]!);
    await page.getByTestId('campaign-page').waitFor();
    // Marks this document: if the page reloads, the mark is gone.
    await page.evaluate(() => ((globalThis as unknown as PageGlobals).__mark = 42));

    const done = async () =>
      Number((await page.getByTestId('trials-done').locator('.big-number').textContent()) ?? '0');
    await expect.poll(done, { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
    const first = await done();
    await expect.poll(done, { timeout: 60_000 }).toBeGreaterThan(first);
    await expect.poll(() => page.getByTestId('live').textContent()).toBe('live');
    await expect
      .poll(async () => Number(await page.getByTestId('pgr-chart').getAttribute('data-points')), {
        timeout: 30_000,
      })
      .toBeGreaterThanOrEqual(2);
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).__mark)).toBe(42);

    // Add an idea: x and y at the bowl's centre.
    await page.getByTestId('idea-toggle').click();
    await page.locator('input[name=idea-title]').fill(ideaTitle);
    await page.locator('input[name=change-x]').fill('1');
    await page.locator('input[name=change-y]').fill('-2');
    await page
      .locator('textarea[name=idea-rationale]')
      .fill('The gradient points there from every trial so far.');
    await page.locator('input[name=idea-expected]').fill('PGR close to 1');
    await page.getByTestId('idea-submit').click();
    await page.getByTestId('idea-done').waitFor();
    // It runs and, near the optimum, makes the leaderboard without a reload, by its author. (The
    // trials table pages newest first, so on a busy machine later trials can push the idea off
    // its first page before the test looks: the leaderboard ranks it by PGR instead.)
    const row = page.getByTestId('leaderboard').locator('tr', { hasText: ideaTitle });
    await row.waitFor({ timeout: 120_000 });
    expect(await row.textContent()).toContain('Rae Researcher');
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).__mark)).toBe(42);
    await page
      .getByTestId('note-text')
      .fill('The centre idea should win; check the hidden metric.');
    await page.getByRole('button', { name: 'Add note' }).click();
    await page.getByTestId('note').filter({ hasText: 'The centre idea should win' }).waitFor();
    await screenshot(page, 'campaign-live');
    expect(problems).toEqual([]);
  });

  it('opens the addresses people are given as they are: deep links, and links of the #/ form', async () => {
    const { page } = await as('viewer');
    // What the demo and the CLI print: the UI's origin, then the campaign's path.
    await go(page, `/campaigns/${encodeURIComponent(campaignA)}`);
    await page.getByTestId('campaign-page').waitFor();
    // The stylesheet comes from /assets/ at the root, as CSS: not the page's HTML served for
    // /campaigns/assets/*.css, which would leave a deep link unstyled.
    const sheets = await page.evaluate(() =>
      [...(globalThis as unknown as PageGlobals).document.styleSheets].map((s) => ({
        href: s.href,
        rules: s.cssRules.length,
      })),
    );
    expect(sheets.length).toBeGreaterThan(0);
    for (const s of sheets) {
      expect(new URL(s.href!).pathname).toMatch(/^\/assets\//);
      expect(s.rules).toBeGreaterThan(10);
    }
    // A link of the older hash form still opens, at its path.
    await go(page, `/#/campaigns/${encodeURIComponent(campaignA)}/lineage`);
    await expect
      .poll(() => {
        const u = new URL(page.url());
        return `${u.pathname}${u.hash}`;
      })
      .toBe(`/campaigns/${encodeURIComponent(campaignA)}/lineage`);
    // A reload of a deep link keeps the page.
    await page.reload();
    await page.waitForURL(`**/campaigns/${encodeURIComponent(campaignA)}/lineage`);
    await page.getByRole('link', { name: 'Problems' }).first().waitFor();
    await screenshot(page, 'deep-link-lineage');
  });

  it('compares two campaigns of one problem on one chart', async () => {
    const { campaignId: campaignB } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 5,
      label: 'random B',
    });
    await eventually(async () => (await env.service.status(campaignB)).trialsDone >= 2, 90_000);
    const { page } = await as('viewer');
    await go(page, `/problems/${problemId}`);
    const chart = page.getByTestId('compare-chart');
    await expect.poll(() => chart.getAttribute('data-series'), { timeout: 30_000 }).toBe('2');
    await expect.poll(() => page.getByTestId('campaign-table').locator('tbody tr').count()).toBe(2);
    expect(await page.getByTestId('campaign-table').textContent()).toContain('random B');
    // Both campaigns have a drawn best-PGR line.
    await expect
      .poll(async () => chart.locator('path[data-campaign][d]:not([d=""])').count(), {
        timeout: 30_000,
      })
      .toBe(2);
    await page.getByRole('button', { name: 'over time' }).click();
    expect(await chart.textContent()).toContain('time since start');
    await screenshot(page, 'compare');
    await env.service.stop(pi, campaignB, {
      reason: 'enough for the comparison',
      cancelRunning: true,
    });
  });

  it('opens the lineage, searches it, and opens a trial with its diff, metrics and links', async () => {
    const { page, problems } = await as('researcher');
    await go(page, `/campaigns/${campaignA}/lineage`);
    await page.waitForSelector('body[data-lineage-ready]');
    const nodes = Number(await page.getByTestId('lineage-canvas').getAttribute('data-nodes'));
    expect(nodes).toBeGreaterThanOrEqual(4);
    const timings = await lineageTimings(page);
    expect(timings.nodes).toBe(nodes);
    await page.getByTestId('lineage-search').fill('straight to the centre');
    await expect.poll(() => page.getByTestId('match-count').textContent()).toBe('1 / 1');
    await page.getByTestId('lineage-search').press('Enter');
    expect(await page.getByTestId('lineage-selected').textContent()).toContain(ideaTitle);
    await screenshot(page, 'lineage', false);
    // "Best trial" centres the best node; a click on the centre of the canvas selects it.
    await page.getByRole('button', { name: 'Close' }).click();
    await page.getByRole('button', { name: 'Best trial' }).click();
    const bestTitle = await page.getByTestId('lineage-selected').locator('h2').textContent();
    expect(await page.getByTestId('lineage-stats').textContent()).toContain(bestTitle);
    await page.getByRole('button', { name: 'Close' }).click();
    await page.getByTestId('lineage-selected').waitFor({ state: 'detached' });
    const box = (await page.getByTestId('lineage-canvas').boundingBox())!;
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await page.getByTestId('lineage-selected').waitFor();
    expect(await page.getByTestId('lineage-selected').locator('h2').textContent()).toBe(bestTitle);
    // Back to the idea, and on to its trial page.
    await page.getByTestId('lineage-search').press('Enter');
    await expect
      .poll(() => page.getByTestId('lineage-selected').locator('h2').textContent())
      .toBe(ideaTitle);
    await page.getByTestId('open-trial').click();

    await page.getByTestId('trial-page').waitFor();
    expect(await page.getByTestId('trial-title').textContent()).toBe(ideaTitle);
    // The parent's values load beside this trial's.
    await page.getByTestId('params').getByRole('columnheader', { name: 'Parent' }).waitFor();
    expect(
      await page
        .locator('[data-testid=params] tr[data-changed]', { hasText: 'x' })
        .first()
        .textContent(),
    ).toMatch(/-4.*1/);
    expect(await page.getByTestId('trial-page').textContent()).toContain('Rae Researcher');
    // Parameters as a diff against the parent (the baseline): x and y changed, delay_ms did not.
    const changed = await page
      .locator('[data-testid=params] tr[data-changed] td.mono:first-child')
      .allTextContents();
    expect(changed.sort()).toEqual(['x', 'y']);
    // Hidden metrics are shown to people, marked.
    const heldout = page.locator('[data-testid=metrics] tr[data-metric=heldout_score]');
    expect(await heldout.textContent()).toContain('hidden from agents');
    expect(
      await page.locator('[data-testid=metrics] tr[data-metric=score]').textContent(),
    ).not.toContain('hidden from agents');
    expect(await page.getByTestId('constraints').textContent()).toMatch(/cost <= 4.*holds/);
    // The MLflow link needs the trial's MLflow record, which the API may not have located yet
    // while the campaign runs (it then answers from the workflow); the seeded-lineage test
    // checks it on a record read from MLflow.
    const mlflowLink = page.getByTestId('mlflow-link');
    if (await mlflowLink.count())
      expect(await mlflowLink.getAttribute('href')).toMatch(/\/#\/experiments\/\d+\/runs\/\w+/);
    // Temporal's UI has no sign-in and shows every hidden value: its link is for PIs only.
    expect(await page.getByTestId('temporal-link').count()).toBe(0);
    await screenshot(page, 'trial');
    expect(problems).toEqual([]);
  });

  it('lets a viewer see a campaign but change nothing', async () => {
    const { page, context } = await as('viewer');
    const writes: string[] = [];
    page.on('request', (r) => {
      if (r.method() !== 'GET') writes.push(`${r.method()} ${r.url()}`);
    });
    await go(page, `/campaigns/${campaignA}`);
    await page.getByTestId('campaign-page').waitFor();
    for (const id of ['pause', 'stop', 'edit-budgets']) {
      expect(await page.getByTestId(id).isDisabled()).toBe(true);
      expect(await reasonOf(page, id)).toMatch(/you are signed in as viewer/);
    }
    expect(await page.getByTestId('note-text').count()).toBe(0);
    expect(await page.getByTestId('idea-toggle').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Add an idea' }).isDisabled()).toBe(true);
    // Forcing a click on a disabled control sends nothing.
    await page.getByTestId('stop').click({ force: true });
    await screenshot(page, 'campaign-viewer');
    await go(page, `/problems/${problemId}`);
    await page.getByTestId('problem-page').waitFor();
    expect(await page.getByTestId('new-campaign').isDisabled()).toBe(true);
    expect(await page.getByTestId('edit-criteria').isDisabled()).toBe(true);
    // The API refuses a viewer too, whatever the UI shows.
    const status = await page.evaluate(async (id) => {
      const token = (globalThis as unknown as PageGlobals).sessionStorage.getItem('gaplab.token');
      const res = await fetch(`/api/campaigns/${encodeURIComponent(id)}/pause`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: '{}',
      });
      return res.status;
    }, campaignA);
    expect(status).toBe(403);
    expect(writes).toHaveLength(1); // the forced fetch above, nothing from the UI
    await context.close();
  });

  it('lets a PI stop a campaign with a reason, and shows the stop reason', async () => {
    const { page, problems } = await as('pi');
    await go(page, `/campaigns/${campaignA}`);
    await page.getByTestId('stop').click();
    await page.locator('input[name=stop-reason]').fill('The centre idea answered the question');
    // Asked for: a stop verifies the best only when the PI says so.
    await page.locator('input[name=verify-on-stop]').check();
    await page.getByTestId('confirm-stop').click();
    await expect
      .poll(() => page.getByTestId('stop-reason').textContent(), { timeout: 60_000 })
      .toMatch(/stopped by the PI/);
    await expect
      .poll(() => page.getByTestId('phase').textContent(), { timeout: 90_000 })
      .toBe('finished');
    await page.getByTestId('verification').waitFor({ timeout: 30_000 });
    const audit = await env.service.audit(campaignA);
    expect(
      audit.some(
        (a) =>
          a.actor.name === 'Pat PI' &&
          /stop/.test(a.action) &&
          /centre idea answered/.test(a.detail ?? ''),
      ),
    ).toBe(true);
    await screenshot(page, 'campaign-finished');
    expect(problems).toEqual([]);
  });

  it('lets a researcher start a campaign paused, then resume it', async () => {
    const { page, problems } = await as('researcher');
    await go(page, `/problems/${problemId}`);
    await page.getByTestId('new-campaign').click();
    await page.locator('select[name=strategy]').selectOption('random');
    await page.locator('input[name=label]').fill('paused first');
    await page.locator('input[name=paused]').check();
    await page.getByTestId('start-submit').click();
    await page.waitForURL(/\/campaigns\//);
    const campaignId = decodeURIComponent(new URL(page.url()).pathname.split('/campaigns/')[1]!);
    await page.getByTestId('resume').waitFor();
    const status = await env.service.status(campaignId);
    expect(status.paused).toBe(true);
    expect(status.ledger.trialsStarted).toBe(0);
    await page.getByTestId('resume').click();
    await page.getByTestId('pause').waitFor();
    expect((await env.service.status(campaignId)).paused).toBe(false);
    const audit = await env.service.audit(campaignId);
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining(['start', 'pause', 'resume']),
    );
    await env.service.stop(pi, campaignId, { reason: 'enough', cancelRunning: true });
    expect(problems).toEqual([]);
  });

  it('lets a PI approve one hypothesis and reject another in approval mode', async () => {
    const id = uniqueId('ui-approve');
    await env.service.submitProblem(researcher, {
      ...quadraticSpec,
      id,
      title: 'Quadratic bowl under approval',
    });
    await env.service.setCriteria(
      pi,
      id,
      {
        ...quadraticCriteria,
        budgets: { maxTrials: 3, concurrency: 2 },
        approval: { enabled: true, timeoutSeconds: 3600, onTimeout: 'reject' },
        verification: { topK: 0, seeds: 1 },
      },
      'approval mode',
    );
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId: id,
      strategy: { name: 'random' },
      seed: 3,
      label: 'approved by hand',
    });
    const pending = await eventually(async () => {
      const p = await env.service.pending(campaignId);
      return p.length >= 2 ? p : null;
    }, 90_000);

    const { page, problems } = await as('pi');
    await go(page, `/campaigns/${campaignId}`);
    const items = page.getByTestId('approval');
    await expect.poll(() => items.count(), { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
    await screenshot(page, 'approvals');
    const approveId = pending[0]!.hypothesis.id;
    const rejectId = pending[1]!.hypothesis.id;
    await page
      .locator(`[data-testid=approval][data-hypothesis="${approveId}"] [data-testid=approve]`)
      .click();
    await page
      .locator(`[data-testid=approval][data-hypothesis="${approveId}"]`)
      .waitFor({ state: 'detached' });
    const rejecting = page.locator(`[data-testid=approval][data-hypothesis="${rejectId}"]`);
    await rejecting.getByLabel('Reason for the decision').fill('x is already at its bound');
    await rejecting.getByTestId('reject').click();
    await rejecting.waitFor({ state: 'detached' });

    const audit = await env.service.audit(campaignId);
    expect(
      audit.some(
        (a) =>
          a.actor.name === 'Pat PI' &&
          /approve/.test(a.action) &&
          (a.detail ?? '').includes(approveId),
      ),
    ).toBe(true);
    expect(
      audit.some(
        (a) =>
          a.actor.name === 'Pat PI' &&
          /reject/.test(a.action) &&
          (a.detail ?? '').includes(rejectId),
      ),
    ).toBe(true);
    // The approved hypothesis runs and appears as a trial without a reload.
    await page
      .getByTestId('trials')
      .locator('tr', { hasText: pending[0]!.hypothesis.title })
      .first()
      .waitFor({ timeout: 60_000 });
    expect(problems).toEqual([]);
    await env.service.stop(pi, campaignId, { reason: 'test over', cancelRunning: true });
  });
});
