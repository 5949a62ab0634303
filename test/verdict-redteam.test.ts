/**
 * Red-team campaigns against the verdict, each on a real worker with real Temporal and MLflow:
 * one gamed hypothesis (experiments/gaming) is the only search trial, injected by a person into
 * a campaign started paused, and every campaign must end with a verdict that is not `verified`.
 *
 * - `gaming-fragile`: near-optimal on its search seeds, raises on 80% of the seeds it has not
 *   seen: a verification counting only the seeds that survived would pass it;
 * - `gaming-guess`: takes seeds from 1,000,000 up for verification and raises on all of those
 *   but the first: search seeds cover that range too, and verification seeds are drawn in secret
 *   (docs/decisions/0005-verification-seeds-drawn-in-secret.md);
 * - `gaming-nohidden`: never reports the hidden metric;
 * - `gaming-deterministic`: a memorised answer a little above the baseline, identical on every
 *   seed of an experiment with no seed noise: fresh seeds cannot test it, and it does not clear
 *   the absolute standard-error floor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import gaming from '../experiments/gaming/experiment.js';
import { ExperimentRegistry } from '../experiments/registry.js';
import { verdictLabel } from '../domain/verdict.js';
import { renderReportMarkdown } from '../domain/report.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ registry: ExperimentRegistry.of(...gaming) });
});
afterAll(async () => {
  await env?.close();
});

async function redTeam(experiment: string, trick: string) {
  const problemId = uniqueId(experiment);
  await env.service.submitProblem(researcher, {
    id: problemId,
    title: `red team: ${experiment}`,
    question: 'Does the trick hold up?',
    experiment,
    space: [
      { name: 'x', kind: 'float', low: 0, high: 1 },
      { name: trick, kind: 'boolean' },
    ],
    baseline: { x: 0, [trick]: false },
  });
  await env.service.setCriteria(pi, problemId, {
    metric: 'score',
    direction: 'maximize',
    baseline: { kind: 'measure', configuration: 'baseline', seeds: 3 },
    optimum: { kind: 'value', value: 1 },
    seedsPerTrial: 3,
    hiddenMetrics: ['heldout_score'],
    targetPgr: 0.05,
    budgets: { maxTrials: 1, concurrency: 6, maxWallSeconds: 600 },
    // The PI asks for 2 verification seeds; the claim needs at least 5 (verificationSeedCount).
    verification: { topK: 1, seeds: 2 },
  });
  const { campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 7,
    paused: true,
  });
  await env.service.inject(pi, campaignId, {
    title: 'switch on the trick',
    changes: { x: 0, [trick]: true },
  });
  await env.service.resume(pi, campaignId);
  const report = await env.service.result(campaignId);
  const { trials } = await env.service.trials(campaignId, { limit: 100 });
  return { report, trials };
}

describe('red-team candidates never end verified', () => {
  it('fails on most unseen seeds: failed verification, with the seed counts', async () => {
    const { report, trials } = await redTeam('gaming-fragile', 'fragile');
    const v = report.verification.find((x) => x.trialId === 't0001');
    expect(v?.verdict).toBe('failed_verification');
    expect(v?.checks?.seeds).toMatchObject({ requested: 5, source: 'secret' });
    expect(v?.checks?.seeds?.failed).toBeGreaterThan(0);
    expect(v?.reasons?.[0]).toMatch(/of 5 verification seeds succeeded \(\d failed/);
    // Secret seeds: none of them is a search seed, and none lies near the campaign seed.
    const search = trials.find((t) => t.id === 't0001')!;
    for (const s of v!.checks!.seeds!.seeds!) {
      expect(search.seeds).not.toContain(s);
      expect(Math.abs(s - 7 - 1_000_003)).toBeGreaterThan(100);
    }
    expect(report.verdict?.verdict).not.toBe('verified');
    expect(search.flags.map((f) => f.kind)).toContain('verification_gap');
  });

  it('guesses verification by the seed range: its search runs on such seeds too and fails', async () => {
    const { report, trials } = await redTeam('gaming-guess', 'guess');
    const t = trials.find((x) => x.id === 't0001')!;
    // Search seeds are spread over the 31-bit range like verification seeds.
    expect(t.seeds.filter((s) => s >= 1_000_000).length).toBeGreaterThanOrEqual(2);
    expect(t.trust).not.toBe('eligible');
    expect(report.verdict?.verdict).not.toBe('verified');
  });

  it('never reports the hidden metric: failed verification naming it', async () => {
    const { report } = await redTeam('gaming-nohidden', 'drop');
    const v = report.verification.find((x) => x.trialId === 't0001');
    expect(v?.verdict).toBe('failed_verification');
    expect(v?.reasons?.join(' ')).toMatch(
      /hidden metric "heldout_score" is missing or not finite on 5 of 5/,
    );
    // Flagged, so no longer best: the report has no verified best.
    expect(report.verdict?.verdict).not.toBe('verified');
    expect(report.underReview?.map((u) => u.trialId)).toContain('t0001');
  });

  it('a seed-insensitive memoriser: fresh seeds could not test it, held up but not significant', async () => {
    const { report } = await redTeam('gaming-deterministic', 'memo');
    const v = report.verdict!;
    expect(v.trialId).toBe('t0001');
    expect(v.checks?.seedInsensitive).toBe(true);
    expect(v.verdict).toBe('held_up_not_significant');
    expect(verdictLabel(v).text).toBe('held up, not significant');
    // Its intervals have width: the 5%-of-gap floor applies.
    expect(v.freshPgr!.ciHigh - v.freshPgr!.ciLow).toBeGreaterThan(0.2);
    expect(report.stopReason).not.toBe('target_verified');
    const md = renderReportMarkdown(report);
    expect(md).toContain('fresh seeds could not test the result');
    expect(md).toContain('**Verdict: held up, not significant.**');
  });
});
