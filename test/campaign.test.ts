import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quadraticCriteria, quadraticSpec, testRegistry } from './support/quadratic.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';
import { experimentName, TAG } from '../records/names.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ registry: testRegistry() });
});
afterAll(async () => {
  await env?.close();
});

async function problemWith(criteria: Record<string, unknown>) {
  const id = uniqueId('quad');
  await env.service.submitProblem(researcher, { ...quadraticSpec, id });
  await env.service.setCriteria(pi, id, { ...quadraticCriteria, ...criteria }, 'test');
  return id;
}

describe('campaign loop on the real Temporal and MLflow servers', () => {
  it('runs a random campaign to its trial budget and records exactly one finished MLflow run per trial', async () => {
    const problemId = await problemWith({ budgets: { maxTrials: 8, concurrency: 3 } });
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 7,
    });
    const report = await env.service.result(campaignId);

    expect(report.stopReason).toBe('max_trials');
    expect(report.trials.total).toBe(8);
    expect(report.ledger.trialsStarted).toBe(8);
    expect(report.baselineScore).toBeLessThan(0);
    expect(report.optimumScore).toBe(10);
    expect(report.best?.pgr?.mean).toBeGreaterThan(0);
    expect(report.best?.lineage[0]?.id).toBe('baseline');
    expect(report.verification).toHaveLength(2);
    for (const v of report.verification)
      expect(Object.keys(v.hiddenPgr)).toEqual(['heldout_score']);

    const { trials } = await env.service.trials(campaignId, { limit: 1000 });
    const search = trials.filter((t) => t.kind === 'search');
    expect(search).toHaveLength(8);
    for (const t of search) {
      expect(t.seeds).toHaveLength(2);
      expect(new Set(t.seeds).size).toBe(2);
      expect(t.parentTrialId).toBe('baseline');
    }
    // Every trial changed after it was listed: its MLflow record was written (its run id). A
    // reader that kept the trials asks for those changed since the revision it saw.
    const changes = await env.service.trials(campaignId, { limit: 1000, changedSince: 0 });
    expect(changes.run).toMatch(/./);
    expect(changes.revision).toBeGreaterThanOrEqual(trials.length);
    expect(new Set(changes.changed!.map((t) => t.id))).toEqual(new Set(trials.map((t) => t.id)));
    expect(changes.changed!.every((t) => t.mlflowRunId)).toBe(true);
    const none = await env.service.trials(campaignId, { changedSince: changes.revision! });
    expect(none.changed).toEqual([]);

    const experimentId = (await env.mlflow.getExperimentByName(experimentName(problemId)))!
      .experimentId;
    const runs = await env.mlflow.searchAllRuns({ experimentIds: [experimentId] });
    const parent = runs.filter((r) => r.data.tags[TAG.kind] === 'campaign');
    expect(parent).toHaveLength(1);
    expect(parent[0]!.info.status).toBe('FINISHED');
    expect(parent[0]!.data.tags[TAG.stopReason]).toBe('max_trials');
    const trialRuns = runs.filter((r) => r.data.tags[TAG.kind] === 'trial');
    // 8 search trials, the baseline reference, its re-run on the verification seeds (pairs the
    // verified PGRs), 2 verification re-runs.
    expect(trialRuns).toHaveLength(12);
    const keys = trialRuns.map((r) => r.data.tags[TAG.trialKey]);
    expect(new Set(keys).size).toBe(12);
    for (const r of trialRuns) {
      expect(r.info.status).toBe('FINISHED');
      expect(r.data.tags['mlflow.parentRunId']).toBe(parent[0]!.info.runId);
    }
    const one = trialRuns.find((r) => r.data.tags[TAG.trialId] === 't0001')!;
    expect(one.data.tags[TAG.parentTrialId]).toBe('baseline');
    expect(one.data.params['x']).toBeDefined();
    expect(one.data.metrics['pgr']).toBeTypeOf('number');
    const artifacts = await env.mlflow.listArtifacts(parent[0]!.info.runId);
    expect(artifacts.map((a) => a.path).sort()).toEqual(
      expect.arrayContaining(['report.json', 'report.md']),
    );
  });
});
