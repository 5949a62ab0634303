/**
 * Performance gap recovered: PGR = (score - baseline) / (optimum - baseline).
 *
 * One formula serves both directions: for a metric to minimise the optimum lies below the
 * baseline, numerator and denominator are both negative for an improvement, and PGR is again
 * 0 at the baseline, 1 at the optimum and > 1 beyond it.
 */
import { UndefinedPgrError } from './errors.js';
import type { Estimate } from './schemas.js';
import { estimate, tInterval } from './stats.js';

/** A reference score (baseline or optimum): a given number, or a measured mean with its error. */
export interface ReferenceScore {
  mean: number;
  /** Standard error of the mean; 0 or absent for a number the PI gave. */
  stderr?: number;
  /** Replicates behind the mean; absent for a given number. */
  n?: number;
}

/**
 * PGR of one score.
 * @throws UndefinedPgrError when optimum == baseline or any input is not finite.
 */
export function pgr(score: number, baseline: number, optimum: number): number {
  if (![score, baseline, optimum].every(Number.isFinite))
    throw new UndefinedPgrError(score, baseline, optimum, 'inputs must be finite numbers');
  if (optimum === baseline)
    throw new UndefinedPgrError(score, baseline, optimum, 'optimum equals baseline');
  const value = (score - baseline) / (optimum - baseline);
  // A gap near the smallest double can overflow; report it rather than return Infinity.
  if (!Number.isFinite(value))
    throw new UndefinedPgrError(score, baseline, optimum, 'the gap is too small');
  return value;
}

export interface PgrEstimateOptions {
  /**
   * Also count the uncertainty of measured references (delta method, Welch–Satterthwaite
   * degrees of freedom). Off by default: the references are shared by every trial of a
   * campaign, so their error shifts all trials together and does not change the ranking.
   * @default false
   */
  propagateReferenceError?: boolean;
}

const asRef = (r: number | ReferenceScore): ReferenceScore =>
  typeof r === 'number' ? { mean: r } : r;

/**
 * Estimate of a trial's PGR from its per-seed objective scores.
 *
 * PGR is computed per seed against the reference means and then summarised with
 * {@link estimate}. Because PGR is linear in the score, this equals the transformed estimate of
 * the raw scores, and for a metric to minimise the interval comes out in the right order.
 * With `propagateReferenceError`, the variance gains the references' terms:
 * Var = se_trial² + ((p - 1)² se_baseline² + p² se_optimum²) / (optimum - baseline)².
 *
 * @throws UndefinedPgrError when the references coincide or are not finite.
 * @throws InsufficientDataError when perSeedScores is empty or holds a non-finite value.
 */
export function pgrEstimate(
  perSeedScores: readonly number[],
  baselineRef: number | ReferenceScore,
  optimumRef: number | ReferenceScore,
  confidence: number,
  options: PgrEstimateOptions = {},
): Estimate {
  const b = asRef(baselineRef);
  const o = asRef(optimumRef);
  const perSeed = perSeedScores.map((s) => pgr(s, b.mean, o.mean));
  const plain = estimate(perSeed, confidence);
  if (!options.propagateReferenceError || plain.n < 2) return plain;

  const gap = o.mean - b.mean;
  const p = plain.mean;
  const components: { variance: number; df: number }[] = [
    { variance: plain.stderr ** 2, df: plain.n - 1 },
    { variance: ((p - 1) ** 2 * (b.stderr ?? 0) ** 2) / gap ** 2, df: refDf(b) },
    { variance: (p ** 2 * (o.stderr ?? 0) ** 2) / gap ** 2, df: refDf(o) },
  ];
  const total = components.reduce((s, c) => s + c.variance, 0);
  if (total === 0) return plain;
  const denominator = components.reduce(
    (s, c) => (Number.isFinite(c.df) ? s + c.variance ** 2 / c.df : s),
    0,
  );
  // Only references of unknown size contribute variance: treat the total as known (normal-like).
  const df = denominator === 0 ? 1e6 : total ** 2 / denominator;
  const stderr = Math.sqrt(total);
  return { mean: p, stderr, n: plain.n, ...tInterval(p, stderr, df, confidence) };
}

function refDf(r: ReferenceScore): number {
  return r.n !== undefined && r.n >= 2 ? r.n - 1 : Infinity;
}
