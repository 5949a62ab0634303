/**
 * Failure-aware search on the real stack (Temporal, a worker, the Optuna service): on Branin with
 * a crash region and a hang region (experiments/benchmarks/failing.ts), Optuna's later proposals
 * mostly avoid the regions once it has seen failures there, and a hang is stopped at the adaptive
 * timeout, below the experiment's own limit, once seeds have succeeded.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createStrategyActivities } from '../activities/strategies/index.js';
import { OptunaService } from '../stack/optuna-service.js';
import { ExperimentRegistry } from '../experiments/registry.js';
import { failingBranin, failingRegion } from '../experiments/benchmarks/failing.js';
import { renderReportMarkdown } from '../domain/report.js';
import type { TrialSummary } from '../workflows/types.js';
import { hartmann6Problem, simulateSearch } from '../bench/strategy-quality.js';
import { createTestEnv, pi, uniqueId, type TestEnv } from './support/env.js';
import { eventually } from './support/eventually.js';

const DIR = new URL('../experiments/benchmarks/', import.meta.url);
let env: TestEnv;
let spec: Record<string, unknown>;
let criteria: Record<string, unknown>;

beforeAll(async () => {
  env = await createTestEnv({ registry: ExperimentRegistry.of(failingBranin) });
  spec = parseYaml(await readFile(new URL('branin-failures.problem.yaml', DIR), 'utf8')) as Record<
    string,
    unknown
  >;
  criteria = parseYaml(
    await readFile(new URL('branin-failures.criteria.yaml', DIR), 'utf8'),
  ) as Record<string, unknown>;
});
afterAll(async () => {
  await env?.close();
});

async function problem(overrides: { spec?: object; criteria?: object } = {}): Promise<string> {
  const id = uniqueId('fail');
  await env.service.submitProblem(pi, { ...spec, ...overrides.spec, id });
  await env.service.setCriteria(pi, id, { ...criteria, ...overrides.criteria }, 'test');
  return id;
}

const search = (trials: TrialSummary[]) =>
  trials.filter((t) => t.kind === 'search').sort((a, b) => a.index - b.index);
const inRegion = (t: TrialSummary) => failingRegion(t.params as { x1: number; x2: number });

describe('failure-aware search on a problem with a crash and a hang region', () => {
  it('Optuna (TPE) mostly avoids the failing regions after its first failures there', async () => {
    const problemId = await problem({ criteria: { budgets: { maxTrials: 40, concurrency: 1 } } });
    const { campaignId } = await env.service.startCampaign(pi, {
      problemId,
      strategy: { name: 'optuna', settings: { sampler: 'tpe' } },
      seed: 11,
    });
    const report = await env.service.result(campaignId);
    expect(report.stopReason).toBe('max_trials');
    const trials = search((await env.service.trials(campaignId, { limit: 1000 })).trials);
    expect(trials).toHaveLength(40);
    // The ground truth and the campaign agree: a trial fails exactly when it is in a region.
    for (const t of trials) expect(t.status === 'failed').toBe(inRegion(t) !== null);

    const early = trials.slice(0, 15).filter(inRegion).length;
    const late = trials.slice(15).filter(inRegion);
    // TPE starts with random samples, which land in the regions (26% of the space) too ...
    expect(early).toBeGreaterThan(0);
    // ... then it learns: uniform sampling would put about 6.6 of the 25 later trials there, TPE
    // told failures as FAIL (`onFailure: 'ignore'`) about 13, on average over 20 seeds
    // (bench/failures.ts).
    expect(late.length, late.map((t) => JSON.stringify(t.params)).join(' ')).toBeLessThanOrEqual(6);

    // The report says what failures cost and where they repeat.
    const failures = report.failures!;
    expect(failures.failedTrials).toBe(trials.filter((t) => t.status === 'failed').length);
    expect(failures.computeSeconds).toBeCloseTo(
      trials.filter((t) => t.status === 'failed').reduce((s, t) => s + t.computeSeconds, 0),
      2,
    );
    expect(failures.totalComputeSeconds).toBeGreaterThanOrEqual(failures.computeSeconds);
    for (const region of failures.regions) {
      expect(region.trials).toBeGreaterThanOrEqual(2);
      // a timeout region lies in the hang region, a crash region in the crash region
      const x1 = region.ranges.x1 as { low: number; high: number };
      const x2 = region.ranges.x2 as { low: number; high: number };
      if (region.kind === 'timeout') expect(x1.high).toBeLessThan(-2.75);
      else expect(x2.low).toBeGreaterThan(13);
    }
    if (failures.failedTrials > 0) expect(renderReportMarkdown(report)).toContain('## Failures');
  });

  it('stops a hang at the adaptive timeout, below the experiment limit, once seeds succeeded', async () => {
    // Random search over a space where hanging is rare (x1 < -2.75 is 2% of it), so that seeds
    // succeed first; then a PI's hypothesis in the hang region runs.
    const problemId = await problem({
      spec: {
        space: [
          { name: 'x1', kind: 'float', low: -3, high: 10 },
          { name: 'x2', kind: 'float', low: 0, high: 12.9 },
        ],
      },
      criteria: { budgets: { maxTrials: 400, concurrency: 1 } },
    });
    const { campaignId } = await env.service.startCampaign(pi, {
      problemId,
      strategy: { name: 'random' },
      seed: 5,
    });
    const ok = await eventually(async () => {
      const { trials } = await env.service.trials(campaignId, { limit: 1000 });
      return trials.filter((t) => t.status === 'succeeded').length >= 6 ? trials : null;
    });
    const { hypothesisId } = await env.service.inject(pi, campaignId, {
      title: 'hang on purpose',
      rationale: 'x1 below -2.75 stalls',
      parentTrialId: null,
      changes: { x1: -2.9, x2: 5 },
    });
    const hang = await eventually(async () => {
      const { trials } = await env.service.trials(campaignId, { limit: 1000 });
      return trials.find((t) => t.hypothesisId === hypothesisId);
    }, 120_000);
    await env.service.stop(pi, campaignId, { reason: 'test done' });
    const report = await env.service.result(campaignId);

    const limit = failingBranin.defaultTimeoutSeconds;
    const first = search(ok)[0]!;
    expect(first.timeoutSeconds).toBe(limit);
    expect(hang.status).toBe('failed');
    expect(hang.timeoutSeconds).toBeDefined();
    expect(hang.timeoutSeconds!).toBeLessThan(limit);
    expect(hang.failureReason).toContain(`timed out after ${hang.timeoutSeconds} s`);
    expect(report.failures!.timedOutTrials).toBeGreaterThanOrEqual(1);
  });
});

describe('what failure-awareness leaves alone', () => {
  const optuna = new OptunaService();
  const acts = createStrategyActivities({ optuna });
  afterAll(() => optuna.close());

  it('TPE proposes exactly as before on a problem where nothing fails (search quality is unchanged)', async () => {
    const problem = hartmann6Problem();
    const run = (onFailure: 'avoid' | 'ignore') =>
      simulateSearch(acts, problem, {
        strategy: { name: 'optuna', settings: { sampler: 'tpe', onFailure } },
        seed: 3,
        budget: 24,
        batch: 4,
      });
    const now = await run('avoid');
    expect(now).toHaveLength(24);
    expect(now).toEqual(await run('ignore'));
  });
});
