/**
 * Parameter values keep their types through the trials API: a float, an int, a categorical with
 * string choices, one with number choices, a boolean and a conditional parameter that is absent
 * when its parent says so. Read from the running campaign's workflow (`source: workflow`) and,
 * once it has finished, from its MLflow record (`source: mlflow`). Real Temporal, MLflow, worker
 * and HTTP server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrialsPage, type CampaignStatus, type TrialRecord } from '../api/schemas.js';
import type { ExperimentDefinition } from '../experiments/types.js';
import { ExperimentRegistry } from '../experiments/registry.js';
import { createTestEnv, uniqueId, type TestEnv } from './support/env.js';
import { eventually } from './support/eventually.js';
import { startTestServer, type TestServer } from './support/http.js';

/**
 * Scores a configuration and refuses values of the wrong type, so a stringified value fails the
 * seed instead of passing unnoticed.
 */
const typedExperiment: ExperimentDefinition = {
  name: 'typed-params',
  description: 'Scores a configuration of every parameter kind; fails on values of the wrong type.',
  metrics: [{ name: 'score', description: 'higher is better' }],
  defaultTimeoutSeconds: 30,
  runner: {
    kind: 'function',
    async run(p) {
      const wrong = [
        typeof p.lr !== 'number' && 'lr',
        !Number.isInteger(p.layers) && 'layers',
        typeof p.optimizer !== 'string' && 'optimizer',
        typeof p.batch !== 'number' && 'batch',
        typeof p.use_cache !== 'boolean' && 'use_cache',
        p.optimizer === 'sgd' ? typeof p.momentum !== 'number' && 'momentum' : 'momentum' in p,
      ].filter(Boolean);
      if (wrong.length > 0) throw new Error(`wrongly typed parameters: ${wrong.join(', ')}`);
      const lr = p.lr as number;
      const score =
        -((Math.log10(lr) + 2) ** 2) -
        Math.abs((p.layers as number) - 3) +
        (p.optimizer === 'sgd' ? (p.momentum as number) : 0) +
        (p.use_cache ? 0.5 : 0) +
        (p.batch === 32 ? 0.25 : 0);
      return { score };
    },
  },
};

const spec = (id: string) => ({
  id,
  title: 'Every parameter kind',
  question: 'Which configuration scores best?',
  experiment: 'typed-params',
  space: [
    { name: 'lr', kind: 'float', low: 0.0001, high: 1, log: true },
    { name: 'layers', kind: 'int', low: 1, high: 6 },
    { name: 'optimizer', kind: 'categorical', choices: ['adam', 'sgd'] },
    { name: 'batch', kind: 'categorical', choices: [16, 32, 64] },
    { name: 'use_cache', kind: 'boolean' },
    {
      name: 'momentum',
      kind: 'float',
      low: 0,
      high: 0.99,
      condition: { parent: 'optimizer', values: ['sgd'] },
    },
  ],
  baseline: { lr: 0.1, layers: 1, optimizer: 'adam', batch: 16, use_cache: false },
});

const criteria = {
  metric: 'score',
  direction: 'maximize',
  baseline: { kind: 'measure', configuration: 'baseline', seeds: 1 },
  optimum: { kind: 'value', value: 3 },
  seedsPerTrial: 1,
  targetPgr: 2,
  // More than can run before the pause below, whatever the pace (the campaign is stopped by hand).
  budgets: { maxTrials: 100_000, concurrency: 2 },
  verification: { topK: 0, seeds: 1 },
};

/** The injected idea: sgd turns the conditional `momentum` on. */
const sgdIdea = {
  title: 'sgd with momentum, cached, small batches',
  rationale: 'momentum should help',
  changes: { optimizer: 'sgd', momentum: 0.9, use_cache: true, batch: 32, lr: 0.01, layers: 3 },
};

/** Every value has its kind's type; `momentum` is there exactly when the optimizer is sgd. */
function expectTyped(t: TrialRecord): void {
  const p = t.params;
  expect(typeof p.lr, `${t.id} lr`).toBe('number');
  expect(Number.isInteger(p.layers), `${t.id} layers`).toBe(true);
  expect(['adam', 'sgd'], `${t.id} optimizer`).toContain(p.optimizer);
  expect([16, 32, 64], `${t.id} batch`).toContain(p.batch);
  expect(typeof p.use_cache, `${t.id} use_cache`).toBe('boolean');
  if (p.optimizer === 'sgd') expect(typeof p.momentum, `${t.id} momentum`).toBe('number');
  else expect(p, `${t.id} momentum`).not.toHaveProperty('momentum');
}

let env: TestEnv;
let http: TestServer;

beforeAll(async () => {
  env = await createTestEnv({ registry: ExperimentRegistry.of(typedExperiment) });
  http = await startTestServer(env, { sseIntervalMs: 200, lineageTtlMs: 300 });
});
afterAll(async () => {
  await http?.close();
  await env?.close();
});

describe('typed parameter values in the trials API', () => {
  const problemId = uniqueId('typed');
  let campaignId = '';
  /** The trials as the running campaign's workflow served them. */
  let fromWorkflow: TrialRecord[] = [];

  const page = async () =>
    TrialsPage.parse(
      (await http.call('viewer', 'GET', `/api/campaigns/${campaignId}/trials?limit=1000`)).json,
    );

  it('a running campaign (source workflow) returns float, int, categorical, boolean and conditional values typed', async () => {
    const submitted = await http.call('researcher', 'POST', '/api/problems', spec(problemId));
    expect(submitted.status, submitted.text).toBe(201);
    const set = await http.call('pi', 'POST', `/api/problems/${problemId}/criteria`, {
      criteria,
    });
    expect(set.status, set.text).toBe(201);
    const started = await http.call('researcher', 'POST', '/api/campaigns', {
      problemId,
      strategy: { name: 'random' },
      seed: 7,
    });
    expect(started.status, started.text).toBe(201);
    campaignId = (started.json as { campaignId: string }).campaignId;
    const injected = await http.call(
      'pi',
      'POST',
      `/api/campaigns/${campaignId}/hypotheses`,
      sgdIdea,
    );
    expect(injected.status, injected.text).toBe(201);

    // Once the idea and a few other trials have run, pause: the workflow keeps answering.
    await eventually(async () => {
      const p = await page();
      const done = p.trials.filter((t) => t.kind === 'search' && t.status !== 'running');
      return done.length >= 4 && done.some((t) => t.author.kind === 'human');
    }, 120_000);
    const paused = await http.call('pi', 'POST', `/api/campaigns/${campaignId}/pause`);
    expect(paused.status, paused.text).toBe(200);
    const status = (await http.call('viewer', 'GET', `/api/campaigns/${campaignId}`))
      .json as CampaignStatus;
    expect(status.phase).not.toBe('finished');

    const live = await page();
    expect(live.source).toBe('workflow');
    fromWorkflow = live.trials.filter((t) => t.status !== 'running');
    for (const t of fromWorkflow) {
      expect(t.status, `${t.id}: ${t.failureReason}`).toBe('succeeded');
      expectTyped(t);
    }
    const baseline = fromWorkflow.find((t) => t.id === 'baseline')!;
    expect(baseline.params).toEqual({
      lr: 0.1,
      layers: 1,
      optimizer: 'adam',
      batch: 16,
      use_cache: false,
    });
    const idea = fromWorkflow.find((t) => t.author.kind === 'human')!;
    expect(idea.params).toEqual({
      lr: 0.01,
      layers: 3,
      optimizer: 'sgd',
      batch: 32,
      use_cache: true,
      momentum: 0.9,
    });
    // The conditional parameter is absent in some trials and present in others.
    expect(fromWorkflow.some((t) => !('momentum' in t.params))).toBe(true);
    expect(fromWorkflow.some((t) => 'momentum' in t.params)).toBe(true);

    // The trial detail serves the same typed record.
    const detail = await http.call(
      'viewer',
      'GET',
      `/api/campaigns/${campaignId}/trials/${idea.id}`,
    );
    expect(detail.status, detail.text).toBe(200);
    expect((detail.json as { trial: TrialRecord }).trial.params).toEqual(idea.params);
  });

  it('a finished campaign read from MLflow (source mlflow) returns the same typed values', async () => {
    expect(campaignId, 'the running-campaign case started the campaign').not.toBe('');
    const stopped = await http.call('pi', 'POST', `/api/campaigns/${campaignId}/stop`, {
      reason: 'enough',
    });
    expect(stopped.status, stopped.text).toBe(200);
    await eventually(async () => {
      const r = await http.call('viewer', 'GET', `/api/campaigns/${campaignId}/report`);
      return r.status === 200;
    }, 120_000);
    // Recording is asynchronous: wait until the record holds every trial read before.
    const recorded = await eventually(async () => {
      const p = await page();
      const ids = new Set(p.trials.map((t) => t.id));
      return p.source === 'mlflow' && fromWorkflow.every((t) => ids.has(t.id)) ? p : null;
    }, 60_000);
    const byId = new Map(recorded.trials.map((t) => [t.id, t]));
    for (const t of fromWorkflow) {
      const r = byId.get(t.id);
      expect(r, `${t.id} in MLflow`).toBeDefined();
      expectTyped(r!);
      expect(r!.params, t.id).toEqual(t.params);
    }
  });
});
