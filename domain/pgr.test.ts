import { describe, expect, it } from 'vitest';
import { UndefinedPgrError } from './errors.js';
import { pgr, pgrEstimate } from './pgr.js';
import { UNBOUNDED } from './stats.js';

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
