/**
 * Code in the UI, in headless Chromium over the real services (Temporal, MLflow, a worker,
 * bubblewrap, python3), on the built-in weak-to-strong-code problem:
 * - a good edit (the hand-written method, injected as edits) runs, and its trial page shows the
 *   diff from the baseline's source both while the campaign runs (the diff read through the API
 *   from the stored snapshots or the run) and once read back from MLflow (the record's diff);
 * - a researcher proposes a code idea through the "add an idea" diff editor, seeing the parent's
 *   source first; it runs as a trial with its diff;
 * - a diff that does not apply is refused, and the API's reason, naming the edits, is shown
 *   beside the editor.
 * Screenshots go to test-results/screenshots/.
 */
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TrialsPage } from '../../api/schemas.js';
import { diffSnapshots } from '../../domain/code.js';
import { parseCriteria, parseProblemSpec } from '../../domain/parse.js';
import { isCodeExperiment, type CodeExperimentDefinition } from '../../experiments/code.js';
import { ExperimentRegistry, loadRegistry } from '../../experiments/registry.js';
import { checkSandbox } from '../../experiments/sandbox.js';
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

const HAND_WRITTEN = readFileSync(
  new URL('../fixtures/weak-to-strong-code/sparse_relaxed_lasso.py', import.meta.url),
  'utf8',
);
/** A line the good edit adds (the diff shows it as `+…`). */
const ADDED_LINE = 'def _fit(x, t, steps=2000, lr=0.5):';
const GOOD = 'sparse relaxed lasso';
const MINE = 'fewer gradient steps';
const HALF_STEP = 'half the default step size';
/** The researcher's small edit: a marker comment and at most 200 gradient steps. */
const MINE_MARK = '# at most 200 steps: stop before the weak labels are learnt exactly';

let env: TestEnv;
let ui: UiServer;
let browser: Browser;
let def: CodeExperimentDefinition;
let campaignId = '';
const opened: SignedIn[] = [];

beforeAll(async () => {
  await checkSandbox(); // throws naming what is missing: this test needs bubblewrap
  const registry = await loadRegistry();
  const e = registry.get('weak-to-strong-code');
  if (!isCodeExperiment(e) || !e.problem)
    throw new Error('weak-to-strong-code is not a code experiment');
  def = e;
  browser = await launchBrowser();
  env = await createTestEnv({ registry: ExperimentRegistry.of(e) });
  ui = await startUiServer({
    service: env.service,
    mlflow: env.mlflow,
    temporalAddress: env.temporalAddress,
    mlflowUri: env.mlflowUri,
    taskQueue: env.taskQueue,
  });
  const problemId = uniqueId('ui-code');
  const spec = parseProblemSpec(readFileSync(e.problem.spec, 'utf8'), e.problem.spec);
  await env.service.submitProblem(researcher, { ...spec, id: problemId });
  const criteria = parseCriteria(readFileSync(e.problem.criteria, 'utf8'), e.problem.criteria);
  await env.service.setCriteria(
    pi,
    problemId,
    {
      ...criteria,
      // Few seeds and two trials: the PI's good edit and the researcher's idea. Ideas from
      // anyone but a PI wait for a PI's decision, the strategy's too: until the researcher's is
      // approved, the campaign keeps running and runs nothing else.
      // Five baseline seeds: on two, t(1) is 12.7 and a keyed draw with a little spread puts
      // the baseline within noise of the optimum, which would end the campaign at once.
      baseline: { kind: 'measure', configuration: 'baseline', seeds: 5 },
      seedsPerTrial: 2,
      approval: { enabled: true, timeoutSeconds: 3600, onTimeout: 'reject' },
      // Nothing else may end it before the researcher's idea is approved: not the good edit
      // reaching the target (on two seeds that agree closely its lower bound can), nor rounds of
      // proposals waiting for a PI counted as stagnation.
      targetPgr: 2,
      stagnation: { iterations: 1000, minImprovement: 0.01 },
      budgets: { maxTrials: 2, concurrency: 1, maxWallSeconds: 900 },
      verification: { topK: 0, seeds: 1 },
    },
    'browser test of code ideas',
  );
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 5,
  }));
  await env.service.inject(pi, campaignId, {
    title: GOOD,
    rationale: 'keep the one salient direction, refit without penalty, threshold by the prior',
    changes: {},
    edits: [
      { kind: 'diff', diff: diffSnapshots(def.code.initialSource, { 'method.py': HAND_WRITTEN }) },
    ],
  });
}, 300_000);

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

async function trials(): Promise<TrialsPage> {
  const res = await fetch(`${ui.url}/api/campaigns/${encodeURIComponent(campaignId)}/trials`, {
    headers: { authorization: `Bearer ${UI_TOKENS.viewer.token}` },
  });
  if (!res.ok) throw new Error(`GET trials: ${res.status} ${await res.text()}`);
  return (await res.json()) as TrialsPage;
}

async function open(role: 'researcher' | 'viewer', hash: string): Promise<SignedIn> {
  const s = await signIn(browser, ui.url, role);
  opened.push(s);
  await s.page.goto(`${ui.url}/#${hash}`);
  return s;
}

async function trialDiff(page: Page, trialId: string): Promise<string> {
  await page.goto(`${ui.url}/campaigns/${encodeURIComponent(campaignId)}/trials/${trialId}`);
  await page.getByTestId('trial-page').waitFor();
  await page.locator('[data-testid=trial-diff]').waitFor();
  return (await page.getByTestId('trial-diff').textContent()) ?? '';
}

describe('code in the UI', () => {
  it('a researcher sees the parent source, a bad diff is refused beside the editor, and a diff and a search/replace edit wait for a PI', async () => {
    const { page, problems } = await open(
      'researcher',
      `/campaigns/${encodeURIComponent(campaignId)}`,
    );
    await page.getByTestId('idea-toggle').click();
    await page.locator('input[name=idea-title]').fill(MINE);
    // The parent's source (the baseline runs the starting source), read-only.
    await page.getByTestId('idea-show-source').click();
    await expect
      .poll(() => page.getByTestId('idea-parent-source').textContent())
      .toContain('def train(features, weak_labels, unlabelled_features, params, rng):');
    // A diff whose lines are not in method.py: the campaign's reason names the edits.
    await page
      .locator('textarea[name=idea-diff]')
      .fill(
        '--- a/method.py\n+++ b/method.py\n@@ -1,1 +1,1 @@\n-this line is not in method.py\n+pass\n',
      );
    await page.getByTestId('idea-submit').click();
    const error = page.getByTestId('idea-edits-error');
    await error.waitFor();
    expect(await error.textContent()).toMatch(/edits do not apply: .*method\.py/);
    await screenshot(page, 'code-idea-refused');
    // A small diff against the starting source.
    const initial = def.code.initialSource['method.py']!;
    const mine = initial.replace(
      '    for _ in range(epochs):',
      `    ${MINE_MARK}\n    for _ in range(min(epochs, 200)):`,
    );
    expect(mine).not.toBe(initial);
    await page
      .locator('textarea[name=idea-diff]')
      .fill(diffSnapshots(def.code.initialSource, { 'method.py': mine }));
    await page.getByTestId('idea-submit').click();
    await page.getByTestId('idea-done').waitFor();
    const queued = (await page.getByTestId('idea-done').textContent()) ?? '';
    expect(await page.getByTestId('idea-edits-error').count()).toBe(0);
    // The same through a search/replace block (the file defaults to the parent's only one).
    await page.getByTestId('idea-toggle').click();
    await page.locator('input[name=idea-title]').fill(HALF_STEP);
    await page.locator('select[name=idea-edit-mode]').selectOption('search_replace');
    await page.locator('textarea[name=idea-search]').fill('float(params.get("lr", 0.5))');
    await page.locator('textarea[name=idea-replace]').fill('float(params.get("lr", 0.25))');
    await page.getByTestId('idea-submit').click();
    await expect.poll(() => page.getByTestId('idea-done').textContent()).not.toContain(queued);
    const pending = await env.service.pending(campaignId);
    expect(pending.map((p) => p.hypothesis.title)).toEqual(
      expect.arrayContaining([MINE, HALF_STEP]),
    );
    expect(problems).toEqual([]);
  }, 120_000);

  it('shows the good edit’s diff on its trial page while the campaign runs', async () => {
    const good = await eventually(
      async () => {
        const page = await trials();
        const t = page.trials.find((x) => x.title === GOOD);
        if (t?.status !== 'succeeded' || page.source !== 'workflow') return undefined;
        return t;
      },
      600_000,
      300,
    );
    expect(good.sourceHash).toMatch(/^[0-9a-f]{64}$/);
    // The live record has no diff of its own: the page asks the API for it.
    expect(good.diff).toBeUndefined();
    const { page, problems } = await open('viewer', '/');
    const diff = await trialDiff(page, good.id);
    expect(diff).toContain(`+${ADDED_LINE}`);
    expect(diff).toContain('--- a/method.py');
    expect(await page.getByTestId('source-hash').textContent()).toContain(
      good.sourceHash!.slice(0, 12),
    );
    expect(await page.locator('[data-testid=trial-diff] [data-kind=add]').count()).toBeGreaterThan(
      5,
    );
    await screenshot(page, 'code-trial-diff-live');
    expect(problems).toEqual([]);
  }, 660_000);

  it('shows both diffs once the campaign is read back from MLflow', async () => {
    const pending = await env.service.pending(campaignId);
    const idea = pending.find((p) => p.hypothesis.title === MINE)!;
    await env.service.decide(pi, campaignId, idea.hypothesis.id, 'approve', 'a small, safe edit');
    await env.service.result(campaignId);
    const page0 = await eventually(
      async () => {
        const p = await trials();
        return p.source === 'mlflow' && p.trials.some((t) => t.title === MINE) ? p : undefined;
      },
      120_000,
      500,
    );
    const good = page0.trials.find((t) => t.title === GOOD)!;
    const mine = page0.trials.find((t) => t.title === MINE)!;
    expect(mine.status, mine.failureReason ?? '').toBe('succeeded');
    expect(good.diff).toContain(`+${ADDED_LINE}`);
    const { page, problems } = await open('viewer', '/');
    expect(await trialDiff(page, good.id)).toContain(`+${ADDED_LINE}`);
    // The closed campaign's status (read from its record) names its criteria: the page finds them.
    await expect
      .poll(() => page.getByTestId('trial-page').textContent(), { timeout: 30_000 })
      .toContain('No constraints in these criteria.');
    await screenshot(page, 'code-trial-diff');
    const mineDiff = await trialDiff(page, mine.id);
    expect(mineDiff).toContain(`+    ${MINE_MARK}`);
    expect(mineDiff).toContain('-    for _ in range(epochs):');
    expect(await page.getByTestId('trial-page').textContent()).toContain('Rae Researcher');
    // On the lineage tree the good edit hangs under the baseline, its code changed.
    await page.goto(`${ui.url}/campaigns/${encodeURIComponent(campaignId)}/lineage`);
    await page.waitForSelector('body[data-lineage-ready]');
    await page.getByTestId('lineage-search').fill(GOOD);
    await page.getByTestId('lineage-search').press('Enter');
    const selected = page.getByTestId('lineage-selected');
    await expect.poll(() => selected.locator('h2').textContent()).toBe(GOOD);
    expect(await selected.textContent()).toContain('baseline');
    expect(await page.getByTestId('node-source').textContent()).toMatch(
      new RegExp(`${good.sourceHash!.slice(0, 12)} \\(code changed\\)`),
    );
    await screenshot(page, 'code-lineage', false);
    expect(problems).toEqual([]);
  }, 300_000);
});
