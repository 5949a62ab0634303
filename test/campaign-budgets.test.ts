/** Each budget kind, on its own, stops a campaign without starting work beyond it. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quadraticSpec, slowQuadraticSpec, testRegistry } from './support/quadratic.js';
import { createTestEnv, researcher, submitQuadratic, type TestEnv } from './support/env.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ registry: testRegistry() });
});
afterAll(async () => {
  await env?.close();
});

/** A slow variant: every seed sleeps 300-400 ms. */
const slowSpec = slowQuadraticSpec([300, 400]);

async function run(
  criteria: Record<string, unknown>,
  spec: Record<string, unknown> = quadraticSpec,
) {
  const problemId = await submitQuadratic(env.service, {
    prefix: 'budget',
    spec,
    criteria: { verification: { topK: 0, seeds: 1 }, ...criteria },
  });
  const { campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 11,
  });
  const report = await env.service.result(campaignId);
  const { trials } = await env.service.trials(campaignId, { kind: 'search', limit: 1000 });
  return { report, trials, campaignId };
}

describe('budgets', () => {
  it('max iterations: stops after exactly N strategy calls', async () => {
    const { report } = await run({
      seedsPerTrial: 1,
      budgets: { maxIterations: 3, concurrency: 2 },
    });
    expect(report.stopReason).toBe('max_iterations');
    expect(report.ledger.iterations).toBe(3);
    expect(report.trials.total).toBeGreaterThan(0);
  });

  it('max compute-seconds: no trial starts once the compute budget is spent', async () => {
    const { report, trials } = await run(
      { seedsPerTrial: 1, budgets: { maxComputeSeconds: 2, concurrency: 2 } },
      slowSpec,
    );
    expect(report.stopReason).toBe('max_compute');
    expect(report.ledger.computeSeconds).toBeGreaterThanOrEqual(2);
    // Every search trial started while the compute used so far (by trials finished before it
    // started, plus the baseline) was under budget.
    const baselineCompute =
      report.ledger.computeSeconds - trials.reduce((s, t) => s + t.computeSeconds, 0);
    const ran = trials.filter((t) => t.status !== 'cancelled');
    // Trials queued behind the slots when the budget ran out do not run: they end cancelled, with the reason.
    for (const t of trials.filter((x) => x.status === 'cancelled'))
      expect(t.failureReason ?? '').toMatch(/not run|cancelled/);
    for (const t of ran) {
      const before = trials
        .filter((o) => o.finishedAt < t.startedAt)
        .reduce((s, o) => s + o.computeSeconds, baselineCompute);
      expect(before).toBeLessThan(2);
    }
  });

  it('wall-clock deadline: a durable timer stops the campaign and cancels running trials', async () => {
    const { report } = await run(
      { seedsPerTrial: 1, budgets: { maxWallSeconds: 3, concurrency: 2 } },
      slowSpec,
    );
    expect(report.stopReason).toBe('deadline');
    expect(Date.parse(report.finishedAt) - Date.parse(report.startedAt)).toBeGreaterThanOrEqual(
      3000,
    );
  });

  it('target PGR: stops once the best lower bound reaches the target and its verification holds', async () => {
    const { report } = await run({ targetPgr: 0.5, budgets: { maxTrials: 200, concurrency: 2 } });
    expect(report.stopReason).toBe('target_verified');
    expect(report.verification.find((v) => v.trialId === report.best!.id)?.verdict).toBe(
      'verified',
    );
    expect(report.best!.pgr!.ciLow).toBeGreaterThanOrEqual(0.5);
    expect(report.trials.total).toBeLessThan(200);
  });

  it('stagnation: stops when the best lower bound stops improving', async () => {
    const { report } = await run({
      stagnation: { iterations: 2, minImprovement: 5 },
      budgets: { maxTrials: 200, concurrency: 2 },
    });
    expect(report.stopReason).toBe('stagnation');
    expect(report.trials.total).toBeLessThan(200);
  });

  it('max trials with concurrency: never starts more than the budget', async () => {
    const { report, trials } = await run({
      seedsPerTrial: 1,
      budgets: { maxTrials: 5, concurrency: 4 },
    });
    expect(report.stopReason).toBe('max_trials');
    expect(trials).toHaveLength(5);
    expect(report.ledger.trialsStarted).toBe(5);
  });
});
