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
 * `freshBaseline` and the trial `fresh`.
 */
function verify(
  search: number[],
  freshBaseline: number[],
  fresh: number[],
): { state: CampaignState; verification: ReturnType<typeof carriedOf>['verification'][number] } {
  const state = searchingState(
    campaignInput({
      criteria: quadCriteria({
        seedsPerTrial: 4,
        budgets: { maxTrials: 10 },
        verification: { topK: 1, seeds: 4 },
      }),
    }),
  );
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
  it('divides the paired gain by the fresh seeds’ own gap: a result at the optimum is not beyond it', () => {
    // The baseline scores 20 lower on the fresh seeds: the trial's gain there is 70, on a fresh
    // gap of 70 (1.0), which on the search gap of 50 would read 1.4, "beyond the optimum".
    const { verification } = verify([9.9, 10, 10.1, 10], [-61, -59, -60, -60], [9.9, 10.1, 10, 10]);
    expect(verification.freshPgr!.mean).toBeCloseTo(1, 6);
    expect(verification.verdict, (verification.reasons ?? []).join('; ')).toBe('verified');
    expect(verification.gapFlag).toBe(false);
  });

  it('still fails a fresh result clearly past the optimum on the fresh seeds’ own gap', () => {
    const { verification } = verify([9.9, 10, 10.1, 10], [-61, -59, -60, -60], [29, 31, 30, 30]);
    // (30 + 60) / 70 = 1.29 of the fresh gap.
    expect(verification.freshPgr!.mean).toBeCloseTo(90 / 70, 6);
    expect(verification.verdict).toBe('failed_verification');
    expect((verification.reasons ?? []).join('; ')).toMatch(
      /fresh seeds: PGR 1\.28.* beyond the optimum/,
    );
  });

  it('keeps the search gap when the fresh baseline is far off (a fresh gap under half of it)', () => {
    // Fresh baseline at -10: a fresh gap of 20 against the search gap of 50.
    const { verification } = verify([9.9, 10, 10.1, 10], [-11, -9, -10, -10], [9.9, 10.1, 10, 10]);
    expect(verification.freshPgr!.mean).toBeCloseTo(20 / 50, 6);
  });
});
