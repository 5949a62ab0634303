import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatEstimate, formatExact } from './format.js';
import type { Estimate } from './schemas.js';
import { estimate, UNBOUNDED } from './stats.js';
import {
  hiddenScales,
  judgeVerification,
  verdictLabel,
  verificationSeedCount,
  type JudgeInput,
  type SeedAccount,
} from './verdict.js';

const est = (mean: number, half = 0.04, n = 5): Estimate => ({
  mean,
  stderr: half / 2.78,
  n,
  ciLow: mean - half,
  ciHigh: mean + half,
});
const seeds = (over: Partial<SeedAccount> = {}): SeedAccount => ({
  requested: 5,
  succeeded: 5,
  failed: 0,
  cancelled: 0,
  source: 'secret',
  ...over,
});
const search = est(0.9, 0.05);
const ok: JudgeInput = {
  searchPgr: search,
  freshPgr: est(0.9),
  hiddenPgr: { h: est(0.88) },
  seeds: seeds(),
  targetPgr: 0.8,
};

describe('judgeVerification', () => {
  it("holds a fresh mean to the search result within both results' noise, not the search interval alone", () => {
    // The CI case: search 0.976 [0.941, 1.011], fresh 0.938 on 5 seeds with the same spread. The
    // fresh mean is below the search interval, but within the two results' combined uncertainty.
    const searchPgr = est(0.976, 0.035);
    const j = judgeVerification({
      ...ok,
      searchPgr,
      freshPgr: est(0.938, 0.035),
      hiddenPgr: { h: est(0.95, 0.035) },
    });
    expect(j.verdict).toBe('verified');
    // Clearly below (a memoriser back at the baseline on fresh seeds): failed, with the limit.
    const gamed = judgeVerification({ ...ok, searchPgr, freshPgr: est(0.1, 0.035) });
    expect(gamed.verdict).toBe('failed_verification');
    expect(gamed.reasons.join(' ')).toMatch(
      /fresh seeds: PGR 0\.1\d* .* is below the search result .* by more than their combined uncertainty \(lowest agreeing mean 0\.92\d*\)/,
    );
  });

  it('is verified when every seed succeeded, results agree and lower bounds clear the baseline', () => {
    const j = judgeVerification(ok);
    expect(j.verdict).toBe('verified');
    expect(j.checks).toMatchObject({ heldUp: true, realImprovement: true, metTarget: true });
    expect(j.flags).toEqual([]);
  });

  it('holds up at the optimum: a fresh mean past 1 + margin whose interval still reaches 1', () => {
    // An honest method at the optimum (search 1.02) drew fresh seeds that landed at 1.106.
    const j = judgeVerification({
      ...ok,
      searchPgr: est(1.02, 0.06),
      freshPgr: { mean: 1.106, stderr: 0.049, n: 5, ciLow: 0.969, ciHigh: 1.242 },
      hiddenPgr: {},
    });
    expect(j.flags).toEqual([]);
    expect(j.checks.heldUp).toBe(true);
    expect(j.verdict).toBe('verified');
  });

  it('is beyond the optimum when the whole fresh interval is past it', () => {
    const j = judgeVerification({
      ...ok,
      searchPgr: est(1.3, 0.05),
      freshPgr: est(1.3, 0.05),
      hiddenPgr: {},
    });
    expect(j.flags.map((f) => f.kind)).toEqual(['verification_gap']);
    expect(j.flags[0]!.message).toMatch(/fresh seeds: PGR .* is beyond the optimum/);
    expect(j.verdict).toBe('failed_verification');
  });

  it('fails when one seed of five failed, and says the counts', () => {
    const j = judgeVerification({ ...ok, seeds: seeds({ succeeded: 4, failed: 1 }) });
    expect(j.verdict).toBe('failed_verification');
    expect(j.reasons[0]).toMatch(
      /4 of 5 verification seeds succeeded \(1 failed, 0 cancelled, 0 missing\)/,
    );
    expect(j.flags[0]?.kind).toBe('verification_gap');
  });

  it('fails when a cascade pruned a fresh seed, counting it as pruned, not missing', () => {
    const j = judgeVerification({
      ...ok,
      seeds: seeds({ succeeded: 3, pruned: 2 }),
      failure: 'pruned at stage 1 (score 0.412)',
    });
    expect(j.verdict).toBe('failed_verification');
    expect(j.reasons[0]).toBe(
      '3 of 5 verification seeds succeeded (0 failed, 2 pruned by the cascade, 0 cancelled, 0 missing): pruned at stage 1 (score 0.412)',
    );
  });

  it('fails when only one seed reported (the others missing), even with an agreeing mean', () => {
    const one = { mean: 0.644, stderr: 0, n: 1, ciLow: -UNBOUNDED, ciHigh: UNBOUNDED };
    const j = judgeVerification({
      ...ok,
      freshPgr: one,
      hiddenPgr: { h: one },
      seeds: seeds({ succeeded: 1 }),
    });
    expect(j.verdict).toBe('failed_verification');
    expect(j.reasons[0]).toMatch(/1 of 5 verification seeds succeeded .*4 missing/);
  });

  it('fails when a hidden metric is missing on any seed, or on all of them', () => {
    expect(judgeVerification({ ...ok, hiddenPgr: { h: null } }).verdict).toBe(
      'failed_verification',
    );
    const partial = judgeVerification({ ...ok, hiddenPgr: { h: est(0.88, 0.04, 4) } });
    expect(partial.verdict).toBe('failed_verification');
    expect(partial.reasons.join()).toMatch(/hidden metric "h" is missing or not finite on 1 of 5/);
  });

  it('flags a hidden PGR clearly above 1 on its own gap, as the visible one is', () => {
    const j = judgeVerification({ ...ok, hiddenPgr: { h: est(1.3) }, hiddenScale: { h: 1 } });
    expect(j.verdict).toBe('failed_verification');
    // One flag raised by hidden data, never the visible `pgr_above_one` a strategy could see.
    expect(j.flags.map((f) => f.kind)).toEqual(['verification_gap']);
    expect(j.flags[0]!.message).toMatch(/hidden metric "h": PGR .* is beyond the optimum/);
    // 1.3 in the objective's units on a hidden split whose own gap is 1.4 times wider: 0.93.
    expect(
      judgeVerification({ ...ok, hiddenPgr: { h: est(1.3) }, hiddenScale: { h: 1 / 1.4 } }).verdict,
    ).toBe('verified');
    // Its own optimum unknown: not judged beyond it.
    expect(judgeVerification({ ...ok, hiddenPgr: { h: est(1.3) } }).verdict).toBe('verified');
    // A fresh-seed PGR is on the objective's own gap.
    expect(judgeVerification({ ...ok, freshPgr: est(1.3) }).reasons.join()).toMatch(
      /fresh seeds: PGR .* is beyond the optimum/,
    );
  });

  it('puts a hidden PGR on its own gap from a measured optimum, else from a stated one', () => {
    const baseline = { score: { mean: 0.71 }, metrics: { h: 0.63 } };
    // Stated objective optimum: no hidden value measured, the criteria's hiddenOptima count.
    const stated = { score: { mean: 0.915 }, metrics: {} };
    expect(hiddenScales(['h'], { baseline, optimum: stated })).toEqual({ h: null });
    const k = hiddenScales(['h'], { baseline, optimum: stated }, { h: 0.922 }).h!;
    expect(k).toBeCloseTo((0.915 - 0.71) / (0.922 - 0.63), 12);
    // A measured optimum's own value wins over a stated one.
    const measured = { score: { mean: 0.915 }, metrics: { h: 0.9 } };
    expect(hiddenScales(['h'], { baseline, optimum: measured }, { h: 0.922 }).h).toBeCloseTo(
      (0.915 - 0.71) / (0.9 - 0.63),
      12,
    );
    // Gaps that point different ways, a baseline without the metric, no references: unknown.
    expect(hiddenScales(['h'], { baseline, optimum: stated }, { h: 0.5 }).h).toBeNull();
    expect(
      hiddenScales(['h'], { baseline: { ...baseline, metrics: {} }, optimum: stated }, { h: 0.9 })
        .h,
    ).toBeNull();
    expect(hiddenScales(['h'], {}, { h: 0.9 }).h).toBeNull();
    // A label rebuilder at held-out accuracy 1.0 (hidden PGR 1.8 in the objective's units) is
    // beyond a stated optimum of 0.922; the honest 0.917 (0.98 in those units) is not.
    const judged = (acc: number) =>
      judgeVerification({
        ...ok,
        hiddenPgr: { h: est((acc - 0.63) / (0.915 - 0.71)) },
        hiddenScale: { h: k },
      }).verdict;
    expect(judged(1.0)).toBe('failed_verification');
    expect(judged(0.917)).toBe('verified');
  });

  it("starts a hidden metric's own gap at the baseline on the seeds its PGR was paired on", () => {
    // Search seeds: the baseline's held-out accuracy 0.63. Fresh seeds: 0.60 (it varies by seed),
    // and the honest method 0.915 on them: a gain of 0.315 over the baseline on those seeds.
    const baseline = { score: { mean: 0.71 }, metrics: { h: 0.63 } };
    const optimum = { score: { mean: 0.922 }, metrics: {} };
    const pgrInObjectiveUnits = (0.915 - 0.6) / (0.922 - 0.71);
    const onGap = (hb?: Record<string, number>) =>
      pgrInObjectiveUnits * hiddenScales(['h'], { baseline, optimum }, { h: 0.922 }, hb).h!;
    // From the search seeds' 0.63 the same gain reads as 1.08 of the gap: "beyond the optimum".
    expect(onGap()).toBeCloseTo(0.315 / (0.922 - 0.63), 12);
    expect(onGap()).toBeGreaterThan(1.05);
    // From the fresh seeds' own 0.60: 0.98, below the Bayes accuracy, as it is.
    expect(onGap({ h: 0.6 })).toBeCloseTo(0.315 / (0.922 - 0.6), 12);
    expect(onGap({ h: 0.6 })).toBeLessThan(1);
  });

  it('names a result that held up but whose lower bound is not above the baseline', () => {
    const wide = { mean: 0.571, stderr: 0.3, n: 2, ciLow: -0.154, ciHigh: 1.296 };
    const j = judgeVerification({
      ...ok,
      searchPgr: est(0.6, 0.3),
      freshPgr: wide,
      hiddenPgr: {},
      seeds: seeds({ requested: 2, succeeded: 2 }),
    });
    expect(j.verdict).toBe('held_up_not_significant');
    expect(j.checks.heldUp).toBe(true);
    expect(j.checks.realImprovement).toBe(false);
    expect(verdictLabel(j).text).toBe('held up, not significant');
  });

  it('says "below target" for a verified result under the target, never green', () => {
    const j = judgeVerification({
      ...ok,
      searchPgr: est(0.6, 0.1),
      freshPgr: est(0.6, 0.1),
      hiddenPgr: {},
    });
    expect(j.verdict).toBe('verified');
    expect(j.checks.metTarget).toBe(false);
    const label = verdictLabel(j);
    expect(label).toMatchObject({ text: 'verified, below target', tone: 'warn' });
  });

  it('a deterministic result re-computed on fresh seeds holds up despite rounding', () => {
    const exact = { mean: 0.6, stderr: 0, n: 5, ciLow: 0.6, ciHigh: 0.6 };
    const j = judgeVerification({
      ...ok,
      searchPgr: exact,
      freshPgr: est(0.6 - 1e-12, 0.14),
      hiddenPgr: {},
    });
    expect(j.checks.heldUp).toBe(true);
  });

  it('cut short by a stop: not verified, not failed, no flag', () => {
    const j = judgeVerification({ ...ok, seeds: seeds({ succeeded: 3, cancelled: 2 }) });
    expect(j.verdict).toBe('not_verified');
    expect(j.flags).toEqual([]);
  });

  it('detects identical fresh results: fresh seeds could not test the result', () => {
    const j = judgeVerification({ ...ok, freshScores: [0.99, 0.99, 0.99, 0.99, 0.99] });
    expect(j.checks.seedInsensitive).toBe(true);
    expect(verdictLabel(j).notes.join()).toMatch(/fresh seeds could not test the result/);
  });

  it('asks for at least max(5, seedsPerTrial) seeds and keeps a stricter PI value', () => {
    expect(verificationSeedCount({ seedsPerTrial: 2, verification: { seeds: 2 } })).toBe(5);
    expect(verificationSeedCount({ seedsPerTrial: 8, verification: { seeds: 5 } })).toBe(8);
    expect(verificationSeedCount({ seedsPerTrial: 3, verification: { seeds: 12 } })).toBe(12);
  });
});

describe('verdict property', () => {
  // Per-seed outcomes: a PGR value, a failure, a cancellation, or a missing/non-finite metric.
  const outcome = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .double({ min: -2, max: 2, noNaN: true })
        .map((v) => ({ kind: 'ok' as const, v })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'failed' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'cancelled' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'missing' as const }) },
  );
  const hiddenOutcome = fc.oneof(
    { weight: 6, arbitrary: fc.double({ min: -2, max: 2, noNaN: true }) },
    { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, null) },
  );

  it('verified only when every requested seed succeeded and both lower bounds are above the baseline', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(outcome, hiddenOutcome), { minLength: 0, maxLength: 8 }),
        fc.integer({ min: 1, max: 8 }),
        fc.double({ min: -1, max: 1.5, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (rows, extra, searchMean, target) => {
          const requested = Math.max(rows.length, 1) + (extra % 2 === 0 ? 0 : extra);
          const okRows = rows.filter((r) => r[0].kind === 'ok');
          const fresh = okRows.map((r) => (r[0] as { v: number }).v);
          const hidden = okRows
            .map((r) => r[1])
            .filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
          const account: SeedAccount = {
            requested,
            succeeded: rows.filter((r) => r[0].kind === 'ok' || r[0].kind === 'missing').length,
            failed: rows.filter((r) => r[0].kind === 'failed').length,
            cancelled: rows.filter((r) => r[0].kind === 'cancelled').length,
            source: 'secret',
          };
          const freshPgr = fresh.length > 0 ? estimate(fresh, 0.95) : null;
          const hiddenPgr = hidden.length > 0 ? estimate(hidden, 0.95) : null;
          const j = judgeVerification({
            searchPgr: estimate([searchMean - 0.1, searchMean, searchMean + 0.1], 0.95),
            freshPgr,
            hiddenPgr: { h: hiddenPgr },
            seeds: account,
            freshScores: fresh,
            targetPgr: target,
          });
          if (j.verdict !== 'verified') return;
          // Every requested seed succeeded, with the objective and the hidden metric on each.
          expect(account.succeeded).toBe(requested);
          expect(account.failed + account.cancelled).toBe(0);
          expect(freshPgr!.n).toBe(requested);
          expect(hiddenPgr!.n).toBe(requested);
          expect(requested).toBeGreaterThanOrEqual(2);
          // Both lower bounds above the baseline (PGR 0), from bounded intervals.
          expect(freshPgr!.ciLow).toBeGreaterThan(0);
          expect(hiddenPgr!.ciLow).toBeGreaterThan(0);
          expect(freshPgr!.ciHigh).toBeLessThan(UNBOUNDED);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('formatting', () => {
  it('shows an estimate and its bounds at one precision, enough to tell them apart', () => {
    expect(formatEstimate({ mean: 0.9993, ciLow: 0.9989, ciHigh: 0.9997 })).toBe(
      '0.99930 [0.99890, 0.99970]',
    );
    expect(formatEstimate({ mean: 0.592, ciLow: 0.409, ciHigh: 0.774 })).toBe(
      '0.592 [0.409, 0.774]',
    );
    expect(formatEstimate({ mean: 0.644, ciLow: -UNBOUNDED, ciHigh: UNBOUNDED })).toBe(
      '0.644 [unbounded]',
    );
  });
  it('shows a value a person set as given: 0.999 is not 1.00', () => {
    expect(formatExact(0.999)).toBe('0.999');
    expect(formatExact(0.8)).toBe('0.80');
    expect(formatExact(1)).toBe('1.00');
  });
});
