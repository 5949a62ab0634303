/**
 * A finished campaign read back from the real MLflow through the HTTP API: what the recording
 * activities write (records/trial-codec.ts) comes back with its facts (typed parameter values,
 * expected effect, feasibility, hidden-metric marks on every trial kind), reads never write to
 * MLflow, and the records snapshot written when the campaign ends is what a fresh reader loads.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRecordingActivities } from '../activities/recording.js';
import { RECORDS_SNAPSHOT } from '../records/trial-codec.js';
import { Compare, TrialDetail, TrialsPage } from '../api/schemas.js';
import { CriteriaVersion, ProblemSpec, type Actor, type Config } from '../domain/schemas.js';
import { MlflowClient } from '../mlflow-ts-client/index.js';
import { LineageReader } from '../server/lineage.js';
import type { TrialSummary } from '../workflows/types.js';
import { auth, buildTestApp, criteriaInput, report } from './support/fake-service.js';

const pi: Actor = { name: 'Pat PI', role: 'pi' };
const problemId = `codec-${randomUUID().slice(0, 8)}`;
const campaignId = `${problemId}-c1`;
const HIDDEN = 'heldout_score';

let mlflow: MlflowClient;
let parentRunId: string;
let app: FastifyInstance;
/** MLflow calls that write, made by the API's reader. */
const writes: string[] = [];

const estimate = (mean: number) => ({
  mean,
  stderr: 0.01,
  n: 2,
  ciLow: mean - 0.05,
  ciHigh: mean + 0.05,
});

function trial(
  over: Partial<TrialSummary> & Pick<TrialSummary, 'id' | 'index' | 'params'>,
): TrialSummary {
  return {
    hypothesisId: `h-${over.id}`,
    kind: 'search',
    parentTrialId: 'baseline',
    title: `idea ${over.id}`,
    rationale: 'because',
    author: { kind: 'strategy', name: 'random' },
    changes: {},
    seeds: [1, 2],
    status: 'succeeded',
    metrics: { score: over.index, [HIDDEN]: over.index - 0.1 },
    objective: estimate(over.index),
    pgr: estimate(over.index / 10),
    feasible: true,
    flags: [],
    trust: 'eligible',
    computeSeconds: 1,
    startedAt: new Date(Date.now() - 60_000 + over.index * 1000).toISOString(),
    finishedAt: new Date(Date.now() - 59_000 + over.index * 1000).toISOString(),
    ...over,
  };
}

// Every parameter kind: float (lr), int (depth), categorical over strings (arch, one that looks
// like a number), categorical over numbers (width), boolean (use_cache), and a conditional
// parameter (dropout) that is absent when its parent is off.
const params: Record<string, Config> = {
  baseline: { lr: 0.1, depth: 3, arch: 'wide', width: 64, use_cache: false },
  optimum: { lr: 0.01, depth: 8, arch: 'deep', width: 256, use_cache: true, dropout: 0.5 },
  t0002: { lr: 0.05, depth: 4, arch: '1', width: 128, use_cache: true, dropout: 0.25 },
  t0003: { lr: 0.2, depth: 2, arch: 'wide', width: 64, use_cache: false },
  v0004: { lr: 0.05, depth: 4, arch: '1', width: 128, use_cache: true, dropout: 0.25 },
};

const trials: TrialSummary[] = [
  trial({
    id: 'baseline',
    index: 0,
    kind: 'reference',
    label: 'baseline',
    parentTrialId: null,
    title: 'Baseline',
    author: { kind: 'system', name: 'gaplab' },
    params: params['baseline']!,
    pgr: estimate(0),
  }),
  trial({
    id: 'optimum',
    index: 1,
    kind: 'reference',
    label: 'optimum',
    parentTrialId: null,
    title: 'Optimum',
    author: { kind: 'system', name: 'gaplab' },
    params: params['optimum']!,
    pgr: estimate(1),
  }),
  trial({
    id: 't0002',
    index: 2,
    params: params['t0002']!,
    expectedEffect: 'score up by about 2',
  }),
  // Higher PGR than t0002 but a constraint fails: never the best.
  trial({ id: 't0003', index: 3, params: params['t0003']!, feasible: false, pgr: estimate(0.9) }),
  trial({
    id: 'v0004',
    index: 4,
    kind: 'verification',
    label: 'verifies t0002',
    parentTrialId: 't0002',
    params: params['v0004']!,
  }),
];

beforeAll(async () => {
  mlflow = new MlflowClient({ trackingUri: inject('mlflowUri') });
  const rec = createRecordingActivities({ mlflow });
  const criteria = CriteriaVersion.parse({
    version: 1,
    criteria: { ...criteriaInput, hiddenMetrics: [HIDDEN] },
    actor: pi,
    reason: '',
    createdAt: new Date().toISOString(),
  });
  const start = await rec.recordCampaignStart({
    campaignId,
    problem: ProblemSpec.parse({
      id: problemId,
      title: 'Every parameter kind',
      question: 'Do typed values survive MLflow?',
      experiment: 'quadratic',
      space: [
        { name: 'lr', kind: 'float', low: 0.001, high: 1, log: true },
        { name: 'depth', kind: 'int', low: 1, high: 10 },
        { name: 'arch', kind: 'categorical', choices: ['wide', 'deep', '1'] },
        { name: 'width', kind: 'categorical', choices: [64, 128, 256] },
        { name: 'use_cache', kind: 'boolean' },
        {
          name: 'dropout',
          kind: 'float',
          low: 0,
          high: 0.9,
          condition: { parent: 'use_cache', values: [true] },
        },
      ],
      baseline: params['baseline'],
    }),
    criteria,
    strategy: { name: 'random', settings: {} },
    startedBy: pi,
    seed: 1,
  });
  parentRunId = start.runId;
  for (const t of trials)
    await rec.recordTrial({
      campaignId,
      problemId,
      experimentId: start.experimentId,
      parentRunId,
      trial: t,
      seeds: [],
      hiddenMetrics: criteria.criteria.hiddenMetrics,
    });
  // The campaign named t0002 its best, as the domain ranks these trials.
  const ended = report(campaignId);
  await rec.recordCampaignEnd({
    campaignId,
    parentRunId,
    report: { ...ended, best: { ...ended.best!, id: 't0002' } },
  });

  // The API reads the real MLflow through a client that notes every call that would write.
  const watched = new Proxy(mlflow, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (/^(upload|log|set|create|update|delete)/.test(String(prop))) writes.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  ({ app } = await buildTestApp({ lineage: new LineageReader({ mlflow: watched, ttlMs: 0 }) }));
}, 120_000);

afterAll(async () => {
  await app?.close();
});

const get = async (url: string) => {
  const res = await app.inject({ url: `/api${url}`, headers: auth('pi') });
  expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
  return res.json() as unknown;
};

describe('a finished campaign read from MLflow', () => {
  it('shows typed parameter values, expected effect, feasibility and hidden marks on every trial kind', async () => {
    const page = TrialsPage.parse(await get(`/campaigns/${campaignId}/trials`));
    expect(page.source).toBe('mlflow');
    expect(page.trials.map((t) => [t.id, t.index, t.kind])).toEqual([
      ['baseline', 0, 'reference'],
      ['optimum', 1, 'reference'],
      ['t0002', 2, 'search'],
      ['t0003', 3, 'search'],
      ['v0004', 4, 'verification'],
    ]);
    for (const t of page.trials) {
      expect(t.params, t.id).toStrictEqual(params[t.id]);
      expect(t.hiddenMetrics, t.id).toEqual([HIDDEN]);
    }
    const byId = new Map(page.trials.map((t) => [t.id, t]));
    expect(byId.get('t0002')).toMatchObject({
      expectedEffect: 'score up by about 2',
      feasible: true,
    });
    expect(byId.get('t0003')).toMatchObject({ expectedEffect: '', feasible: false });
    // The conditional parameter is absent, not an empty string.
    expect('dropout' in byId.get('t0003')!.params).toBe(false);

    const detail = TrialDetail.parse(await get(`/campaigns/${campaignId}/trials/baseline`));
    expect(detail.trial.hiddenMetrics).toEqual([HIDDEN]);
    expect(detail.trial.params).toStrictEqual(params['baseline']);
  });

  it("compares by the campaign's own best: not the infeasible trial with a higher PGR", async () => {
    const compare = Compare.parse(await get(`/problems/${problemId}/compare`));
    expect(compare.campaigns[0]?.best?.trialId).toBe('t0002');
    expect(compare.campaigns[0]?.best?.mean).toBe(trials.find((t) => t.id === 't0002')!.pgr!.mean);
  });

  it('writes nothing to MLflow while it is read', async () => {
    const artifacts = async () => (await mlflow.listArtifacts(parentRunId, 'gaplab')).length;
    await get(`/campaigns/${campaignId}/lineage`);
    await get(`/campaigns/${campaignId}/trials/t0002`);
    expect(writes).toEqual([]);
    expect(await artifacts()).toBe(0);
    await expect(mlflow.downloadArtifactText(parentRunId, RECORDS_SNAPSHOT)).rejects.toThrow();
  });

  it('is loaded from the snapshot written when the campaign ends, with the same records', async () => {
    const searched = (await new LineageReader({ mlflow }).records(campaignId))!;
    expect(searched.fromSnapshot).toBe(false);
    const rec = createRecordingActivities({ mlflow });
    const written = await rec.recordRecordsSnapshot({
      campaignId,
      experimentId: searched.location.experimentId,
      parentRunId,
    });
    expect(written.trials).toBe(trials.length);
    const loaded = (await new LineageReader({ mlflow }).records(campaignId))!;
    expect(loaded.fromSnapshot).toBe(true);
    expect(loaded.records).toEqual(searched.records);
  });
});
