/**
 * Short seeds run several to a slot, and trial records go several to an activity
 * (domain/batches.ts, workflows/campaign/runner.ts), on a real worker, Temporal and MLflow:
 * the slots stay within the campaign's concurrency, the trial budget is exact, and every trial
 * is recorded exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAG, experimentName } from '../records/names.js';
import {
  COMPRESS_ABOVE_BYTES,
  COMPRESSED_ENCODING,
  decodePayload,
} from '../temporal/data-converter.js';
import {
  holdSeedMidBatch,
  slowQuadraticSpec,
  quadraticCriteria,
  testRegistry,
} from './support/quadratic.js';
import { createTestEnv, researcher, pi, uniqueId, type TestEnv } from './support/env.js';
import { eventually } from './support/eventually.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ registry: testRegistry() });
});
afterAll(async () => {
  await env?.close();
});

interface Batch {
  jobs: { trialId: string; seed: number }[];
  results: { status: string }[];
  timings: { startedMs: number; endedMs: number }[];
}

/** The campaign's experiment and recording activities, decoded from its history. */
async function activities(campaignId: string) {
  const history = await env.client.workflow.getHandle(campaignId).fetchHistory();
  const scheduled = new Map<string, { type: string; input: unknown }>();
  const batches: Batch[] = [];
  const single: string[] = [];
  const recordBatches: number[] = [];
  let recordSingles = 0;
  // How the payloads are stored: compressed above COMPRESS_ABOVE_BYTES (temporal/data-converter.ts).
  const stored = { compressed: 0, largestPlain: 0 };
  const decode = (p: { payloads?: unknown[] | null } | null | undefined): Promise<unknown> => {
    const first = p?.payloads?.[0] as
      { metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null } | undefined;
    if (!first) return Promise.resolve(undefined);
    const encoding = Buffer.from(first.metadata?.encoding ?? []).toString();
    if (encoding === COMPRESSED_ENCODING) stored.compressed++;
    else stored.largestPlain = Math.max(stored.largestPlain, first.data?.length ?? 0);
    return decodePayload(first as never);
  };
  for (const e of history.events ?? []) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      scheduled.set(String(e.eventId), {
        type: s.activityType?.name ?? '',
        input: await decode(s.input),
      });
      continue;
    }
    const c = e.activityTaskCompletedEventAttributes;
    if (!c) continue;
    const a = scheduled.get(String(c.scheduledEventId));
    if (!a) continue;
    if (a.type === 'runExperimentSeeds') {
      const out = (await decode(c.result)) as Omit<Batch, 'jobs'>;
      batches.push({ jobs: (a.input as Pick<Batch, 'jobs'>).jobs, ...out });
    } else if (a.type === 'runExperimentSeed') {
      const job = a.input as { trialId: string; seed: number };
      single.push(`${job.trialId}/${job.seed}`);
    } else if (a.type === 'recordTrials')
      recordBatches.push((a.input as { items: unknown[] }).items.length);
    else if (a.type === 'recordTrial') recordSingles++;
  }
  return { batches, single, recordBatches, recordSingles, stored };
}

/** Most seeds running at once, by the worker's clock. */
function peakConcurrency(batches: Batch[]): number {
  const edges = batches
    .flatMap((b) => b.timings.filter((t) => t.startedMs > 0))
    .flatMap((t) => [
      { at: t.startedMs, d: 1 },
      { at: t.endedMs, d: -1 },
    ])
    // An end and a start at the same millisecond: the end first.
    .sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let peak = 0;
  for (const e of edges) peak = Math.max(peak, (now += e.d));
  return peak;
}

describe('batched seeds and records', () => {
  it('a random search of short seeds runs them several to a slot, within its concurrency, each trial recorded once', async () => {
    const id = uniqueId('batch');
    // Seeds of 20-40 ms: well under the batch target, so batches fill up.
    await env.service.submitProblem(researcher, { ...slowQuadraticSpec([20, 40], 20), id });
    await env.service.setCriteria(
      pi,
      id,
      { ...quadraticCriteria, seedsPerTrial: 2, budgets: { maxTrials: 60, concurrency: 3 } },
      'test',
    );
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId: id,
      strategy: { name: 'random' },
      seed: 3,
    });
    const report = await env.service.result(campaignId);
    expect(report.stopReason).toBe('max_trials');
    expect(report.trials.total).toBe(60);

    const { batches, single, recordBatches, recordSingles, stored } = await activities(campaignId);
    // The large payloads (strategy views, batches of records) are stored compressed; the rest,
    // readable in Temporal's UI, stay under the threshold.
    expect(stored.compressed).toBeGreaterThan(0);
    expect(stored.largestPlain).toBeLessThanOrEqual(COMPRESS_ABOVE_BYTES);
    // Until five seeds have succeeded there is nothing to size a batch by: those run alone.
    expect(batches.length).toBeGreaterThan(0);
    expect(Math.max(...batches.map((b) => b.jobs.length))).toBeGreaterThan(1);
    const batchedSeeds = batches.reduce((s, b) => s + b.jobs.length, 0);
    expect(batchedSeeds).toBeGreaterThan(single.length);
    // Every search seed ran exactly once, batched or alone: 60 trials x 2 seeds.
    const searchSeeds = [
      ...batches.flatMap((b) => b.jobs.map((j) => `${j.trialId}/${j.seed}`)),
      ...single.filter((t) => /^t\d+\//.test(t)),
    ];
    expect(searchSeeds).toHaveLength(120);
    expect(new Set(searchSeeds).size).toBe(120);
    expect(batches.every((b) => b.jobs.every((j) => /^t\d+$/.test(j.trialId)))).toBe(true);
    expect(batches.every((b) => b.results.every((r) => r.status === 'succeeded'))).toBe(true);
    // A batch runs its seeds one after another in one slot: never more than 3 seeds at once.
    expect(peakConcurrency(batches)).toBeLessThanOrEqual(3);

    // Records: several trials per activity; every trial (search, references, verification
    // re-runs) once in MLflow.
    const { trials } = await env.service.trials(campaignId, { limit: 1000 });
    expect(trials.filter((t) => t.kind === 'search')).toHaveLength(60);
    const all = trials.length;
    expect(recordSingles).toBe(0);
    expect(Math.max(...recordBatches)).toBeGreaterThan(1);
    expect(recordBatches.reduce((s, n) => s + n, 0)).toBe(all);
    const experimentId = (await env.mlflow.getExperimentByName(experimentName(id)))!.experimentId;
    const runs = await env.mlflow.searchAllRuns({
      experimentIds: [experimentId],
      filter: `tags.\`${TAG.campaignId}\` = '${campaignId}' and tags.\`${TAG.kind}\` = 'trial'`,
    });
    const keys = runs.map((r) => r.data.tags[TAG.trialKey]);
    expect(runs).toHaveLength(all);
    expect(new Set(keys).size).toBe(all);
    expect(runs.every((r) => r.info.status === 'FINISHED')).toBe(true);
  });

  it('a stop that cancels a running batch keeps the results of the trials it had finished', async () => {
    const id = uniqueId('batch-stop');
    await env.service.submitProblem(researcher, { ...slowQuadraticSpec([20, 60]), id });
    await env.service.setCriteria(pi, id, {
      ...quadraticCriteria,
      seedsPerTrial: 2,
      budgets: { maxTrials: 500, concurrency: 2 },
      verification: { topK: 0, seeds: 1 },
    });
    // A seed that starts a trial after a whole trial ran in the same batch waits: the stop
    // then provably cancels a batch with finished trials in it.
    const hold = holdSeedMidBatch(2);
    try {
      const { campaignId } = await env.service.startCampaign(researcher, {
        problemId: id,
        strategy: { name: 'random' },
        seed: 4,
      });
      await eventually(async () => hold.held, 120_000, 50);
      await env.service.stop(pi, campaignId, { reason: 'enough', cancelRunning: true });
      const report = await env.service.result(campaignId);
      expect(report.stopReason).toBe('stopped_by_pi');
      const { trials } = await env.service.trials(campaignId, { kind: 'search', limit: 1000 });
      expect(hold.paramsBefore.length).toBeGreaterThanOrEqual(1);
      for (const p of hold.paramsBefore) {
        const trial = trials.find((t) => t.params.x === p.x && t.params.y === p.y);
        const t = JSON.stringify(p);
        expect(trial?.status, t).toBe('succeeded');
        expect(trial?.objective?.n, t).toBe(2);
        expect(trial?.pgr?.mean, t).toBeTypeOf('number');
      }
      // The trial whose seed was running when the batch was cancelled is cancelled.
      expect(trials.some((t) => t.status === 'cancelled')).toBe(true);
      expect(report.trials.succeeded).toBe(trials.filter((t) => t.status === 'succeeded').length);
    } finally {
      hold.release();
    }
  });
});
