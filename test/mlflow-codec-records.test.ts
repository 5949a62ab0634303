/**
 * Records that stay true: a real campaign (Temporal, a worker, MLflow) in which trials change
 * after they were recorded: a trial that fails verification (gaming-seeds' `memo`: tuned on the
 * search seeds, baseline-like on fresh ones) is flagged `verification_gap` after its run was
 * written, and a PI clears the `failed_seeds` flag of another. Once the campaign has closed, what
 * the API reads from MLflow (status, trials, lineage, trial page, compare view, report) is
 * compared field by field with the workflow's own last answer: the same best with the same PGR,
 * the same trust and flags on every trial, the same verdict.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import gaming from '../experiments/gaming/experiment.js';
import { ExperimentRegistry } from '../experiments/registry.js';
import type { ExperimentDefinition } from '../experiments/types.js';
import {
  CampaignReport,
  CampaignStatus,
  Compare,
  Lineage,
  recordOfSummary,
  TrialDetail,
  TrialsPage,
  type TrialRecord,
} from '../api/schemas.js';
import { buildApp } from '../server/app.js';
import { LineageReader } from '../server/lineage.js';
import { recordsSnapshotWorkflowId } from '../workflows/records-snapshot.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';
import { eventually } from './support/eventually.js';
import { auth, testTokens } from './support/fake-service.js';

const memorised = gaming.find((e) => e.name === 'gaming-seeds')!;
if (memorised.runner.kind !== 'function') throw new Error('gaming-seeds is a function experiment');
const runMemorised = memorised.runner.run;
const SEEDS = 3;
/** The injected memorising trial's x (random trials draw x from a continuum: never this one). */
const MEMO_X = 0.5;

/** Opens once the test has read what it needs while the campaign runs. */
let open!: () => void;
const gate = new Promise<void>((r) => (open = r));
/** Calls per configuration: random trials may set `memo` too, and must not open the gate. */
const calls = new Map<string, number>();
const flakyFailed = new Set<string>();

/**
 * gaming-seeds, with two additions for this test: the `memo` trial's runs after its search seeds
 * (its verification) wait at the gate, so the campaign is known to run, with the trial recorded,
 * when its flag is raised; and `flaky` fails a configuration's first seed (a `failed_seeds` flag
 * for a PI to clear).
 */
const experiment: ExperimentDefinition = {
  ...memorised,
  name: 'records-seeds',
  runner: {
    kind: 'function',
    async run(params, ctx) {
      const key = JSON.stringify(params);
      const n = (calls.get(key) ?? 0) + 1;
      calls.set(key, n);
      if (params.memo === true && params.x === MEMO_X && n > SEEDS) await gate;
      if (params.flaky === true) {
        const key = JSON.stringify(params);
        if (!flakyFailed.has(key)) {
          flakyFailed.add(key);
          throw new Error('a flaky first seed');
        }
      }
      return runMemorised(params, ctx);
    },
  },
};

let env: TestEnv;
let app: FastifyInstance;
beforeAll(async () => {
  env = await createTestEnv({ registry: ExperimentRegistry.of(experiment) });
  app = await buildApp({
    service: env.service,
    mlflow: env.mlflow,
    tokens: testTokens(),
    config: { rateLimitPerMinute: 0, uiDir: '/nonexistent' },
  });
});
afterAll(async () => {
  open?.();
  await app?.close();
  await env?.close();
});

async function get<T>(url: string, schema: { parse(v: unknown): T }): Promise<T> {
  const res = await app.inject({ url: `/api${url}`, headers: auth('pi') });
  expect(res.statusCode, `${url}: ${res.body.slice(0, 300)}`).toBe(200);
  return schema.parse(res.json());
}

let problemId: string;
let campaignId: string;
let memoId: string;
let flakyId: string;
/** The workflow's last answer. */
let liveStatus: CampaignStatus;
let liveTrials: TrialRecord[];
let liveReport: CampaignReport;

beforeAll(async () => {
  problemId = uniqueId('records');
  await env.service.submitProblem(researcher, {
    id: problemId,
    title: 'records that stay true',
    question: 'Which x gives the best score?',
    experiment: 'records-seeds',
    space: [
      { name: 'x', kind: 'float', low: 0, high: 1 },
      { name: 'memo', kind: 'boolean' },
      { name: 'flaky', kind: 'boolean' },
    ],
    baseline: { x: 0, memo: false, flaky: false },
  });
  await env.service.setCriteria(
    pi,
    problemId,
    {
      metric: 'score',
      direction: 'maximize',
      baseline: { kind: 'measure', configuration: 'baseline', seeds: SEEDS },
      optimum: { kind: 'value', value: 1 },
      seedsPerTrial: SEEDS,
      hiddenMetrics: ['heldout_score'],
      targetPgr: 0.9,
      budgets: { maxTrials: 4, concurrency: 6 },
      verification: { topK: 2, seeds: SEEDS },
    },
    'test',
  );
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 7,
    paused: true,
  }));
  ({ hypothesisId: memoId } = await env.service.inject(pi, campaignId, {
    title: 'memorise the seeds',
    changes: { x: MEMO_X, memo: true },
  }));
  ({ hypothesisId: flakyId } = await env.service.inject(pi, campaignId, {
    title: 'near the top, one seed fails',
    changes: { x: 0.68, flaky: true },
  }));
  await env.service.resume(pi, campaignId);

  // Both injected trials finished and recorded; the flaky one is under review.
  const recorded = await eventually(async () => {
    const { trials } = await env.service.trials(campaignId, { kind: 'search', limit: 1000 });
    const memo = trials.find((t) => t.hypothesisId === memoId);
    const flaky = trials.find((t) => t.hypothesisId === flakyId);
    if (!memo?.mlflowRunId || !flaky?.mlflowRunId) throw new Error('not recorded yet');
    return { memo, flaky };
  }, 120_000);
  memoId = recorded.memo.id;
  flakyId = recorded.flaky.id;
  expect(recorded.memo.flags.map((f) => f.kind)).toEqual([]);
  expect(recorded.memo.trust).toBe('eligible');
  expect(recorded.flaky.flags.map((f) => f.kind)).toEqual(['failed_seeds']);
  await env.service.clearFlag(pi, campaignId, flakyId, 'failed_seeds', 'one seed hit a flaky node');
  // Now the memorising trial's verification may run: it fails, after its record was written.
  open();

  liveReport = (await env.service.result(campaignId)) as CampaignReport;
  // The workflow's last answer (a query on the closed workflow replays it).
  liveStatus = (await env.service.status(campaignId)) as CampaignStatus;
  liveTrials = (await env.service.trials(campaignId, { limit: 1000 })).trials.map((t) =>
    recordOfSummary(t),
  );
  // Readers below use the finished campaign's snapshot when it is there: wait for it.
  await env.client.workflow.getHandle(recordsSnapshotWorkflowId(campaignId)).result();
}, 300_000);

/** What may change after a trial finished, as a reader compares it. */
const changing = (t: TrialRecord) => ({
  id: t.id,
  status: t.status,
  feasible: t.feasible,
  flags: [...t.flags].sort(),
  trust: t.trust,
  pgr: t.pgr,
});

describe('a closed campaign read from MLflow shows what its workflow last showed', () => {
  it('the memorising trial failed verification after it was recorded, and the PI cleared the other', () => {
    const memo = liveTrials.find((t) => t.id === memoId)!;
    expect(memo.flags).toContain('verification_gap');
    expect(memo.trust).toBe('under_review');
    expect(liveTrials.find((t) => t.id === flakyId)!.trust).toBe('eligible');
    expect(liveStatus.best?.trialId).not.toBe(memoId);
  });

  it('every trial has the same flags, trust and PGR in MLflow as in the workflow', async () => {
    const page = await get(`/campaigns/${campaignId}/trials?limit=1000`, TrialsPage);
    expect(page.source).toBe('mlflow');
    expect(page.trials.map(changing)).toEqual(
      [...liveTrials].sort((a, b) => a.index - b.index || a.id.localeCompare(b.id)).map(changing),
    );
    // Read by a fresh reader from the snapshot and from a search of the runs alike.
    for (const snapshots of [true, false]) {
      const r = (await new LineageReader({ mlflow: env.mlflow, snapshots }).records(campaignId))!;
      expect(r.fromSnapshot).toBe(snapshots);
      expect(r.records.map(changing)).toEqual(page.trials.map(changing));
    }
  });

  it('the status, lineage and compare view name the same best, with the same PGR', async () => {
    const status = await get(`/campaigns/${campaignId}`, CampaignStatus);
    expect(status.best).toEqual(liveStatus.best);
    expect(status.best?.trialId).toBe(liveReport.best?.id);
    const best = liveStatus.best!;
    const lineage = await get(`/campaigns/${campaignId}/lineage`, Lineage);
    expect(lineage.source).toBe('mlflow');
    expect(lineage.best?.trialId).toBe(best.trialId);
    expect(lineage.best?.pgr).toMatchObject({
      mean: best.pgr.mean,
      ciLow: best.pgr.ciLow,
      ciHigh: best.pgr.ciHigh,
    });
    expect(lineage.nodes.find((n) => n.id === memoId)?.trust).toBe('under_review');
    const compare = await get(`/problems/${problemId}/compare`, Compare);
    const c = compare.campaigns.find((x) => x.campaignId === campaignId)!;
    expect(c.best).toEqual({
      trialId: best.trialId,
      mean: best.pgr.mean,
      ciLow: best.pgr.ciLow,
      ciHigh: best.pgr.ciHigh,
    });
  });

  it('the report and the compare view give the same verdict', async () => {
    const report = await get(`/campaigns/${campaignId}/report`, CampaignReport);
    expect(report.verdict).toEqual(liveReport.verdict);
    expect(report.best?.id).toBe(liveReport.best?.id);
    const compare = await get(`/problems/${problemId}/compare`, Compare);
    expect(compare.campaigns.find((x) => x.campaignId === campaignId)!.verdict).toEqual(
      liveReport.verdict,
    );
  });

  it("the trial pages show each flag's review as the workflow holds it", async () => {
    const live = (await env.service.trials(campaignId, { limit: 1000 })).trials;
    for (const id of [memoId, flakyId]) {
      const detail = await get(`/campaigns/${campaignId}/trials/${id}`, TrialDetail);
      const w = live.find((t) => t.id === id)!;
      expect(detail.summary?.flags).toEqual(w.flags);
      expect(detail.summary?.trust).toBe(w.trust);
      expect(detail.trial.trust).toBe(w.trust);
    }
    const flaky = live.find((t) => t.id === flakyId)!;
    expect(flaky.flags[0]?.cleared?.reason).toBe('one seed hit a flaky node');
  });
});
