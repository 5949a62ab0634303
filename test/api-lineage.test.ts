/**
 * Lineage at scale: a campaign's runs written straight into MLflow (as recording.ts writes them,
 * no workflow at all), then read through the HTTP API. GAPLAB_LINEAGE_TRIALS sets the size
 * (default 500; the 10,000-trial measurement is `GAPLAB_LINEAGE_TRIALS=10000`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecordingActivities } from '../activities/recording.js';
import { experimentName, TAG } from '../records/names.js';
import { MlflowClient } from '../mlflow-ts-client/index.js';
import { Lineage, TrialsPage } from '../api/schemas.js';
import { TokenTable } from '../server/auth.js';
import { startServer, type RunningServer } from '../server/server.js';
import { FakeService } from './support/fake-service.js';
import { inject } from 'vitest';

const N = Number(process.env.GAPLAB_LINEAGE_TRIALS ?? 500);
const TOKEN = 'lineage-viewer-token-0123';

let server: RunningServer;
let mlflow: MlflowClient;
// A fixed id per size: a campaign seeded once is reused by later runs against the same MLflow.
const problemId = `lineage-bench-${N}`;
const campaignId = `${problemId}-random`;

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** A busy MLflow (SQLite) may refuse a request now and then; a duplicate run is harmless (the reader keeps the oldest). */
async function retry(fn: () => Promise<void>, attempts = 5): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 500 * i));
    }
  }
}

/** Seeds the campaign unless a complete one is there already; returns the seconds it took (0 when reused). */
async function seed(): Promise<number> {
  const t0 = performance.now();
  const experimentId = await mlflow.getOrCreateExperiment(experimentName(problemId));
  const existing = await mlflow.searchRuns({
    experimentIds: [experimentId],
    filter: `tags.\`${TAG.kind}\` = 'campaign'`,
  });
  if (existing.runs.some((r) => r.info.status === 'FINISHED')) return 0;
  // An interrupted seeding leaves an unfinished campaign: start over.
  for (const r of await mlflow.searchAllRuns({ experimentIds: [experimentId] }))
    await mlflow.deleteRun(r.info.runId);
  const start = Date.now() - 3600_000;
  const parent = await mlflow.createRun({
    experimentId,
    runName: campaignId,
    startTime: start,
    tags: {
      [TAG.kind]: 'campaign',
      [TAG.campaignId]: campaignId,
      [TAG.problemId]: problemId,
      [TAG.strategy]: 'random',
      [TAG.criteriaVersion]: '1',
    },
  });
  const ids = Array.from({ length: N + 1 }, (_, i) => i);
  await pool(ids, Number(process.env.GAPLAB_LINEAGE_SEED_CONCURRENCY ?? 4), async (i) =>
    retry(async () => {
      const id = i === 0 ? 'baseline' : `t${String(i).padStart(4, '0')}`;
      // A random tree: each trial builds on an earlier one.
      const parentTrial =
        i === 0
          ? ''
          : i < 4
            ? 'baseline'
            : `t${String(1 + ((i * 7919) % (i - 1))).padStart(4, '0')}`;
      const pgr = i === 0 ? 0 : ((i * 37) % 100) / 100;
      const run = await mlflow.createRun({
        experimentId,
        parentRunId: parent.info.runId,
        runName: `${id} idea ${i}`,
        startTime: start + i * 100,
        tags: {
          [TAG.kind]: 'trial',
          [TAG.trialKey]: `${campaignId}/${id}`,
          [TAG.campaignId]: campaignId,
          [TAG.problemId]: problemId,
          [TAG.trialId]: id,
          [TAG.trialKind]: i === 0 ? 'reference' : 'search',
          [TAG.parentTrialId]: parentTrial,
          [TAG.title]:
            i === 0 ? 'Baseline' : `Idea number ${i}: change the learning rate and the width`,
          [TAG.rationale]:
            'A rationale of typical length that explains why this change might help the objective.',
          [TAG.author]: i === 0 ? 'gaplab' : 'random',
          [TAG.authorKind]: i === 0 ? 'system' : 'strategy',
          [TAG.status]: 'succeeded',
          [TAG.flags]: i % 50 === 0 ? 'high_variance' : '',
          [TAG.hiddenMetrics]: 'heldout_score',
        },
      });
      await mlflow.logBatch(run.info.runId, {
        metrics: [
          { key: 'score', value: pgr * 10 },
          { key: 'heldout_score', value: pgr * 10 - 0.1 },
          { key: 'pgr', value: pgr },
          { key: 'pgr_ci_low', value: pgr - 0.05 },
          { key: 'pgr_ci_high', value: pgr + 0.05 },
          { key: 'compute_seconds', value: 1 },
          ...[0, 1, 2, 3, 4].map((s) => ({
            key: 'seed/score',
            value: pgr * 10 + s / 100,
            step: s,
          })),
        ],
        params: { x: (i % 10) / 10, y: -(i % 7), lr: 10 ** -(i % 5), gaplab_seeds: '1,2,3,4,5' },
      });
      // The trial's end is left out to halve the requests: the reader takes its status from gaplab.status.
    }),
  );
  await mlflow.updateRun(parent.info.runId, { status: 'FINISHED' });
  return performance.now() - t0;
}

beforeAll(async () => {
  mlflow = new MlflowClient({ trackingUri: inject('mlflowUri'), timeoutMs: 300_000 });
  const seedMs = await seed();
  console.log(
    seedMs
      ? `[lineage] seeded ${N} trial runs into MLflow in ${(seedMs / 1000).toFixed(1)} s`
      : `[lineage] reusing the ${N}-trial campaign in MLflow`,
  );
  server = await serve(false);
}, 1_800_000);
afterAll(async () => {
  await server?.close();
});

/** A server whose service knows no workflow (Temporal answers 404): everything comes from MLflow. */
function serve(snapshots: boolean): Promise<RunningServer> {
  return startServer({
    service: new FakeService(),
    mlflow,
    tokens: new TokenTable([{ token: TOKEN, name: 'Vic Viewer', role: 'viewer' }]),
    config: { port: 0, mlflowUri: inject('mlflowUri'), lineageSnapshots: snapshots },
    env: {},
    logger: false,
    print: () => {},
  });
}

async function timed(path: string): Promise<{ ms: number; body: unknown; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(`${server.url}/api${path}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const text = await res.text();
  const ms = performance.now() - t0;
  expect(res.status, text.slice(0, 500)).toBe(200);
  return { ms, body: JSON.parse(text), bytes: text.length };
}

describe(`lineage of a ${N}-trial campaign seeded straight into MLflow`, () => {
  it('comes back whole, with the tree intact, and fast once cached', async () => {
    const cold = await timed(`/campaigns/${campaignId}/lineage`);
    const lineage = Lineage.parse(cold.body);
    expect(lineage).toMatchObject({ source: 'mlflow', finished: true, total: N + 1, problemId });
    const ids = new Set(lineage.nodes.map((n) => n.id));
    for (const n of lineage.nodes) if (n.parentTrialId) expect(ids.has(n.parentTrialId)).toBe(true);
    expect(lineage.nodes.map((n) => n.index)).toEqual(lineage.nodes.map((_, i) => i));

    const warm: number[] = [];
    for (let i = 0; i < 5; i++) warm.push((await timed(`/campaigns/${campaignId}/lineage`)).ms);
    const page = await timed(`/campaigns/${campaignId}/trials?offset=${N + 1 - 100}&limit=100`);
    expect(TrialsPage.parse(page.body).trials.at(-1)?.id).toBe(`t${String(N).padStart(4, '0')}`);
    const detail = await timed(`/campaigns/${campaignId}/trials/t${String(N).padStart(4, '0')}`);
    const compare = await timed(`/problems/${problemId}/compare`);
    const median = [...warm].sort((a, b) => a - b)[2]!;

    // A campaign's end has its records snapshot written (recording.ts recordRecordsSnapshot, in
    // workflows/records-snapshot.ts); written here directly, a restarted server then reads the
    // snapshot instead of searching.
    const experimentId = (await mlflow.getExperimentByName(experimentName(problemId)))!
      .experimentId;
    const parentRunId = (
      await mlflow.searchRuns({
        experimentIds: [experimentId],
        filter: `tags.\`${TAG.kind}\` = 'campaign'`,
      })
    ).runs[0]!.info.runId;
    const written = await createRecordingActivities({ mlflow }).recordRecordsSnapshot({
      campaignId,
      experimentId,
      parentRunId,
    });
    expect(written.trials).toBe(N + 1);
    await server.close();
    server = await serve(true);
    const restarted = await timed(`/campaigns/${campaignId}/lineage`);
    expect(Lineage.parse(restarted.body).nodes).toEqual(lineage.nodes);
    console.log(
      `[lineage] ${N} trials: cold search ${cold.ms.toFixed(0)} ms (${(cold.bytes / 1e6).toFixed(2)} MB), ` +
        `cold from snapshot ${restarted.ms.toFixed(0)} ms, warm median ${median.toFixed(1)} ms, ` +
        `trials page ${page.ms.toFixed(1)} ms, trial detail ${detail.ms.toFixed(1)} ms, compare ${compare.ms.toFixed(1)} ms`,
    );
    // Speed is the benchmark's business (bench/ui-render.ts, the scale run); here only behaviour.
  }, 600_000);
});
