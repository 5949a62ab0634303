import { describe, expect, it } from 'vitest';
import { UndefinedPgrError } from './errors.js';
import { pgr, pgrEstimate, referencesWithinNoise, trialPgr } from './pgr.js';
import { estimate, UNBOUNDED } from './stats.js';

describe('pgr', () => {
  it('maximize: 0 at baseline, 1 at optimum, linear between and beyond', () => {
    expect(pgr(0.7, 0.7, 0.9)).toBe(0);
    expect(pgr(0.9, 0.7, 0.9)).toBe(1);
    expect(pgr(0.8, 0.7, 0.9)).toBeCloseTo(0.5, 12);
    expect(pgr(0.65, 0.7, 0.9)).toBeCloseTo(-0.25, 12);
    expect(pgr(1.0, 0.7, 0.9)).toBeCloseTo(1.5, 12);
  });
  it('minimize (optimum below baseline): same formula', () => {
    expect(pgr(1.5, 2, 1)).toBe(0.5);
    expect(pgr(2.5, 2, 1)).toBe(-0.5);
    expect(pgr(0.8, 2, 1)).toBeCloseTo(1.2, 12);
  });
  it('throws a named error when optimum equals baseline or an input is not finite', () => {
    expect(() => pgr(1, 2, 2)).toThrow(UndefinedPgrError);
    expect(() => pgr(1, 2, 2)).toThrow(/optimum equals baseline/);
    expect(() => pgr(Number.NaN, 0, 1)).toThrow(UndefinedPgrError);
    expect(() => pgr(1, 0, Infinity)).toThrow(UndefinedPgrError);
  });
});

describe('pgrEstimate', () => {
  it('computes PGR per seed then the t interval; minimize gives an ordered interval', () => {
    // per-seed PGR = [0.6, 0.4, 0.5]; sd 0.1; stderr 0.0577; t(0.975, 2) * stderr = 0.24841377117503297
    const e = pgrEstimate([1.4, 1.6, 1.5], 2, 1, 0.95);
    expect(e.mean).toBeCloseTo(0.5, 12);
    expect(e.stderr).toBeCloseTo(0.05773502691896257, 12);
    expect(e.ciLow).toBeCloseTo(0.5 - 0.24841377117503297, 7);
    expect(e.ciHigh).toBeCloseTo(0.5 + 0.24841377117503297, 7);
    expect(e.ciLow).toBeLessThan(e.ciHigh);
  });
  it('accepts reference objects and ignores their error by default', () => {
    const plain = pgrEstimate([1.4, 1.6, 1.5], 2, 1, 0.95);
    expect(pgrEstimate([1.4, 1.6, 1.5], { mean: 2, stderr: 0.1, n: 5 }, { mean: 1 }, 0.95)).toEqual(
      plain,
    );
  });
  it('propagates reference error with Welch-Satterthwaite degrees of freedom', () => {
    // Var = 0.0577^2 + (0.5 - 1)^2 * 0.1^2 / 1^2; df = 4.7805; half width from scipy = 0.19907424117398448
    const e = pgrEstimate([1.4, 1.6, 1.5], { mean: 2, stderr: 0.1, n: 5 }, { mean: 1 }, 0.95, {
      propagateReferenceError: true,
    });
    expect(e.stderr).toBeCloseTo(0.07637626158259733, 12);
    expect(e.ciHigh - e.mean).toBeCloseTo(0.19907424117398448, 6);
  });
  it('with a single seed the interval is unbounded', () => {
    expect(pgrEstimate([0.8], 0.7, 0.9, 0.95)).toMatchObject({
      n: 1,
      ciLow: -UNBOUNDED,
      ciHigh: UNBOUNDED,
    });
  });
  it('throws when the references coincide', () => {
    expect(() => pgrEstimate([1, 2], 0.5, 0.5, 0.95)).toThrow(UndefinedPgrError);
  });
});

describe('trialPgr', () => {
  const seeds = [1, 2, 3];
  const bySeed = new Map([
    [1, 0.1],
    [2, 0.3],
    [3, 0.2],
  ]);
  const baseline = { mean: 0.2, stderr: 0.0577, n: 3, bySeed };

  it('pairs each seed with the baseline on the same seed: shared seed luck cancels', () => {
    // The trial is the baseline plus 0.5 on every seed: paired, no spread at all.
    const r = trialPgr({
      seeds,
      scores: [0.6, 0.8, 0.7],
      baseline,
      optimum: 1.2,
      confidence: 0.95,
    });
    expect(r.paired).toBe(true);
    expect(r.perSeed).toEqual([0.5, 0.5, 0.5].map((x) => expect.closeTo(x, 12)));
    expect(r.estimate.mean).toBeCloseTo(0.5, 12);
    expect(r.estimate.ciLow).toBeCloseTo(0.5, 12);
    // Unpaired (the baseline ran other seeds), the same scores vary by the seed luck.
    const unpaired = trialPgr({
      seeds: [7, 8, 9],
      scores: [0.6, 0.8, 0.7],
      baseline,
      optimum: 1.2,
      confidence: 0.95,
    });
    expect(unpaired.paired).toBe(false);
    expect(unpaired.estimate.mean).toBeCloseTo(0.5, 12);
    expect(unpaired.estimate.ciLow).toBeLessThan(0.5 - 0.2);
  });

  it('floors the standard error with the pooled variance: identical seeds claim no certainty', () => {
    const frozen = { seeds, scores: [0.9, 0.9, 0.9], baseline: { mean: 0 }, optimum: 1 };
    const bare = trialPgr({ ...frozen, confidence: 0.95 });
    expect(bare.estimate.ciLow).toBe(0.9); // zero width without a floor
    const floored = trialPgr({ ...frozen, confidence: 0.95, floor: { variance: 0.01, df: 40 } });
    // stderr = sqrt(0.01 / 3); the interval keeps the trial's own 2 degrees of freedom.
    expect(floored.estimate.stderr).toBeCloseTo(Math.sqrt(0.01 / 3), 12);
    expect(floored.estimate.ciLow).toBeCloseTo(0.9 - 4.302652729911275 * Math.sqrt(0.01 / 3), 6);
    // A trial noisier than the floor keeps its own spread.
    const noisy = trialPgr({
      ...frozen,
      scores: [0.5, 0.9, 1.3],
      confidence: 0.95,
      floor: { variance: 0.01, df: 40 },
    });
    expect(noisy.estimate.stderr).toBeCloseTo(estimate([0.5, 0.9, 1.3], 0.95).stderr, 12);
  });

  it('carries the optimum (and an unpaired baseline) error into the interval', () => {
    const base = { seeds, scores: [0.79, 0.8, 0.81], baseline: { mean: 0 }, confidence: 0.95 };
    const given = trialPgr({ ...base, optimum: 1 });
    const measured = trialPgr({ ...base, optimum: { mean: 1, stderr: 0.05, n: 5 } });
    expect(measured.estimate.mean).toBeCloseTo(given.estimate.mean, 12);
    // Var = s²/n + p² se_o² / gap² = 1e-4/3 + 0.64 * 0.0025
    expect(measured.estimate.stderr).toBeCloseTo(Math.sqrt(1e-4 / 3 + 0.64 * 0.0025), 12);
    expect(measured.estimate.ciLow).toBeLessThan(given.estimate.ciLow);
  });

  it('a single seed has an unbounded interval; no finite score is an error', () => {
    const one = trialPgr({
      seeds: [1],
      scores: [0.5],
      baseline: { mean: 0 },
      optimum: 1,
      confidence: 0.95,
    });
    expect(one.estimate.ciLow).toBe(-UNBOUNDED);
    expect(() =>
      trialPgr({ seeds: [1], scores: [null], baseline: { mean: 0 }, optimum: 1, confidence: 0.95 }),
    ).toThrow();
  });
});

describe('referencesWithinNoise', () => {
  it('refuses references whose difference is inside its interval, names both numbers', () => {
    expect(
      referencesWithinNoise(
        { mean: 0.7, stderr: 0.01, n: 5 },
        { mean: 0.9, stderr: 0.01, n: 5 },
        0.95,
      ),
    ).toBeNull();
    const msg = referencesWithinNoise(
      { mean: 0.7, stderr: 0.05, n: 3 },
      { mean: 0.72, stderr: 0.05, n: 3 },
      0.95,
    );
    expect(msg).toMatch(
      /measured optimum \(0\.72\d*\) is within noise of the baseline \(0\.7\d*\)/,
    );
    // Numbers the PI gave carry no error: nothing to refuse here.
    expect(referencesWithinNoise({ mean: 0.7 }, { mean: 0.71 }, 0.95)).toBeNull();
  });
});

describe('references measured on one seed', () => {
  it('make PGR unbounded instead of counting the reference as exact', () => {
    const input = {
      seeds: [1, 2, 3, 4, 5],
      scores: [0.8, 0.81, 0.79, 0.8, 0.82],
      baseline: { mean: 0.7, stderr: 0, n: 1 },
      optimum: { mean: 0.9, stderr: 0.01, n: 5 },
      confidence: 0.95,
    };
    const one = trialPgr(input).estimate;
    expect(one.ciLow).toBe(-UNBOUNDED);
    expect(one.ciHigh).toBe(UNBOUNDED);
    // Two seeds: a real interval.
    const two = trialPgr({ ...input, baseline: { mean: 0.7, stderr: 0.005, n: 2 } }).estimate;
    expect(two.ciLow).toBeGreaterThan(0);
    // A one-seed optimum does the same; a number the PI gave (no n) stays exact.
    expect(
      trialPgr({ ...input, baseline: { mean: 0.7 }, optimum: { mean: 0.9, stderr: 0, n: 1 } })
        .estimate.ciLow,
    ).toBe(-UNBOUNDED);
    expect(
      trialPgr({ ...input, baseline: { mean: 0.7 }, optimum: 0.9 }).estimate.ciLow,
    ).toBeGreaterThan(0);
  });
});
