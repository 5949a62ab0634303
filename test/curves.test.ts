/**
 * Learning curves end to end: a real campaign whose seeds report `score` and the hidden
 * `heldout_score` by step; the curves go to MLflow as metric history (the trial run for visible
 * metrics, the hidden run for hidden ones) and come back through
 * GET /campaigns/:id/trials/:trialId/curves, the hidden metric's curve for a PI only while the
 * campaign runs and for everyone once it ended.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAG } from '../records/names.js';
import type { CampaignReport } from '../workflows/types.js';
import { createTestEnv, pi, researcher, submitQuadratic, type TestEnv } from './support/env.js';
import { startTestServer, type TestServer } from './support/http.js';
import { quadraticSpec, testRegistry } from './support/quadratic.js';

let env: TestEnv;
let api: TestServer;
beforeAll(async () => {
  env = await createTestEnv({ registry: testRegistry() });
  api = await startTestServer(env, { sseIntervalMs: 200, lineageTtlMs: 0 });
});
afterAll(async () => {
  await api?.close();
  await env?.close();
});

interface CurvesBody {
  recorded: boolean;
  curves: { metric: string; seedIndex: number; points: [number, number][] }[];
  withheld: string[];
}

describe('learning curves', () => {
  it('round-trip through MLflow metric history and the curves route, hidden ones for PIs only', async () => {
    const problemId = await submitQuadratic(env.service, {
      prefix: 'curves',
      spec: {
        ...quadraticSpec,
        space: [...quadraticSpec.space, { name: 'curve_steps', kind: 'int', low: 3, high: 6 }],
        baseline: { ...quadraticSpec.baseline, curve_steps: 4 },
        configurations: { best: { ...quadraticSpec.configurations.best, curve_steps: 4 } },
      },
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxTrials: 2, concurrency: 2 },
        verification: { topK: 0, seeds: 2 },
      },
    });
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 11,
      paused: false,
    });
    const report = (await env.client.workflow.getHandle(campaignId).result()) as CampaignReport;
    expect(report.stopReason).toBe('max_trials');

    const { trials } = await env.service.trials(campaignId, { limit: 100 });
    const trial = trials.find((t) => t.kind === 'search' && t.status === 'succeeded')!;
    const steps = Number(trial.params.curve_steps);
    expect(steps).toBeGreaterThanOrEqual(3);

    // In MLflow: the visible curve on the trial run, the hidden one on its hidden run only.
    const byTrial = await api.call('pi', 'GET', `/api/campaigns/${campaignId}/trials/${trial.id}`);
    const runId = (byTrial.json.trial as { mlflowRunId: string }).mlflowRunId;
    const run = await env.mlflow.getRun(runId);
    expect(
      Object.keys(run.data.metrics)
        .filter((k) => k.startsWith('curve/'))
        .sort(),
    ).toEqual(['curve/0/score', 'curve/1/score']);
    const history = await env.mlflow.getMetricHistory(runId, 'curve/0/score');
    expect(history.map((m) => m.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
    const hiddenRun = await env.mlflow.getRun(run.data.tags[TAG.hiddenRunId]!);
    expect(
      Object.keys(hiddenRun.data.metrics)
        .filter((k) => k.startsWith('curve/'))
        .sort(),
    ).toEqual(['curve/0/heldout_score', 'curve/1/heldout_score']);

    // Through the route: the last point of each seed's score curve is that seed's score.
    const asPi = await api.call(
      'pi',
      'GET',
      `/api/campaigns/${campaignId}/trials/${trial.id}/curves`,
    );
    expect(asPi.status).toBe(200);
    const body = asPi.json as unknown as CurvesBody;
    expect(body.recorded).toBe(true);
    expect(body.withheld).toEqual([]);
    expect(body.curves.map((c) => `${c.metric}/${c.seedIndex}`)).toEqual([
      'heldout_score/0',
      'heldout_score/1',
      'score/0',
      'score/1',
    ]);
    const score0 = body.curves.find((c) => c.metric === 'score' && c.seedIndex === 0)!;
    expect(score0.points).toHaveLength(steps);
    expect(score0.points[0]![1]).toBeLessThan(score0.points[steps - 1]![1]);
    const detail = await api.call('pi', 'GET', `/api/campaigns/${campaignId}/trials/${trial.id}`);
    // The trial page's one request carries the same curves.
    expect(detail.json.curves).toEqual(body.curves);
    const seeds = detail.json.seeds as { metrics: Record<string, number> }[];
    expect(score0.points[steps - 1]![1]).toBeCloseTo(seeds[0]!.metrics.score!, 9);
    // Once the campaign has ended, the default visibility shows the hidden curve to everyone.
    const viewer = await api.call(
      'viewer',
      'GET',
      `/api/campaigns/${campaignId}/trials/${trial.id}/curves`,
    );
    expect((viewer.json as unknown as CurvesBody).curves).toHaveLength(4);
  });

  it('keep the hidden metric curves from researchers while the campaign runs', async () => {
    const problemId = await submitQuadratic(env.service, {
      prefix: 'curves-live',
      spec: {
        ...quadraticSpec,
        space: [...quadraticSpec.space, { name: 'curve_steps', kind: 'int', low: 3, high: 4 }],
        baseline: { ...quadraticSpec.baseline, curve_steps: 3 },
        configurations: { best: { ...quadraticSpec.configurations.best, curve_steps: 3 } },
      },
      criteria: { seedsPerTrial: 1, budgets: { maxTrials: 2, concurrency: 1 } },
    });
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 12,
      paused: true,
    });
    // Paused after the references: the baseline is recorded, the campaign still runs.
    const baseline = await (async () => {
      for (let i = 0; i < 600; i++) {
        const r = await api.call(
          'researcher',
          'GET',
          `/api/campaigns/${campaignId}/trials/baseline/curves`,
        );
        if (r.status === 200 && (r.json as unknown as CurvesBody).recorded)
          return r.json as unknown as CurvesBody;
        await new Promise((done) => setTimeout(done, 200));
      }
      throw new Error('the baseline was not recorded within 120 s');
    })();
    expect(baseline.withheld).toEqual(['heldout_score']);
    // The baseline is measured on two seeds (quadraticCriteria).
    expect(baseline.curves.map((c) => c.metric)).toEqual(['score', 'score']);
    const asPi = await api.call('pi', 'GET', `/api/campaigns/${campaignId}/trials/baseline/curves`);
    expect((asPi.json as unknown as CurvesBody).curves.map((c) => c.metric)).toEqual([
      'heldout_score',
      'heldout_score',
      'score',
      'score',
    ]);
    await env.service.stop(pi, campaignId, { reason: 'curves read' });
    await env.client.workflow.getHandle(campaignId).result();
  });
});
