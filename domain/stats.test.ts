import { describe, expect, it } from 'vitest';
import { InsufficientDataError } from './errors.js';
import {
  estimate,
  improvementOver,
  mean,
  pooledVariance,
  tInterval,
  tQuantile,
  UNBOUNDED,
  welch,
} from './stats.js';

// Reference values computed with scipy 1.x (stats.t.ppf, stats.t.interval, stats.ttest_ind).
describe('tQuantile', () => {
  it('matches known Student t quantiles', () => {
    expect(tQuantile(0.975, 4)).toBeCloseTo(2.7764451051977934, 7);
    expect(tQuantile(0.95, 9)).toBeCloseTo(1.833112932656237, 7);
    expect(tQuantile(0.995, 2)).toBeCloseTo(9.924843200918287, 6);
    expect(tQuantile(0.975, 1)).toBeCloseTo(12.706204736174694, 5);
  });
  it('rejects p outside (0, 1) and bad degrees of freedom', () => {
    expect(() => tQuantile(1, 4)).toThrow(InsufficientDataError);
    expect(() => tQuantile(0.5, 0)).toThrow(InsufficientDataError);
  });
});

describe('estimate', () => {
  it('gives mean, stderr and the 95% t interval (n = 5, t = 2.776)', () => {
    const e = estimate([0.7, 0.74, 0.72, 0.75, 0.69], 0.95);
    expect(e.n).toBe(5);
    expect(e.mean).toBeCloseTo(0.72, 12);
    expect(e.stderr).toBeCloseTo(0.01140175425099139, 12);
    expect(e.ciLow).toBeCloseTo(0.6883436552191669, 8);
    expect(e.ciHigh).toBeCloseTo(0.7516563447808331, 8);
  });
  it('uses the requested confidence level', () => {
    const e = estimate([1, 2, 3, 4, 5], 0.9);
    // sd = sqrt(2.5), stderr = sqrt(0.5), t(0.95, 4) = 2.1318467863266495
    expect(e.ciHigh - e.mean).toBeCloseTo(2.1318467863266495 * Math.sqrt(0.5), 7);
  });
  it('with one value: stderr 0 and an unbounded but finite interval (JSON-safe)', () => {
    const e = estimate([0.8], 0.95);
    expect(e).toEqual({ mean: 0.8, stderr: 0, n: 1, ciLow: -UNBOUNDED, ciHigh: UNBOUNDED });
    expect(JSON.parse(JSON.stringify(e))).toEqual(e);
  });
  it('collapses the interval when all replicates agree', () => {
    const e = estimate([3, 3, 3], 0.95);
    expect(e).toMatchObject({ mean: 3, stderr: 0, ciLow: 3, ciHigh: 3 });
  });
  it('keeps the mean inside the data despite rounding', () => {
    expect(mean([0.1, 0.1, 0.1])).toBe(0.1);
  });
  it('rejects empty samples, non-finite values and bad confidence', () => {
    expect(() => estimate([], 0.95)).toThrow(InsufficientDataError);
    expect(() => estimate([1, Number.NaN], 0.95)).toThrow(/value 1 is not a finite number/);
    expect(() => estimate([1, 2], 1)).toThrow(InsufficientDataError);
  });
  it('tInterval is unbounded without degrees of freedom', () => {
    expect(tInterval(1, 0.5, 0, 0.95)).toEqual({ ciLow: -UNBOUNDED, ciHigh: UNBOUNDED });
  });
});

describe('welch', () => {
  const a = [0.81, 0.84, 0.79, 0.86, 0.83];
  const b = [0.78, 0.8, 0.77, 0.79, 0.81, 0.76];
  it('matches scipy.stats.ttest_ind(equal_var=False)', () => {
    const w = welch(a, b);
    expect(w.t).toBeCloseTo(2.8682318020817394, 10);
    expect(w.df).toBeCloseTo(6.947620456310329, 10);
    expect(w.p).toBeCloseTo(0.02424843198045662, 7);
    expect(w.pGreater).toBeCloseTo(0.01212421599022831, 7);
    expect(w.pLess).toBeCloseTo(0.9878757840097717, 7);
  });
  it('is antisymmetric', () => {
    const w = welch(b, a);
    expect(w.t).toBeCloseTo(-2.8682318020817394, 10);
    expect(w.pGreater).toBeCloseTo(0.9878757840097717, 7);
  });
  it('handles zero variance on both sides', () => {
    expect(welch([1, 1], [1, 1])).toMatchObject({ t: 0, p: 1 });
    expect(welch([2, 2], [1, 1])).toMatchObject({ t: UNBOUNDED, p: 0, pGreater: 0, pLess: 1 });
  });
  it('needs two values per sample', () => {
    expect(() => welch([1], [1, 2])).toThrow(InsufficientDataError);
  });
});

describe('improvementOver', () => {
  it('tests "greater" when maximizing', () => {
    const r = improvementOver(
      [0.81, 0.84, 0.79, 0.86, 0.83],
      [0.78, 0.8, 0.77, 0.79, 0.81, 0.76],
      'maximize',
    );
    expect(r.improvement).toBeCloseTo(0.826 - 0.785, 12);
    expect(r.p).toBeCloseTo(0.01212421599022831, 7);
    expect(r.significant).toBe(true);
    expect(
      improvementOver(
        [0.81, 0.84, 0.79, 0.86, 0.83],
        [0.78, 0.8, 0.77, 0.79, 0.81, 0.76],
        'maximize',
        0.01,
      ).significant,
    ).toBe(false);
  });
  it('tests "less" when minimizing (scipy alternative="less")', () => {
    const r = improvementOver([1.0, 1.2, 0.9], [1.5, 1.6, 1.4, 1.55], 'minimize');
    expect(r.improvement).toBeCloseTo(1.5125 - 1.0333333333333334, 12);
    expect(r.t).toBeCloseTo(4.890297438969465, 8);
    expect(r.p).toBeCloseTo(0.008572936914996665, 7);
  });
});

describe('pooledVariance', () => {
  it('weights each group by its degrees of freedom and skips groups without two values', () => {
    // variances 1 (n=3) and 4 (n=2): (2 * 1 + 1 * 4) / 3 = 2
    expect(pooledVariance([[1, 2, 3], [0, 2 * Math.SQRT2], [5]])).toEqual({
      variance: expect.closeTo(2, 12),
      df: 3,
    });
    expect(pooledVariance([[1], []])).toBeNull();
  });
});
