/**
 * Small-sample statistics for replicated trials: means, standard errors, Student-t confidence
 * intervals and Welch's t-test. Pure and deterministic.
 *
 * JSON cannot carry NaN or Infinity, and every Estimate travels through Temporal payloads and
 * the HTTP API, so every number returned here is finite. Where a bound does not exist (one
 * replicate: no spread to estimate) it is {@link UNBOUNDED} (Number.MAX_VALUE) with the right
 * sign: ranking by lower bound then puts a single lucky seed below any replicated result, which
 * is the point of requiring replicates.
 */
import jStat from 'jstat';
import { InsufficientDataError } from './errors.js';
import { UNBOUNDED } from './format.js';
import type { Estimate } from './schemas.js';

/** The finite stand-in for an infinite bound (see the module comment), declared with the formats. */
export { UNBOUNDED };

function assertSample(values: readonly number[], what: string, min: number): void {
  if (values.length < min)
    throw new InsufficientDataError(what, `needs at least ${min} value(s), got ${values.length}`);
  values.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new InsufficientDataError(what, `value ${i} is not a finite number (${String(v)})`);
  });
}

function assertConfidence(confidence: number): void {
  if (!(confidence > 0 && confidence < 1))
    throw new InsufficientDataError('confidence', `must be in (0, 1), got ${confidence}`);
}

/** Arithmetic mean, kept within [min, max] so rounding cannot move it outside the data. */
export function mean(values: readonly number[]): number {
  assertSample(values, 'mean', 1);
  let sum = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    sum += v;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return Math.min(hi, Math.max(lo, sum / values.length));
}

/** Unbiased sample variance (denominator n - 1), two-pass for accuracy. Needs n >= 2. */
export function sampleVariance(values: readonly number[]): number {
  assertSample(values, 'sample variance', 2);
  const m = mean(values);
  let ss = 0;
  for (const v of values) ss += (v - m) * (v - m);
  return ss / (values.length - 1);
}

/** The p-quantile of Student's t with `df` (> 0, may be fractional) degrees of freedom. */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1))
    throw new InsufficientDataError('t quantile', `p must be in (0, 1), got ${p}`);
  if (!(df > 0) || !Number.isFinite(df))
    throw new InsufficientDataError(
      't quantile',
      `degrees of freedom must be finite and > 0, got ${df}`,
    );
  return jStat.studentt.inv(p, df);
}

/** P(T <= t) for Student's t with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  if (!(df > 0) || !Number.isFinite(df))
    throw new InsufficientDataError(
      't cdf',
      `degrees of freedom must be finite and > 0, got ${df}`,
    );
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  return Math.min(1, Math.max(0, jStat.studentt.cdf(t, df)));
}

/**
 * A two-sided Student-t interval `mean ± t(1 - (1 - confidence) / 2, df) · stderr`.
 * With stderr 0 the interval collapses to the mean; without degrees of freedom (df < 1e-9,
 * i.e. a single replicate) it is unbounded.
 */
export function tInterval(
  m: number,
  stderr: number,
  df: number,
  confidence: number,
): { ciLow: number; ciHigh: number } {
  assertConfidence(confidence);
  if (!(df > 1e-9)) return { ciLow: -UNBOUNDED, ciHigh: UNBOUNDED };
  if (stderr === 0) return { ciLow: m, ciHigh: m };
  const half = tQuantile(1 - (1 - confidence) / 2, df) * stderr;
  return { ciLow: clampFinite(m - half), ciHigh: clampFinite(m + half) };
}

function clampFinite(x: number): number {
  return Math.min(UNBOUNDED, Math.max(-UNBOUNDED, x));
}

/**
 * Mean, standard error (sample sd / √n) and Student-t confidence interval of replicates.
 *
 * n = 1: stderr is 0 (no spread can be estimated; read it together with n) and the interval is
 * [-UNBOUNDED, UNBOUNDED]. All returned numbers are finite.
 *
 * @throws InsufficientDataError on an empty sample, a non-finite value or confidence outside (0, 1).
 */
export function estimate(values: readonly number[], confidence: number): Estimate {
  assertSample(values, 'estimate', 1);
  assertConfidence(confidence);
  const n = values.length;
  const m = mean(values);
  if (n === 1) return { mean: m, stderr: 0, n, ciLow: -UNBOUNDED, ciHigh: UNBOUNDED };
  const stderr = clampFinite(Math.sqrt(sampleVariance(values) / n));
  return { mean: m, stderr, n, ...tInterval(m, stderr, n - 1, confidence) };
}

export interface WelchResult {
  /** mean(a) - mean(b). */
  meanDiff: number;
  /** Welch's t statistic; ±UNBOUNDED when both samples have zero variance and different means. */
  t: number;
  /** Welch–Satterthwaite degrees of freedom. */
  df: number;
  /** Two-sided p-value (H1: the means differ). */
  p: number;
  /** One-sided p-value for H1: mean(a) > mean(b). */
  pGreater: number;
  /** One-sided p-value for H1: mean(a) < mean(b). */
  pLess: number;
}

/**
 * Welch's unequal-variance t-test of a against b.
 *
 * When both samples have zero variance the test degenerates: equal means give t = 0 and p = 1;
 * different means give t = ±UNBOUNDED and the corresponding p-values 0 (and 1 for the other side).
 *
 * @throws InsufficientDataError when either sample has fewer than 2 values or a non-finite value.
 */
export function welch(a: readonly number[], b: readonly number[]): WelchResult {
  assertSample(a, 'welch (first sample)', 2);
  assertSample(b, 'welch (second sample)', 2);
  const na = a.length;
  const nb = b.length;
  const sa = sampleVariance(a) / na;
  const sb = sampleVariance(b) / nb;
  const meanDiff = mean(a) - mean(b);
  const se2 = sa + sb;
  if (se2 === 0) {
    const df = na + nb - 2;
    if (meanDiff === 0) return { meanDiff, t: 0, df, p: 1, pGreater: 0.5, pLess: 0.5 };
    const up = meanDiff > 0;
    return {
      meanDiff,
      t: up ? UNBOUNDED : -UNBOUNDED,
      df,
      p: 0,
      pGreater: up ? 0 : 1,
      pLess: up ? 1 : 0,
    };
  }
  const t = meanDiff / Math.sqrt(se2);
  const df = (se2 * se2) / ((sa * sa) / (na - 1) + (sb * sb) / (nb - 1));
  const pGreater = tCdf(-t, df);
  const pLess = tCdf(t, df);
  const p = Math.min(1, 2 * tCdf(-Math.abs(t), df));
  return { meanDiff, t, df, p, pGreater, pLess };
}

export interface Improvement {
  /** How much better the child's mean is, in metric units (positive = better for the direction). */
  improvement: number;
  t: number;
  df: number;
  /** One-sided Welch p-value for H1: the child is better than the parent. */
  p: number;
  /** p < alpha. */
  significant: boolean;
}

/**
 * Whether a child trial improves on its parent, by a one-sided Welch test on per-seed scores.
 * @param alpha significance level. @default 0.05
 */
export function improvementOver(
  childScores: readonly number[],
  parentScores: readonly number[],
  direction: 'maximize' | 'minimize',
  alpha = 0.05,
): Improvement {
  const w = welch(childScores, parentScores);
  const up = direction === 'maximize';
  const p = up ? w.pGreater : w.pLess;
  return {
    improvement: up ? w.meanDiff : -w.meanDiff,
    t: up ? w.t : -w.t,
    df: w.df,
    p,
    significant: p < alpha,
  };
}

/** A pooled variance with its degrees of freedom. */
export interface PooledVariance {
  variance: number;
  df: number;
}

/**
 * Pooled within-group variance: Σ (n_i - 1) s_i² / Σ (n_i - 1) over groups of at least two
 * finite values (others add nothing). Null when no group has two values. Under the usual model
 * of replicated trials (each configuration has its own mean, seed noise has one variance) this is
 * the best estimate of that variance, with Σ (n_i - 1) degrees of freedom instead of n - 1.
 */
export function pooledVariance(groups: readonly (readonly number[])[]): PooledVariance | null {
  let ss = 0;
  let df = 0;
  for (const g of groups) {
    const values = g.filter(Number.isFinite);
    if (values.length < 2) continue;
    ss += sampleVariance(values) * (values.length - 1);
    df += values.length - 1;
  }
  return df > 0 ? { variance: ss / df, df } : null;
}
