/**
 * A real campaign (Temporal, a worker, MLflow) read back from MLflow once it has closed: the
 * trial page's facts survive the record (expected effect of an injected idea, each trial's
 * feasibility as the workflow judged it, hidden-metric marks on references too), and the
 * records snapshot a fresh reader loads instead of searching, written by the workflow the
 * campaign starts as it ends (workflows/records-snapshot.ts; the campaign does not wait for it).
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentName, TAG } from '../records/names.js';
import { RECORDS_SNAPSHOT } from '../records/trial-codec.js';
import { TrialsPage } from '../api/schemas.js';
import { buildApp } from '../server/app.js';
import { LineageReader } from '../server/lineage.js';
import { recordsSnapshotWorkflowId } from '../workflows/records-snapshot.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';
import { testTokens, auth } from './support/fake-service.js';
import { quadraticCriteria, quadraticSpec, testRegistry } from './support/quadratic.js';

let env: TestEnv;
let app: FastifyInstance;
beforeAll(async () => {
  env = await createTestEnv({ registry: testRegistry() });
  app = await buildApp({
    service: env.service,
    mlflow: env.mlflow,
    tokens: testTokens(),
    config: { rateLimitPerMinute: 0, uiDir: '/nonexistent' },
  });
});
afterAll(async () => {
  await app?.close();
  await env?.close();
});

const expectedEffect = 'score rises towards 10 as x nears 1';
let campaignId: string;
let problemId: string;
/** The trials as the workflow holds them, and as the API reads them from MLflow. */
let live: Awaited<ReturnType<TestEnv['service']['trials']>>['trials'];
let page: TrialsPage;

beforeAll(async () => {
  problemId = uniqueId('codec');
  await env.service.submitProblem(researcher, { ...quadraticSpec, id: problemId });
  // cost is |x|: trials far from x = 0 break the constraint.
  await env.service.setCriteria(
    pi,
    problemId,
    {
      ...quadraticCriteria,
      constraints: [{ kind: 'absolute', metric: 'cost', op: '<=', value: 2 }],
      budgets: { maxTrials: 6, concurrency: 2 },
    },
    'test',
  );
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 11,
  }));
  await env.service.inject(pi, campaignId, {
    title: 'move to the top',
    changes: { x: 1, y: -2 },
    expectedEffect,
  });
  await env.service.result(campaignId);
  live = (await env.service.trials(campaignId, { limit: 1000 })).trials;
  const res = await app.inject({
    url: `/api/campaigns/${campaignId}/trials?limit=1000`,
    headers: auth('pi'),
  });
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
  page = TrialsPage.parse(res.json());
}, 300_000);

describe('a real campaign read back from MLflow', () => {
  it("shows each trial's index, kind, typed params, feasibility and hidden marks as the workflow had them", () => {
    expect(page.source).toBe('mlflow');
    expect(page.trials.map((t) => t.id).sort()).toEqual(live.map((t) => t.id).sort());
    for (const w of live) {
      const t = page.trials.find((r) => r.id === w.id)!;
      expect({ id: t.id, index: t.index, kind: t.kind, feasible: t.feasible }).toEqual({
        id: w.id,
        index: w.index,
        kind: w.kind,
        feasible: w.feasible,
      });
      expect(t.params).toEqual(w.params);
      expect(t.hiddenMetrics, t.id).toEqual(['heldout_score']);
    }
    expect(page.trials.some((t) => t.kind === 'reference')).toBe(true);
    expect(page.trials.some((t) => !t.feasible)).toBe(true);
  });

  it('shows the expected effect of an injected idea, and wrote its records snapshot at the end', async () => {
    expect(page.trials.find((t) => t.title === 'move to the top')?.expectedEffect).toBe(
      expectedEffect,
    );
    // The campaign returned without waiting for its snapshot: wait for the snapshot workflow.
    const written = (await env.client.workflow
      .getHandle(recordsSnapshotWorkflowId(campaignId))
      .result()) as { trials: number };
    expect(written.trials).toBe(live.length);
    const experimentId = (await env.mlflow.getExperimentByName(experimentName(problemId)))!
      .experimentId;
    const parent = (
      await env.mlflow.searchRuns({
        experimentIds: [experimentId],
        filter: `tags.\`${TAG.kind}\` = 'campaign'`,
      })
    ).runs[0]!;
    expect(await env.mlflow.downloadArtifactText(parent.info.runId, RECORDS_SNAPSHOT)).toContain(
      campaignId,
    );
    const loaded = (await new LineageReader({ mlflow: env.mlflow }).records(campaignId))!;
    expect(loaded.fromSnapshot).toBe(true);
    expect(loaded.records).toEqual(
      (await new LineageReader({ mlflow: env.mlflow, snapshots: false }).records(campaignId))!
        .records,
    );
  });
});
