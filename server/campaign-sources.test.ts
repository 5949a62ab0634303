/**
 * The trial, lineage and source routes ask the same of either source a campaign is read from
 * (campaign-source.ts): the same campaign, held by its running workflow or read back from the
 * MLflow runs recording.ts writes, answers the same. Each assertion runs against both.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { Lineage, TrialDetail, TrialsPage, type TrialSummary } from '../api/schemas.js';
import { encodeTrial, type EncodedTrial } from '../records/trial-codec.js';
import { experimentName, hiddenExperimentName, TAG } from '../records/names.js';
import type { ConstraintVerdict } from '../domain/schemas.js';
import type { Run } from '../mlflow-ts-client/index.js';
import { campaignRuns, FakeMlflow } from '../test/support/fake-mlflow.js';
import { auth, buildTestApp, FakeService } from '../test/support/fake-service.js';
import { ServiceError } from './errors.js';
import { readClosed } from './reader.js';

const HIDDEN = ['heldout_score'];

/** What t0002 was judged on when it was scored (t0001 and the baseline were scored before verdicts were kept). */
const VERDICTS: ConstraintVerdict[] = [
  { description: 'score <= 5', metric: 'score', value: 2, limit: 5, ok: true },
  {
    description: 'heldout_score >= 1 x baseline (-3.333)',
    metric: 'heldout_score',
    value: 7.777,
    limit: -3.333,
    ok: true,
  },
];

/** A run as MLflow hands back what recording.ts wrote (latest value of each metric). */
function asRun(e: EncodedTrial, runId: string, experimentId: string, hidden = false): Run {
  const metrics: Record<string, number> = {};
  for (const m of hidden ? (e.hidden?.metrics ?? []) : e.metrics) metrics[m.key] = m.value;
  return {
    info: {
      runId,
      experimentId,
      runName: e.runName,
      userId: '',
      status: e.status,
      startTime: e.startTime,
      endTime: e.endTime,
      artifactUri: '',
      lifecycleStage: 'active',
    },
    data: {
      metrics,
      params: hidden ? {} : { ...e.params },
      tags: hidden
        ? { ...e.hidden?.identityTags, ...e.hidden?.tags }
        : { ...e.identityTags, ...e.tags, [TAG.hiddenRunId]: `${runId}-hidden` },
    },
  };
}

/** The campaign `c1` as the workflow holds it: baseline, t0001 and t0002 (flagged, verdicts recorded). */
function trialsOf(fake: FakeService): TrialSummary[] {
  const trials = fake.campaigns.get('c1')!.trials;
  trials[2] = { ...trials[2]!, constraints: VERDICTS };
  return trials;
}

/** The same campaign written to MLflow by the trial codec, its workflow gone. */
function recorded(fake: FakeService, trials: readonly TrialSummary[]): FakeMlflow {
  const mlflow = new FakeMlflow();
  mlflow.experiments.set(experimentName('quad'), '1');
  mlflow.experiments.set(hiddenExperimentName('c1'), '2');
  const [parent] = campaignRuns({
    experimentId: '1',
    problemId: 'quad',
    campaignId: 'c1',
    trials: 0,
  });
  mlflow.runs.push(parent!);
  for (const t of trials) {
    const e = encodeTrial({
      campaignId: 'c1',
      problemId: 'quad',
      trial: t as never,
      seeds: [],
      hiddenMetrics: HIDDEN,
    });
    const runId = `run-${t.id}`;
    mlflow.runs.push(asRun(e, runId, '1'), asRun(e, `${runId}-hidden`, '2', true));
    for (const a of e.artifacts) mlflow.artifacts.set(`${runId}/${a.path}`, a.content);
    for (const a of e.hidden?.artifacts ?? [])
      mlflow.artifacts.set(`${runId}-hidden/${a.path}`, a.content);
  }
  fake.campaigns.delete('c1');
  return mlflow;
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const SOURCES = [
  { source: 'workflow', ended: false },
  { source: 'mlflow', ended: true },
] as const;

describe.each(SOURCES)('a campaign read from $source', ({ source, ended }) => {
  async function open() {
    const fake = new FakeService();
    const criteria = fake.problems.get('quad')!.criteria[0]!.criteria;
    criteria.hiddenMetrics = HIDDEN;
    criteria.constraints = [{ kind: 'absolute', metric: 'score', op: '<=', value: 0.5 }];
    const trials = trialsOf(fake);
    const mlflow = source === 'mlflow' ? recorded(fake, trials) : new FakeMlflow();
    ({ app } = await buildTestApp({ fake, fakeMlflow: mlflow }));
    return async (url: string, who: 'pi' | 'viewer' = 'pi') => {
      const res = await app!.inject({ url: `/api/campaigns/c1${url}`, headers: auth(who) });
      return { status: res.statusCode, body: res.json() as unknown };
    };
  }

  it('pages its trials in index order, marked with the hidden metrics, verdicts as recorded', async () => {
    const get = await open();
    const page = TrialsPage.parse((await get('/trials')).body);
    expect(page).toMatchObject({ source, total: 3 });
    expect(page.trials.map((t) => t.id)).toEqual(['baseline', 't0001', 't0002']);
    for (const t of page.trials) expect(t.hiddenMetrics, t.id).toEqual(HIDDEN);
    expect(page.trials[2]!.constraints).toEqual(VERDICTS);
    expect(page.trials[1]).not.toHaveProperty('constraints');
    const search = TrialsPage.parse((await get('/trials?kind=search&offset=1')).body);
    expect(search).toMatchObject({ total: 2 });
    expect(search.trials.map((t) => t.id)).toEqual(['t0002']);
  });

  it("answers a trial with everything its page shows: verdicts, lineage, the parent's parameters", async () => {
    const get = await open();
    const d = TrialDetail.parse((await get('/trials/t0002')).body);
    expect(d.trial.id).toBe('t0002');
    expect(d.lineage.map((n) => n.id)).toEqual(['baseline', 't0001', 't0002']);
    expect(d.parentParams).toEqual({ x: 1, y: 0 });
    expect(d.campaign).toEqual({
      problemId: 'quad',
      ended,
      criteriaVersion: 1,
      objective: 'score',
    });
    expect(d.constraints).toEqual({ recorded: true, verdicts: VERDICTS });
    expect(d.summary?.flags[0]?.message).toBe('noisy');
    // A trial scored before verdicts were kept: judged again from the criteria, and said so.
    const old = TrialDetail.parse((await get('/trials/t0001')).body);
    expect(old.constraints).toEqual({
      recorded: false,
      verdicts: [{ description: 'score <= 0.5', metric: 'score', value: 1, limit: 0.5, ok: false }],
    });
    const root = TrialDetail.parse((await get('/trials/baseline')).body);
    expect(root.parentParams).toBeNull();
    expect(root.lineage.map((n) => n.id)).toEqual(['baseline']);
    expect((await get('/trials/t0100')).status).toBe(404);
  });

  it('serves the lineage tree, and says a trial without code has no diff', async () => {
    const get = await open();
    const l = Lineage.parse((await get('/lineage')).body);
    expect(l).toMatchObject({ source, problemId: 'quad', total: 3 });
    expect(l.nodes.map((n) => n.parentTrialId)).toEqual([null, 'baseline', 't0001']);
    expect((await get('/trials/t0001/diff')).body).toMatchObject({ diff: '', from: 'none' });
    expect((await get('/trials/t0100/diff')).status).toBe(404);
    const initial = await get('/sources/initial');
    expect(initial.status).toBe(404);
    expect((initial.body as { message: string }).message).toMatch(/not run a code experiment/);
  });
});

describe('constraint verdicts on hidden metrics', () => {
  it('are withheld from researchers and viewers while the campaign runs, whole for PIs', async () => {
    const fake = new FakeService();
    fake.problems.get('quad')!.criteria[0]!.criteria.hiddenMetrics = HIDDEN;
    trialsOf(fake);
    ({ app } = await buildTestApp({ fake }));
    const detail = async (who: 'pi' | 'viewer') =>
      TrialDetail.parse(
        (await app!.inject({ url: '/api/campaigns/c1/trials/t0002', headers: auth(who) })).json(),
      );
    const viewer = await detail('viewer');
    expect(viewer.constraints?.verdicts).toEqual([
      VERDICTS[0],
      {
        description: 'heldout_score: a hidden metric, its values withheld',
        metric: 'heldout_score',
        value: null,
        limit: 0,
        ok: true,
        withheld: true,
      },
    ]);
    expect(JSON.stringify(viewer)).not.toMatch(/7\.777|3\.333/);
    expect((await detail('pi')).constraints?.verdicts).toEqual(VERDICTS);
  });
});

describe('a running campaign Temporal cannot describe in time', () => {
  it('is read from its workflow, not from the record MLflow has caught up with so far', async () => {
    const fake = new FakeService();
    const trials = trialsOf(fake);
    // MLflow records asynchronously: so far it holds the baseline alone.
    const held = fake.campaigns.get('c1')!;
    const mlflow = recorded(fake, trials.slice(0, 1));
    fake.campaigns.set('c1', held);
    // A loaded machine: the describe behind `isRunning` misses its deadline.
    fake.isRunning = () =>
      Promise.reject(new ServiceError('Unavailable', 'campaign c1: deadline exceeded'));
    ({ app } = await buildTestApp({ fake, fakeMlflow: mlflow }));
    // The event stream asks the workflow too, rather than failing to open.
    await expect(readClosed(app.gaplab, 'c1')).resolves.toBeNull();
    const get = async (url: string) =>
      (await app!.inject({ url: `/api/campaigns/c1${url}`, headers: auth('pi') })).json();
    const page = TrialsPage.parse(await get('/trials'));
    expect(page).toMatchObject({ source: 'workflow', total: 3 });
    const lineage = Lineage.parse(await get('/lineage'));
    expect(lineage.nodes.map((n) => n.id)).toEqual(['baseline', 't0001', 't0002']);
  });
});
