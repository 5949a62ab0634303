/**
 * The trial page shows every fact the campaign recorded about a trial: the expected effect its
 * author wrote, feasibility with each constraint's verdict as recorded when the trial was scored,
 * and which metrics are hidden from agents, all from one request. Checked in headless Chromium on the same trials twice: while the campaign runs (the
 * API reads its workflow) and once it has finished (the API reads MLflow). Screenshots go to
 * test-results/screenshots/.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TrialsPage } from '../../api/schemas.js';
import { quadraticCriteria, quadraticSpec, testRegistry } from '../support/quadratic.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from '../support/env.js';
import { eventually } from '../support/eventually.js';
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
const opened: SignedIn[] = [];

const problemId = uniqueId('ui-trial');
let campaignId = '';

/** Two ideas a person adds: one within the cost limit (cost is |x|), one over it. */
const IDEAS = {
  feasible: {
    title: 'Centre of the bowl',
    changes: { x: 1, y: -2 },
    expectedEffect: 'PGR close to 1 at a cost of 1, well within the limit',
  },
  infeasible: {
    title: 'Far along x',
    changes: { x: 4.5, y: -2 },
    expectedEffect: 'A better score than the baseline, but the cost goes over 4',
  },
} as const;
const ids: Record<keyof typeof IDEAS, string> = { feasible: '', infeasible: '' };

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
  await env.service.submitProblem(researcher, {
    ...quadraticSpec,
    id: problemId,
    title: 'Quadratic bowl with a cost limit',
    space: quadraticSpec.space.map((p) => (p.name === 'delay_ms' ? { ...p, high: 200 } : p)),
  });
  await env.service.setCriteria(
    pi,
    problemId,
    {
      ...quadraticCriteria,
      constraints: [{ kind: 'absolute', metric: 'cost', op: '<=', value: 4 }],
      // More than run before the pause below, whatever the pace: the campaign is stopped by hand.
      budgets: { maxTrials: 1000, concurrency: 1 },
      verification: { topK: 0, seeds: 1 },
    },
    'a cost limit',
  );
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.context.close().catch(() => {});
});

afterAll(async () => {
  if (campaignId)
    await env?.service
      .stop(pi, campaignId, { reason: 'test suite ended', cancelRunning: true })
      .catch(() => {});
  await browser?.close();
  await ui?.close();
  await env?.close();
});

/** The campaign's trials as the API serves them (and where it read them from). */
async function trials(): Promise<TrialsPage> {
  const res = await fetch(`${ui.url}/api/campaigns/${encodeURIComponent(campaignId)}/trials`, {
    headers: { authorization: `Bearer ${UI_TOKENS.pi.token}` },
  });
  if (!res.ok) throw new Error(`GET trials: ${res.status} ${await res.text()}`);
  return (await res.json()) as TrialsPage;
}

/** Ids of both ideas' trials once both have succeeded, as the given source reports them. */
async function ideaTrials(source: TrialsPage['source']): Promise<boolean> {
  const page = await trials();
  if (page.source !== source) return false;
  for (const key of Object.keys(IDEAS) as (keyof typeof IDEAS)[]) {
    const t = page.trials.find((x) => x.title === IDEAS[key].title);
    if (t?.status !== 'succeeded') return false;
    ids[key] = t.id;
  }
  return true;
}

/**
 * Opens a trial's page and checks that its facts came in one request: the trial detail, and no
 * read of the campaign's status, its problem (criteria), the parent or the baseline besides.
 * (The shell's own `/me` and a running campaign's event stream are not facts of the trial.)
 */
async function openTrial(role: 'researcher' | 'pi', trialId: string): Promise<Page> {
  const s = await signIn(browser, ui.url, role);
  opened.push(s);
  // The page signing in landed on reads its own (the problem list): let them end first.
  await s.page.waitForLoadState('networkidle');
  const reads: string[] = [];
  s.page.on('request', (r) => {
    const { pathname } = new URL(r.url());
    if (/^\/api\/(campaigns|problems)(\/|$)/.test(pathname) && !pathname.endsWith('/events'))
      reads.push(pathname);
  });
  await s.page.goto(`${ui.url}/campaigns/${encodeURIComponent(campaignId)}/trials/${trialId}`);
  await s.page.getByTestId('trial-page').waitFor();
  await s.page.getByTestId('constraint').first().waitFor();
  expect(reads).toEqual([
    `/api/campaigns/${encodeURIComponent(campaignId)}/trials/${encodeURIComponent(trialId)}`,
  ]);
  return s.page;
}

/** What every trial page of this campaign shows, whichever source the API read. */
async function expectFacts(page: Page, idea: keyof typeof IDEAS): Promise<void> {
  expect(await page.getByTestId('trial-title').textContent()).toBe(IDEAS[idea].title);
  const feasible = idea === 'feasible';
  await expect
    .poll(() => page.getByTestId('feasibility').getAttribute('data-feasible'))
    .toBe(String(feasible));
  expect(await page.getByTestId('feasibility').textContent()).toBe(
    feasible ? 'feasible' : 'infeasible',
  );
  const constraint = page.getByTestId('constraint');
  expect(await constraint.count()).toBe(1);
  expect(await constraint.getAttribute('data-ok')).toBe(String(feasible));
  // The verdict's description, the trial's mean cost (|x|) and the verdict, as recorded.
  expect(await constraint.textContent()).toBe(feasible ? 'cost <= 41holds' : 'cost <= 44.5fails');
  expect(await page.getByTestId('constraints-judged-again').count()).toBe(0);
  await expectHiddenMarks(page);
}

/** Each idea's trial page shows the expected effect its author wrote. */
async function expectExpectedEffects(): Promise<void> {
  for (const idea of Object.keys(IDEAS) as (keyof typeof IDEAS)[]) {
    const page = await openTrial('researcher', ids[idea]);
    expect(await page.getByTestId('trial-expected-effect').textContent()).toBe(
      IDEAS[idea].expectedEffect,
    );
  }
}

/** The hidden metric is marked, and only it. */
async function expectHiddenMarks(page: Page): Promise<void> {
  const metrics = page.getByTestId('metrics');
  expect(
    await metrics.locator('tr[data-metric=heldout_score] [data-testid=hidden-mark]').count(),
  ).toBe(1);
  expect(await metrics.getByTestId('hidden-mark').count()).toBe(1);
}

/** Cells of the hidden metric whose values this person may not see yet. */
const withheld = (page: Page) =>
  page
    .locator('[data-testid=metrics] tr[data-metric=heldout_score] [data-testid=withheld]')
    .count();

describe('the trial page shows what the campaign recorded', () => {
  it('while the campaign runs: feasibility and hidden marks from the workflow', async () => {
    ({ campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 13,
    }));
    for (const idea of Object.values(IDEAS))
      await env.service.inject(researcher, campaignId, {
        title: idea.title,
        rationale: 'Checked on the trial page.',
        parentTrialId: null,
        changes: idea.changes,
        expectedEffect: idea.expectedEffect,
      });
    await eventually(() => ideaTrials('workflow'), 120_000, 500);
    // Paused, the campaign stays running (the API keeps reading its workflow) and starts nothing.
    await env.service.pause(pi, campaignId, 'reading the trial page');
    expect((await trials()).source).toBe('workflow');

    const feasible = await openTrial('researcher', ids.feasible);
    await expectFacts(feasible, 'feasible');
    // While the campaign runs, a researcher sees that the hidden metric exists, not its values.
    expect(await withheld(feasible)).toBeGreaterThan(0);
    await screenshot(feasible, 'trial-facts-running-feasible');
    const infeasible = await openTrial('researcher', ids.infeasible);
    await expectFacts(infeasible, 'infeasible');
    await screenshot(infeasible, 'trial-facts-running-infeasible');
  });

  it('while the campaign runs: the expected effect each idea was injected with', async () => {
    expect((await trials()).source).toBe('workflow');
    await expectExpectedEffects();
  });

  it('once the campaign has finished: the same facts read back from MLflow, references marked too', async () => {
    await env.service.stop(pi, campaignId, {
      reason: 'the trial page was read',
      cancelRunning: true,
    });
    await eventually(() => ideaTrials('mlflow'), 120_000, 500);

    const feasible = await openTrial('researcher', ids.feasible);
    await expectFacts(feasible, 'feasible');
    // Finished: everyone sees the hidden metric's values, still marked.
    expect(await withheld(feasible)).toBe(0);
    await screenshot(feasible, 'trial-facts-mlflow-feasible');
    const infeasible = await openTrial('researcher', ids.infeasible);
    await expectFacts(infeasible, 'infeasible');
    await screenshot(infeasible, 'trial-facts-mlflow-infeasible');

    // A reference trial carries the criteria's hidden metric too.
    const baseline = await openTrial('pi', 'baseline');
    expect(await baseline.getByTestId('trial-title').textContent()).toBeTruthy();
    await expectHiddenMarks(baseline);
    await screenshot(baseline, 'trial-facts-mlflow-baseline');
  });

  it('once the campaign has finished: the expected effect read back from MLflow', async () => {
    expect((await trials()).source).toBe('mlflow');
    await expectExpectedEffects();
  });
});
