/**
 * A trial a cascade stage stopped, as people see it: on the bin-packing built-in (OpenEvolve
 * layout, threshold 0.6 at stage 1), a one-item-per-bin program is pruned at stage 1. The
 * campaign page's trial table and the trial page say "pruned at stage 1 (score ...)", in
 * headless Chromium against the real API, campaign and worker. Screenshots go to
 * test-results/screenshots/.
 */
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCriteria, parseProblemSpec } from '../../domain/parse.js';
import { isCodeExperiment } from '../../experiments/code.js';
import { ExperimentRegistry, loadRegistry } from '../../experiments/registry.js';
import { checkSandbox } from '../../experiments/sandbox.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from '../support/env.js';
import { launchBrowser, screenshot, signIn, startUiServer, type UiServer } from './ui-helpers.js';

let env: TestEnv;
let ui: UiServer;
let browser: Browser;
let campaignId = '';
let trialId = '';

beforeAll(async () => {
  await checkSandbox(); // throws naming what is missing: this test needs bubblewrap
  browser = await launchBrowser();
  const def = (await loadRegistry()).get('bin-packing');
  if (!isCodeExperiment(def) || !def.problem)
    throw new Error('bin-packing is not a code experiment');
  env = await createTestEnv({ registry: ExperimentRegistry.of(def) });
  ui = await startUiServer({
    service: env.service,
    mlflow: env.mlflow,
    temporalAddress: env.temporalAddress,
    mlflowUri: env.mlflowUri,
    taskQueue: env.taskQueue,
  });
  const problemId = uniqueId('ui-pruned');
  const spec = parseProblemSpec(readFileSync(def.problem.spec, 'utf8'), def.problem.spec);
  await env.service.submitProblem(researcher, { ...spec, id: problemId });
  const criteria = parseCriteria(readFileSync(def.problem.criteria, 'utf8'), def.problem.criteria);
  await env.service.setCriteria(
    pi,
    problemId,
    {
      ...criteria,
      baseline: { kind: 'measure', configuration: 'baseline', seeds: 2 },
      seedsPerTrial: 2,
      budgets: { maxTrials: 1, concurrency: 2, maxWallSeconds: 1800 },
      verification: { topK: 1, seeds: 2 },
    },
    'pruned trial page',
  );
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 3,
    paused: true,
  }));
  await env.service.inject(researcher, campaignId, {
    title: 'one item per bin',
    rationale: 'A bin per item: far below the stage-1 threshold.',
    parentTrialId: null,
    changes: {},
    edits: [
      {
        kind: 'search_replace',
        file: 'initial_program.py',
        search: '    return bins\n',
        replace: '    return list(range(len(sizes)))\n',
      },
    ],
  });
  await env.service.resume(pi, campaignId);
  await env.service.result(campaignId);
  const { trials } = await env.service.trials(campaignId, { limit: 100 });
  const t = trials.find((x) => x.title === 'one item per bin');
  if (t?.status !== 'pruned') throw new Error(`the trial was not pruned: ${JSON.stringify(t)}`);
  trialId = t.id;
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  await env?.close();
});

describe('a pruned trial in the UI', () => {
  it('reads "pruned at stage 1 (score ...)" in the trial table and on the trial page', async () => {
    const s = await signIn(browser, ui.url, 'researcher');
    const shown = /^pruned at stage 1 \(score 0\.\d{3}\)$/;
    await s.page.goto(`${ui.url}/campaigns/${encodeURIComponent(campaignId)}`);
    const row = s.page.getByTestId('trials').locator('tr', { hasText: 'one item per bin' });
    await row.getByTestId('trial-pruned').waitFor();
    expect(await row.getByTestId('trial-pruned').textContent()).toMatch(shown);
    await screenshot(s.page, 'pruned-trial-table');

    await s.page.goto(
      `${ui.url}/campaigns/${encodeURIComponent(campaignId)}/trials/${encodeURIComponent(trialId)}`,
    );
    await s.page.getByTestId('trial-page').waitFor();
    const pill = s.page.getByTestId('trial-pruned');
    await pill.waitFor();
    expect(await pill.textContent()).toMatch(shown);
    expect(await s.page.getByTestId('metrics').textContent()).toMatch(
      /seed \d+ \(pruned at stage 1 \(score 0\.\d{3}\)\)/,
    );
    // A pruned trial was never judged against the constraints: no "infeasible" pill.
    const constraints = s.page.getByTestId('constraints');
    expect(await constraints.textContent()).toContain(
      'Not judged: a cascade stage pruned the trial.',
    );
    expect(await constraints.getByTestId('feasibility').count()).toBe(0);
    await screenshot(s.page, 'pruned-trial-page');
    expect(s.problems).toEqual([]);
    await s.context.close();
  });
});
