/**
 * Scoring a verification run on the campaign state alone: the fresh-seed PGR is the paired gain
 * over the baseline's re-run on the same seeds, divided by the gap from that re-run's mean to the
 * optimum, so a baseline that scores lower on the fresh seeds than on the search seeds does not
 * push an honest result at the optimum past it.
 */
import { describe, expect, it } from 'vitest';
import { campaignInput, quadCriteria } from '../../../test/support/quadratic.js';
import { carriedOf, searchingState } from '../../../test/support/searching-state.js';
import type { SeedResult } from '../../../domain/schemas.js';
import type { CampaignState } from './campaign-state.js';
import type { TrialRequest } from './requests.js';

const seedResults = (seeds: readonly number[], scores: readonly number[]): SeedResult[] =>
  seeds.map((seed, i) => ({
    seed,
    status: 'succeeded' as const,
    metrics: { score: scores[i]! },
    durationSeconds: 1,
  }));

const T0 = '2026-01-01T00:00:00Z';

/**
 * A campaign (baseline -40, optimum 10, 4 seeds a trial) with one search trial scoring
 * `search` on its seeds, then verified on 4 fresh seeds where the baseline's re-run scores
 * `freshBaseline` and the trial `fresh`. With `measuredBaseline`, the baseline was measured on
 * the search seeds with those scores (and the search trial is paired with it seed by seed).
 */
function verify(
  search: number[],
  freshBaseline: number[],
  fresh: number[],
  measuredBaseline?: number[],
): { state: CampaignState; verification: ReturnType<typeof carriedOf>['verification'][number] } {
  const state = searchingState(
    campaignInput({
      criteria: quadCriteria({
        seedsPerTrial: 4,
        budgets: { maxTrials: 10 },
        verification: { topK: 1, seeds: 4 },
        ...(measuredBaseline
          ? { baseline: { kind: 'measure', configuration: 'baseline', seeds: 4 } }
          : {}),
      }),
    }),
  );
  if (measuredBaseline) {
    const seeds = state.references.seeds(4);
    const mean = measuredBaseline.reduce((a, x) => a + x, 0) / measuredBaseline.length;
    carriedOf(state).references.baseline = {
      score: { mean, stderr: 0.02, n: 4 },
      metrics: { score: mean },
      bySeed: { seeds, values: { score: measuredBaseline } },
    };
  }
  state.proposals.accept(
    {
      proposals: [
        { title: 'x=1', rationale: '', parentTrialId: null, changes: { x: 1 }, expectedEffect: '' },
      ],
      dropped: [],
      notes: [],
      dollars: 0,
      authors: ['random'],
    },
    0,
  );
  const req = state.queue.nextTrialRequest()!;
  if (measuredBaseline) expect(req.seeds).toEqual(state.references.seeds(4));
  state.trials.finish(req, seedResults(req.seeds, search), T0, T0);
  state.verification.useSeeds(req, [101, 102, 103, 104]);
  const [v] = state.verification.finalRequests();
  expect(v, 'a final verification of the search trial').toBeDefined();
  const b = state.verification.freshBaselineRequest()!;
  const baselineTrial = state.trials.finish(b, seedResults(b.seeds, freshBaseline), T0, T0);
  state.references.setFreshBaseline(baselineTrial, seedResults(b.seeds, freshBaseline));
  const verifying = v as TrialRequest;
  const trial = state.trials.finish(verifying, seedResults(verifying.seeds, fresh), T0, T0);
  state.verification.add(verifying, trial, seedResults(verifying.seeds, fresh));
  return { state, verification: carriedOf(state).verification.at(-1)! };
}

describe('a verification scored on the fresh seeds', () => {
  it('judges "beyond the optimum" on the fresh seeds’ own gap: a result at the optimum is not beyond it', () => {
    // The baseline scores 20 lower on the fresh seeds: the trial's gain there is 70, 1.4 of the
    // search gap (50) but 1.0 of the fresh seeds' gap (70).
    const { verification } = verify([9.9, 10, 10.1, 10], [-61, -59, -60, -60], [9.9, 10.1, 10, 10]);
    expect(verification.freshPgr!.mean).toBeCloseTo(70 / 50, 6);
    expect(verification.verdict, (verification.reasons ?? []).join('; ')).toBe('verified');
    expect(verification.gapFlag).toBe(false);
  });

  it('still fails a fresh result clearly past the optimum on the fresh seeds’ own gap', () => {
    const { verification } = verify([9.9, 10, 10.1, 10], [-61, -59, -60, -60], [29, 31, 30, 30]);
    // (30 + 60) / 70 = 1.29 of the fresh gap.
    expect(verification.verdict).toBe('failed_verification');
    expect((verification.reasons ?? []).join('; ')).toMatch(
      /fresh seeds: PGR 1\.8.* \(1\.28\d* of the fresh seeds' gap\) is beyond the optimum/,
    );
  });

  it('keeps the search gap when the fresh baseline is far off (a fresh gap over twice it)', () => {
    // Fresh baseline at -100: a fresh gap of 110 against the search gap of 50. Past the optimum
    // on the search gap (2.2), and not excused by a baseline that far from its search result.
    const { verification } = verify(
      [9.9, 10, 10.1, 10],
      [-101, -99, -100, -100],
      [9.9, 10.1, 10, 10],
    );
    expect(verification.verdict).toBe('failed_verification');
    expect((verification.reasons ?? []).join('; ')).toMatch(
      /fresh seeds: PGR 2\.2.* is beyond the optimum/,
    );
  });

  it('a result with no seed noise of its own holds up exactly, whatever the baseline’s seed noise', () => {
    // Every configuration shares the seed's noise (as the quadratic bowl's does): the gain over
    // the baseline is 30 on every seed, search and fresh, while the baseline's own mean moves.
    const noise = [0.04, -0.03, 0.01, -0.05];
    const fresh = [-0.02, 0.05, 0.03, -0.01];
    const { verification } = verify(
      noise.map((n) => -10 + n),
      fresh.map((n) => -40 + n),
      fresh.map((n) => -10 + n),
      noise.map((n) => -40 + n),
    );
    // 30 over the search gap, from the baseline measured on the search seeds (-40.0075).
    expect(verification.freshPgr!.mean).toBeCloseTo(30 / 50.0075, 12);
    expect(verification.verdict, (verification.reasons ?? []).join('; ')).toBe('verified');
  });
});
