import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiConfig, Lineage, TrialDetail, TrialsPage } from '../api/schemas.js';
import { compareSeries, lineagePath, LineageReader, quote } from './lineage.js';
import { decodeTrial, encodeSnapshot, RECORDS_SNAPSHOT } from '../records/trial-codec.js';
import { TAG } from '../records/names.js';
import { eventually } from '../test/support/eventually.js';
import { campaignRuns, FakeMlflow } from '../test/support/fake-mlflow.js';
import {
  auth,
  buildTestApp,
  FakeService,
  report,
  trialSummary,
} from '../test/support/fake-service.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('run -> record mapping', () => {
  const runs = campaignRuns({ experimentId: '1', problemId: 'quad', campaignId: 'c1', trials: 7 });

  it('reads id, lineage, author, status, PGR, flags and metrics from what recording.ts writes', () => {
    const t2 = decodeTrial(runs.find((r) => r.data.tags['gaplab.trialId'] === 't0002')!);
    expect(t2).toMatchObject({
      id: 't0002',
      index: 2,
      kind: 'search',
      parentTrialId: 'baseline',
      title: 'idea 2',
      author: { name: 'random', kind: 'strategy' },
      status: 'succeeded',
      pgr: { mean: 0.2, ciLow: expect.closeTo(0.15), ciHigh: expect.closeTo(0.25) },
      flags: ['high_variance'],
      hiddenMetrics: ['heldout_score'],
      params: { x: '2' },
      computeSeconds: 1,
    });
    // Per-seed and bookkeeping metrics stay out of the experiment's metrics.
    expect(Object.keys(t2.metrics)).toEqual(['score']);
    const failed = decodeTrial(runs.find((r) => r.data.tags['gaplab.trialId'] === 't0006')!);
    expect(failed).toMatchObject({ status: 'failed', pgr: null, failureReason: 'boom' });
    expect(
      decodeTrial(runs.find((r) => r.data.tags['gaplab.trialId'] === 'baseline')!),
    ).toMatchObject({ index: 0, kind: 'reference', parentTrialId: null });
  });

  it('copes with a run whose tags are still being written', () => {
    const run = structuredClone(runs.find((r) => r.data.tags['gaplab.trialId'] === 't0003')!);
    run.info.status = 'RUNNING';
    for (const k of [
      'gaplab.status',
      'gaplab.trialKind',
      'gaplab.hypothesis.title',
      'gaplab.parentTrialId',
    ])
      delete run.data.tags[k];
    run.data.metrics = {};
    expect(decodeTrial(run)).toMatchObject({
      id: 't0003',
      status: 'running',
      kind: 'search',
      title: 'idea 3',
      parentTrialId: null,
      pgr: null,
      finishedAt: null,
    });
  });

  it('turns non-finite metric values into null', () => {
    const run = structuredClone(runs[1]!);
    run.data.metrics['score'] = NaN;
    run.data.metrics['pgr_ci_high'] = Infinity;
    const r = decodeTrial(run);
    expect(r.metrics['score']).toBeNull();
    expect(r.pgr?.ciHigh).toBeNull();
  });

  it('walks lineage to the root and stops on cycles', () => {
    const byId = new Map([
      ['a', { id: 'a', parentTrialId: null }],
      ['b', { id: 'b', parentTrialId: 'a' }],
      ['c', { id: 'c', parentTrialId: 'b' }],
      ['x', { id: 'x', parentTrialId: 'y' }],
      ['y', { id: 'y', parentTrialId: 'x' }],
    ]);
    expect(lineagePath(byId, 'c')).toEqual(['a', 'b', 'c']);
    expect(lineagePath(byId, 'x')).toEqual(['y', 'x']);
  });

  it('quotes filter values', () => {
    expect(quote("it's")).toBe("'it\\'s'");
  });
});

describe('LineageReader', () => {
  function reader(mlflow: FakeMlflow, now = { t: 0 }, ttlMs = 1000) {
    return new LineageReader({
      mlflow,
      listExperiments: mlflow.listExperiments,
      ttlMs,
      cacheCampaigns: 2,
      now: () => now.t,
      snapshots: false,
    });
  }

  it('reads a finished campaign from the snapshot written at its end without a search, and never writes one', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'done', 40);
    const first = new LineageReader({ mlflow, listExperiments: mlflow.listExperiments });
    const a = (await first.records('done'))!;
    expect(a.fromSnapshot).toBe(false);
    expect(mlflow.uploads).toBe(0);
    // What recording.ts recordRecordsSnapshot writes when the campaign ends.
    mlflow.artifacts.set(
      `done-parent/${RECORDS_SNAPSHOT}`,
      JSON.stringify(encodeSnapshot('done', mlflow.runs)),
    );
    const searches = mlflow.searches;
    const restarted = new LineageReader({ mlflow, listExperiments: mlflow.listExperiments });
    const b = (await restarted.records('done'))!;
    expect(b.fromSnapshot).toBe(true);
    expect(b.records).toEqual(a.records);
    // Only the parent run was located; the trial runs were not searched.
    expect(mlflow.searches - searches).toBe(1);
  });

  it('ignores the snapshot of a running campaign and an unreadable one', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'live', 5, false);
    mlflow.addCampaign('quad', 'bad', 5);
    mlflow.artifacts.set(
      'live-parent/gaplab/trial-records.json',
      JSON.stringify({ format: 'gaplab.trial-records/1', campaignId: 'live', records: [] }),
    );
    mlflow.artifacts.set(
      'bad-parent/gaplab/trial-records.json',
      '{"format": "gaplab.trial-records/1", "records": [tru',
    );
    const r = new LineageReader({
      mlflow,
      listExperiments: mlflow.listExperiments,
      snapshots: false,
    });
    expect((await r.records('live'))!).toMatchObject({ fromSnapshot: false, finished: false });
    expect((await r.records('live'))!.records).toHaveLength(6);
    expect((await r.records('bad'))!).toMatchObject({ fromSnapshot: false, finished: true });
  });

  it('keeps a finished campaign in memory: the second read makes no MLflow search', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'done', 50);
    const r = reader(mlflow);
    const first = await r.records('done');
    expect(first?.finished).toBe(true);
    expect(first?.nodes).toHaveLength(51);
    const searches = mlflow.searches;
    await r.records('done');
    await r.trials('done', { offset: 0, limit: 10 });
    expect(mlflow.searches).toBe(searches);
  });

  it('re-reads a running campaign after the TTL, and shares one fetch among concurrent callers', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'live', 5, false);
    const now = { t: 0 };
    const r = reader(mlflow, now);
    await Promise.all([r.records('live'), r.records('live'), r.records('live')]);
    const afterFirst = mlflow.searches;
    await r.records('live');
    expect(mlflow.searches).toBe(afterFirst);
    now.t = 5000;
    await r.records('live');
    expect(mlflow.searches).toBe(afterFirst + 1);
  });

  it('evicts the least recently used campaigns beyond the limit', async () => {
    const mlflow = new FakeMlflow();
    for (const id of ['a', 'b', 'c']) mlflow.addCampaign('quad', id, 3);
    const r = reader(mlflow);
    await r.records('a');
    await r.records('b');
    await r.records('c');
    const before = mlflow.searches;
    await r.records('c');
    expect(mlflow.searches).toBe(before);
    await r.records('a');
    expect(mlflow.searches).toBe(before + 1);
  });

  it('bounds memory by trials held, keeping at least the newest campaign', async () => {
    const mlflow = new FakeMlflow();
    for (const id of ['big1', 'big2']) mlflow.addCampaign('quad', id, 30);
    const r = new LineageReader({
      mlflow,
      listExperiments: mlflow.listExperiments,
      cacheCampaigns: 10,
      maxTrials: 40,
    });
    await r.records('big1');
    await r.records('big2');
    expect(r.cached('big2')).not.toBeNull();
    expect(r.cached('big1')).toBeNull();
  });

  it('returns null for campaigns MLflow does not know', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'a', 1);
    expect(await reader(mlflow).records('zzz')).toBeNull();
  });

  it('compares a best-by-lower-bound series that never goes down', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'a', 30);
    const r = (await reader(mlflow).records('a'))!;
    const { best, series, trials } = compareSeries(r);
    expect(trials).toBe(30);
    expect(best?.mean).toBe(0.9);
    const lows = series.map((p) => p.bestCiLow ?? -Infinity);
    expect(lows).toEqual([...lows].sort((x, y) => x - y));
    expect(series[0]).toMatchObject({ n: 1, trialId: 't0001', seconds: 2 });
  });

  it('compares by the domain ranking: an infeasible or flagged trial is never the best', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'a', 30);
    const tags = (id: string) =>
      mlflow.runs.find((r) => r.data.tags[TAG.trialId] === id)!.data.tags;
    // t0009, t0019 and t0029 share the highest PGR (0.9); the first of a tie is the best.
    tags('t0009')[TAG.feasible] = 'false';
    tags('t0019')[TAG.flags] = 'pgr_above_one';
    const { best, bestMean, series } = compareSeries((await reader(mlflow).records('a'))!);
    expect(best).toMatchObject({ trialId: 't0029', mean: 0.9 });
    expect(bestMean).toEqual({ trialId: 't0029', mean: 0.9 });
    // Before t0029 the best is an 0.8 (t0008), not the infeasible or flagged 0.9s.
    expect(series.find((p) => p.trialId === 't0028')!.bestMean).toBe(0.8);
  });
});

describe('trial and lineage routes', () => {
  it('pages trials of a campaign whose workflow is gone from MLflow, and filters by kind', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'gone', 25);
    ({ app } = await buildTestApp({ fakeMlflow: mlflow }));
    const page = TrialsPage.parse(
      (
        await app.inject({
          url: '/api/campaigns/gone/trials?offset=5&limit=10',
          headers: auth('viewer'),
        })
      ).json(),
    );
    expect(page).toMatchObject({ source: 'mlflow', total: 26, offset: 5, limit: 10 });
    expect(page.trials.map((t) => t.index)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    const refs = TrialsPage.parse(
      (
        await app.inject({
          url: '/api/campaigns/gone/trials?kind=reference',
          headers: auth('viewer'),
        })
      ).json(),
    );
    expect(refs.trials.map((t) => t.id)).toEqual(['baseline']);
  });

  it('answers a trial with its lineage, per-seed results from trial.json and links', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'gone', 9);
    const run = mlflow.runs.find((r) => r.data.tags['gaplab.trialId'] === 't0008')!;
    mlflow.artifacts.set(
      `${run.info.runId}/trial.json`,
      JSON.stringify({
        trial: trialSummary(8, 't0004'),
        seeds: [
          { seed: 1, status: 'succeeded', metrics: { score: 8, bad: null }, durationSeconds: 0.5 },
        ],
      }),
    );
    ({ app } = await buildTestApp({
      fakeMlflow: mlflow,
      config: { temporalUi: 'http://tui:8233', mlflowUi: 'http://mlf:5050' },
    }));
    const d = TrialDetail.parse(
      (
        await app.inject({ url: '/api/campaigns/gone/trials/t0008', headers: auth('viewer') })
      ).json(),
    );
    expect(d.lineage.map((n) => n.id)).toEqual(['baseline', 't0002', 't0004', 't0008']);
    expect(d.seeds).toEqual([
      { seed: 1, status: 'succeeded', metrics: { score: 8, bad: null }, durationSeconds: 0.5 },
    ]);
    expect(d.summary?.id).toBe('t0008');
    // Links to the tools outside gaplab by role (api/permissions.ts LINKED_TOOLS): Temporal's UI
    // has no authentication and every hidden value, PIs only; MLflow's for PIs and researchers.
    const mlflowRun = `http://mlf:5050/#/experiments/1/runs/${run.info.runId}`;
    const expected = {
      pi: {
        config: { temporalUi: 'http://tui:8233', mlflowUi: 'http://mlf:5050' },
        links: { mlflowRun, temporalWorkflow: 'http://tui:8233/namespaces/default/workflows/gone' },
      },
      researcher: {
        config: { temporalUi: null, mlflowUi: 'http://mlf:5050' },
        links: { mlflowRun, temporalWorkflow: null },
      },
      viewer: {
        config: { temporalUi: null, mlflowUi: null },
        links: { mlflowRun: null, temporalWorkflow: null },
      },
    } as const;
    for (const who of ['pi', 'researcher', 'viewer'] as const) {
      const detail = TrialDetail.parse(
        (await app.inject({ url: '/api/campaigns/gone/trials/t0008', headers: auth(who) })).json(),
      );
      expect(detail.links, who).toEqual(expected[who].links);
      const config = ApiConfig.parse(
        (await app.inject({ url: '/api/config', headers: auth(who) })).json(),
      );
      expect(config, who).toMatchObject(expected[who].config);
    }
    expect(
      (await app.inject({ url: '/api/campaigns/gone/trials/t0100', headers: auth('viewer') }))
        .statusCode,
    ).toBe(404);
  });

  it('serves the lineage of runs written straight into MLflow, with no workflow at all', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('other', 'seeded-only', 12);
    ({ app } = await buildTestApp({ fakeMlflow: mlflow }));
    const l = Lineage.parse(
      (
        await app.inject({ url: '/api/campaigns/seeded-only/lineage', headers: auth('viewer') })
      ).json(),
    );
    expect(l).toMatchObject({ source: 'mlflow', finished: true, problemId: 'other', total: 13 });
    expect(l.nodes[4]).toMatchObject({
      id: 't0004',
      parentTrialId: 't0002',
      kind: 'search',
      pgr: 0.4,
    });
    const cmp = (
      await app.inject({ url: '/api/problems/other/compare', headers: auth('viewer') })
    ).json();
    expect(cmp.campaigns).toHaveLength(1);
    expect(cmp.campaigns[0]).toMatchObject({
      campaignId: 'seeded-only',
      strategy: 'random',
      trials: 12,
      label: null,
    });
  });

  it("marks a live campaign's trials, references included, with the criteria's hidden metrics", async () => {
    const fake = new FakeService();
    fake.problems.get('quad')!.criteria[0]!.criteria.hiddenMetrics = ['heldout_score'];
    ({ app } = await buildTestApp({ fake }));
    const page = TrialsPage.parse(
      (await app.inject({ url: '/api/campaigns/c1/trials', headers: auth('pi') })).json(),
    );
    expect(page.source).toBe('workflow');
    expect(page.trials[0]).toMatchObject({ id: 'baseline', kind: 'reference' });
    for (const t of page.trials) expect(t.hiddenMetrics, t.id).toEqual(['heldout_score']);
    const detail = TrialDetail.parse(
      (await app.inject({ url: '/api/campaigns/c1/trials/baseline', headers: auth('pi') })).json(),
    );
    expect(detail.trial.hiddenMetrics).toEqual(['heldout_score']);
  });

  it('reads a live campaign from its workflow, asking only for trials it has not seen', async () => {
    const mlflow = new FakeMlflow();
    const fake = new FakeService();
    const offsets: number[] = [];
    const trials = fake.trials.bind(fake);
    fake.trials = async (id, opts) => (offsets.push(opts?.offset ?? 0), trials(id, opts));
    ({ app } = await buildTestApp({ fakeMlflow: mlflow, fake, config: { lineageTtlMs: 0 } }));
    const l = Lineage.parse(
      (await app.inject({ url: '/api/campaigns/c1/lineage', headers: auth('viewer') })).json(),
    );
    expect(l).toMatchObject({ source: 'workflow', total: 3, problemId: 'quad', finished: false });
    expect(l.nodes.map((n) => n.parentTrialId)).toEqual([null, 'baseline', 't0001']);
    // Trials finish out of order: the workflow's list has t0005 before t0004; readers get index order.
    const c = fake.campaigns.get('c1')!;
    c.trials.push({ ...trialSummary(5), parentTrialId: 't0002' }, trialSummary(4));
    const next = Lineage.parse(
      (await app.inject({ url: '/api/campaigns/c1/lineage', headers: auth('viewer') })).json(),
    );
    expect(next.nodes.map((n) => n.id)).toEqual(['baseline', 't0001', 't0002', 't0004', 't0005']);
    expect(offsets).toEqual([0, 3]);
    const page = TrialsPage.parse(
      (
        await app.inject({ url: '/api/campaigns/c1/trials?kind=search', headers: auth('viewer') })
      ).json(),
    );
    expect(page).toMatchObject({ source: 'workflow', total: 4 });
    const detail = TrialDetail.parse(
      (await app.inject({ url: '/api/campaigns/c1/trials/t0002', headers: auth('viewer') })).json(),
    );
    expect(detail.lineage.map((n) => n.id)).toEqual(['baseline', 't0001', 't0002']);
    expect(detail.summary?.flags[0]?.message).toBe('noisy');
  });

  it('reads a closed campaign from MLflow without querying its workflow; from the workflow when MLflow has no record', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'c2', 6);
    const fake = new FakeService();
    let queries = 0;
    const trials = fake.trials.bind(fake);
    fake.trials = async (id, opts) => (queries++, trials(id, opts));
    ({ app } = await buildTestApp({ fakeMlflow: mlflow, fake }));
    const recorded = Lineage.parse(
      (await app.inject({ url: '/api/campaigns/c2/lineage', headers: auth('viewer') })).json(),
    );
    expect(recorded).toMatchObject({ source: 'mlflow', finished: true, total: 7 });
    expect(queries).toBe(0);
    // A closed campaign run without MLflow: its workflow still answers.
    fake.campaigns.set('c3', {
      ...fake.campaigns.get('c2')!,
      status: { ...fake.campaigns.get('c2')!.status, campaignId: 'c3' },
    });
    const unrecorded = Lineage.parse(
      (await app.inject({ url: '/api/campaigns/c3/lineage', headers: auth('viewer') })).json(),
    );
    expect(unrecorded).toMatchObject({ source: 'workflow', finished: true, total: 3 });
  });

  it('warms the MLflow cache once a live campaign finishes', async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'c1', 6);
    const fake = new FakeService();
    ({ app } = await buildTestApp({ fakeMlflow: mlflow, fake, config: { lineageTtlMs: 0 } }));
    const live = Lineage.parse(
      (await app.inject({ url: '/api/campaigns/c1/lineage', headers: auth('viewer') })).json(),
    );
    expect(live.source).toBe('workflow');
    fake.campaigns.get('c1')!.status.phase = 'finished';
    await app.inject({ url: '/api/campaigns/c1/lineage', headers: auth('viewer') });
    const recorded = await eventually(
      async () => {
        const l = Lineage.parse(
          (await app!.inject({ url: '/api/campaigns/c1/lineage', headers: auth('viewer') })).json(),
        );
        return l.source === 'mlflow' ? l : null;
      },
      5000,
      20,
    );
    expect(recorded).toMatchObject({ finished: true, total: 7 });
  });

  it("serves a closed campaign's report from MLflow, and from MLflow alone once the workflow is gone", async () => {
    const mlflow = new FakeMlflow();
    mlflow.addCampaign('quad', 'c2', 3);
    mlflow.addCampaign('quad', 'gone', 3);
    mlflow.artifacts.set(
      'c2-parent/report.json',
      JSON.stringify({ ...report('c2'), stopReason: 'target_reached' }),
    );
    mlflow.artifacts.set('gone-parent/report.json', JSON.stringify(report('gone')));
    ({ app } = await buildTestApp({ fakeMlflow: mlflow }));
    const c2 = await app.inject({ url: '/api/campaigns/c2/report', headers: auth('viewer') });
    expect(c2.json()).toMatchObject({ campaignId: 'c2', stopReason: 'target_reached' });
    const gone = await app.inject({
      url: '/api/campaigns/gone/report?format=markdown',
      headers: auth('viewer'),
    });
    expect(gone.statusCode).toBe(200);
    expect(gone.body).toMatch(/^# Campaign gone/);
    expect(
      (await app.inject({ url: '/api/campaigns/ghost/report', headers: auth('viewer') }))
        .statusCode,
    ).toBe(404);
  });

  it('answers 503, not 404, when the workflow is unknown and MLflow is down', async () => {
    const mlflow = new FakeMlflow();
    mlflow.up = false;
    ({ app } = await buildTestApp({ fakeMlflow: mlflow }));
    expect(
      (await app.inject({ url: '/api/campaigns/ghost/lineage', headers: auth('viewer') }))
        .statusCode,
    ).toBe(503);
    // The live campaign still answers from its workflow.
    expect(
      (await app.inject({ url: '/api/campaigns/c1/lineage', headers: auth('viewer') })).statusCode,
    ).toBe(200);
  });
});
