/**
 * MLflow behind the same door as gaplab: through MLflow's own REST API, anonymous callers read
 * nothing, researchers and viewers read a running campaign's records without any hidden value,
 * and PIs read the hidden values too; once the campaign has ended, everyone may read them
 * (criteria `hiddenMetricsVisibility: pi-until-finished`, the default), as in gaplab's API.
 *
 * Real Temporal, worker and MLflow with its basic-auth app (the test stack's users, by role).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { TAG, hiddenExperimentName } from '../records/names.js';
import { LineageReader } from '../server/lineage.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';
import { eventually } from './support/eventually.js';
import { ExperimentRegistry } from '../experiments/registry.js';
import type { ExperimentDefinition } from '../experiments/types.js';
import { quadratic, quadraticCriteria, quadraticSpec } from './support/quadratic.js';

/** The bowl, failing at x = 0.5 with an error that quotes the seed's hidden score. */
const quoting: ExperimentDefinition = {
  ...quadratic,
  runner: {
    kind: 'function',
    async run(params, ctx) {
      if (quadratic.runner.kind !== 'function') throw new Error('the bowl is a function');
      const m = await quadratic.runner.run(params, ctx);
      if (Number(params.x) === 0.5)
        throw new Error(`diverged; heldout_score was ${m.heldout_score} on this seed`);
      return m;
    },
  },
};

const users = inject('mlflowUsers');
const HIDDEN = 'heldout_score';
type Who = 'anonymous' | 'pi' | 'researcher' | 'viewer';

let env: TestEnv;

/** A call to MLflow's REST API as `who` (basic auth with the stack's user for that role). */
async function mlflowAs(
  who: Who,
  route: string,
  body?: unknown,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- MLflow's JSON, read by key
): Promise<{ status: number; json: any; text: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (who !== 'anonymous') {
    const u = users![who];
    headers.authorization = `Basic ${Buffer.from(`${u.username}:${u.password}`).toString('base64')}`;
  }
  const res = await fetch(`${env.mlflowUri}${route}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (401 pages)
  }
  return { status: res.status, json, text };
}

const metricsOf = (run: { data?: { metrics?: { key: string; value: number }[] } }) =>
  Object.fromEntries((run.data?.metrics ?? []).map((m) => [m.key, m.value]));

describe.skipIf(!users)(
  users
    ? 'hidden metrics in an MLflow with authentication'
    : 'hidden metrics in an MLflow with authentication (skipped: the test stack runs MLflow without auth)',
  () => {
    beforeAll(async () => {
      env = await createTestEnv({ registry: ExperimentRegistry.of(quoting) });
    });
    afterAll(async () => {
      await env?.close();
    });

    it('anonymous and researcher get no hidden metric of a running campaign; PI does; all after the end', async () => {
      const problemId = uniqueId('mlauth');
      await env.service.submitProblem(researcher, { ...quadraticSpec, id: problemId });
      await env.service.setCriteria(pi, problemId, {
        ...quadraticCriteria,
        budgets: { maxTrials: 2, concurrency: 2 },
        verification: { topK: 0, seeds: 1 },
      });
      // Paused: the references are measured and recorded, the campaign runs on, nothing else starts.
      const { campaignId } = await env.service.startCampaign(researcher, {
        problemId,
        strategy: { name: 'random' },
        paused: true,
      });
      const baseline = await eventually(async () => {
        const { trials } = await env.service.trials(campaignId, { limit: 100 });
        return trials.find((t) => t.id === 'baseline' && t.status === 'succeeded');
      }, 90_000);
      const hiddenMean = baseline.metrics[HIDDEN]!;
      expect(typeof hiddenMean).toBe('number');

      // The service account sees the trial's run, closed, naming its hidden run.
      const experiment = (await env.mlflow.getExperimentByName(`gaplab/${problemId}`))!;
      const trialRun = await eventually(async () => {
        const { runs } = await env.mlflow.searchRuns({
          experimentIds: [experiment.experimentId],
          filter: `tags.\`${TAG.trialKey}\` = '${campaignId}/baseline'`,
        });
        return runs[0]?.info.status === 'FINISHED' ? runs[0] : undefined;
      }, 90_000);
      const hiddenRunId = trialRun.data.tags[TAG.hiddenRunId]!;
      expect(hiddenRunId).toMatch(/^[0-9a-f]{32}$/);
      const hiddenExp = (await env.mlflow.getExperimentByName(hiddenExperimentName(campaignId)))!;
      expect(env.mlflow.authorization).toMatch(/^Basic /);

      const search = { experiment_ids: [experiment.experimentId], max_results: 100 };
      const hiddenSearch = { experiment_ids: [hiddenExp.experimentId], max_results: 100 };
      const getHidden = `/api/2.0/mlflow/runs/get?run_id=${hiddenRunId}`;
      const hiddenTrialJson = `/api/2.0/mlflow-artifacts/artifacts/${hiddenExp.experimentId}/${hiddenRunId}/artifacts/trial.json`;
      const trialJson = `/api/2.0/mlflow-artifacts/artifacts/${experiment.experimentId}/${trialRun.info.runId}/artifacts/trial.json`;
      const hiddenValue = String(hiddenMean);

      // Anonymous: nothing at all.
      for (const [route, body] of [
        ['/api/2.0/mlflow/runs/search', search],
        ['/api/2.0/mlflow/runs/search', hiddenSearch],
        [getHidden, undefined],
        [hiddenTrialJson, undefined],
        [trialJson, undefined],
      ] as const)
        expect((await mlflowAs('anonymous', route, body)).status, route).toBe(401);

      for (const who of ['researcher', 'viewer'] as const) {
        // The problem's records, without the hidden metric's mean, per-seed values or logs.
        const visible = await mlflowAs(who, '/api/2.0/mlflow/runs/search', search);
        expect(visible.status, who).toBe(200);
        const runs = visible.json.runs as {
          info: { run_id: string };
          data?: { metrics?: { key: string; value: number }[] };
        }[];
        const base = runs.find((r) => r.info.run_id === trialRun.info.runId)!;
        expect(base, who).toBeDefined();
        expect(metricsOf(base)).toHaveProperty('score');
        expect(Object.keys(metricsOf(base)).filter((k) => k.includes(HIDDEN))).toEqual([]);
        expect(visible.text).not.toContain(hiddenValue);
        const artifact = await mlflowAs(who, trialJson);
        expect(artifact.status, who).toBe(200);
        expect(artifact.text).toContain('"score"');
        expect(artifact.text).not.toContain(HIDDEN);
        // The hidden record: refused, or filtered out of searches.
        expect((await mlflowAs(who, getHidden)).status, who).toBe(403);
        expect((await mlflowAs(who, hiddenTrialJson)).status, who).toBe(403);
        const hiddenRuns = await mlflowAs(who, '/api/2.0/mlflow/runs/search', hiddenSearch);
        expect(hiddenRuns.json?.runs ?? [], who).toEqual([]);
        expect(hiddenRuns.text).not.toContain(hiddenValue);
      }

      // A PI reads the hidden values: the mean gaplab computed, per seed, and the whole trial.
      const asPi = await mlflowAs('pi', getHidden);
      expect(asPi.status).toBe(200);
      expect(metricsOf(asPi.json.run)[HIDDEN]).toBeCloseTo(hiddenMean, 9);
      expect(metricsOf(asPi.json.run)).toHaveProperty(`seed/${HIDDEN}`);
      expect((await mlflowAs('pi', hiddenTrialJson)).text).toContain(HIDDEN);

      // The end: every role reads the hidden values (pi-until-finished), anonymous still nothing.
      await env.service.resume(researcher, campaignId);
      await env.service.result(campaignId);
      for (const who of ['researcher', 'viewer'] as const) {
        const after = await eventually(async () => {
          const r = await mlflowAs(who, getHidden);
          return r.status === 200 ? r : undefined;
        }, 60_000);
        expect(metricsOf(after.json.run)[HIDDEN]).toBeCloseTo(hiddenMean, 9);
      }
      expect((await mlflowAs('anonymous', getHidden)).status).toBe(401);

      // gaplab's own reader finds the hidden values in MLflow after the end (search and snapshot).
      for (const snapshots of [false, true]) {
        const records = await eventually(async () => {
          const r = await new LineageReader({ mlflow: env.mlflow, snapshots }).records(campaignId);
          return r?.finished && (!snapshots || r.fromSnapshot) ? r : undefined;
        }, 60_000);
        expect(records.byId.get('baseline')!.metrics[HIDDEN]).toBeCloseTo(hiddenMean, 9);
      }
    });

    it("keeps seed errors and people's notes quoting hidden values out of what researchers and viewers read mid-campaign", async () => {
      const problemId = uniqueId('mlauth-texts');
      await env.service.submitProblem(researcher, { ...quadraticSpec, id: problemId });
      await env.service.setCriteria(pi, problemId, {
        ...quadraticCriteria,
        budgets: { maxTrials: 20, concurrency: 1 },
        verification: { topK: 0, seeds: 1 },
      });
      const { campaignId } = await env.service.startCampaign(researcher, {
        problemId,
        strategy: { name: 'random' },
        paused: true,
      });
      const baseline = await eventually(async () => {
        const { trials } = await env.service.trials(campaignId, { limit: 100 });
        return trials.find((t) => t.id === 'baseline' && t.status === 'succeeded');
      }, 90_000);
      const hidden = baseline.metrics[HIDDEN]!;
      // A PI's note long enough to go to MLflow whole (the state keeps 1,000 characters).
      const note = `the baseline's ${HIDDEN} is ${hidden} (${(hidden * 10).toFixed(2)}%). ${'context '.repeat(150)}`;
      await env.service.addNote(pi, campaignId, note);
      // A trial whose seeds fail quoting their hidden score.
      await env.service.inject(pi, campaignId, { title: 'diverges', changes: { x: 0.5, y: 0 } });
      await env.service.resume(researcher, campaignId);
      const failed = await eventually(async () => {
        const { trials } = await env.service.trials(campaignId, { kind: 'search', limit: 100 });
        const t = trials.find((x) => x.params.x === 0.5 && x.status === 'failed');
        return t?.mlflowRunId ? t : undefined;
      }, 90_000);
      await env.service.pause(pi, campaignId);
      expect(failed.failureReason).toMatch(/heldout_score was -?\d/);
      const quoted = /heldout_score was (-?[\d.e-]+)/.exec(failed.failureReason!)![1]!;

      const experiment = (await env.mlflow.getExperimentByName(`gaplab/${problemId}`))!;
      const hiddenExp = (await env.mlflow.getExperimentByName(hiddenExperimentName(campaignId)))!;
      const { runs } = await env.mlflow.searchRuns({
        experimentIds: [experiment.experimentId],
        filter: `tags.\`${TAG.campaignId}\` = '${campaignId}'`,
      });
      const parent = runs.find((r) => r.data.tags[TAG.kind] === 'campaign')!;
      const textsRunId = parent.data.tags[TAG.hiddenRunId]!;
      expect(textsRunId).toMatch(/^[0-9a-f]{32}$/);
      // The note reaches the campaign's hidden run (written in the background).
      const notes = await eventually(async () => {
        const files = await env.mlflow.listArtifacts(textsRunId, 'notebook').catch(() => []);
        return files.length > 0 ? files : undefined;
      }, 60_000);
      const notePath = notes[0]!.path;
      const trialJson = (expId: string, runId: string, file = 'trial.json') =>
        `/api/2.0/mlflow-artifacts/artifacts/${expId}/${runId}/artifacts/${file}`;
      const failedRun = await env.mlflow.getRun(failed.mlflowRunId!);
      const failedHiddenRun = failedRun.data.tags[TAG.hiddenRunId]!;

      for (const who of ['researcher', 'viewer'] as const) {
        // The problem's records: the failed trial's tags and trial.json, the campaign's run.
        const visible = await mlflowAs(who, '/api/2.0/mlflow/runs/search', {
          experiment_ids: [experiment.experimentId],
          max_results: 100,
        });
        expect(visible.status, who).toBe(200);
        expect(visible.text).toContain('diverges');
        expect(visible.text).not.toContain(quoted);
        expect(visible.text).not.toContain(String(hidden));
        const artifact = await mlflowAs(
          who,
          trialJson(experiment.experimentId, failed.mlflowRunId!),
        );
        expect(artifact.status, who).toBe(200);
        expect(artifact.text).toContain('"failed"');
        expect(artifact.text).not.toContain(quoted);
        const listed = await mlflowAs(
          who,
          `/api/2.0/mlflow/artifacts/list?run_id=${parent.info.runId}&path=notebook`,
        );
        expect(listed.json?.files ?? [], who).toEqual([]);
        // The hidden record, texts included: refused.
        for (const [runId, file] of [
          [textsRunId, notePath],
          [failedHiddenRun, 'trial.json'],
        ] as const)
          expect((await mlflowAs(who, trialJson(hiddenExp.experimentId, runId, file))).status).toBe(
            403,
          );
      }
      // A PI reads them whole.
      const asPi = await mlflowAs('pi', trialJson(hiddenExp.experimentId, textsRunId, notePath));
      expect(asPi.status).toBe(200);
      expect(asPi.text).toContain(String(hidden));
      const piTrial = await mlflowAs('pi', trialJson(hiddenExp.experimentId, failedHiddenRun));
      expect(piTrial.text).toContain(quoted);
      await env.service.stop(pi, campaignId, { cancelRunning: true });
      await env.service.result(campaignId);
    });
  },
);
