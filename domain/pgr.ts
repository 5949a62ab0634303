/**
 * Performance gap recovered: PGR = (score - baseline) / (optimum - baseline).
 *
 * One formula serves both directions: for a metric to minimise the optimum lies below the
 * baseline, numerator and denominator are both negative for an improvement, and PGR is again
 * 0 at the baseline, 1 at the optimum and > 1 beyond it.
 */
import { UndefinedPgrError } from './errors.js';
import type { Estimate } from './schemas.js';
import { estimate, tInterval, UNBOUNDED } from './stats.js';

/** A reference score (baseline or optimum): a given number, or a measured mean with its error. */
export type ReferenceScore = Pick<Estimate, 'mean'> &
  /** `stderr` 0 or absent and `n` absent for a number the PI gave. */
  Partial<Pick<Estimate, 'stderr' | 'n'>>;

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

/** A measured baseline as pairing needs it: its score on each seed it ran. */
export interface PairedBaseline extends ReferenceScore {
  /** Objective per seed of the baseline's reference run. */
  bySeed?: ReadonlyMap<number, number>;
}

export interface TrialPgrInput {
  /** The trial's seeds and its objective on each (null or non-finite: the seed has no value). */
  seeds: readonly number[];
  scores: readonly (number | null)[];
  baseline: PairedBaseline;
  optimum: number | ReferenceScore;
  confidence: number;
  /** The campaign's pooled within-trial variance of per-seed PGR: the floor of the trial's own. */
  floor?: { variance: number; df: number } | null;
  /**
   * An absolute floor on the standard error of the mean PGR, in PGR units (verification of a
   * seed-insensitive result: domain/verdict.ts SEED_INSENSITIVE_SE). @default 0
   */
  minStderr?: number;
  /**
   * A measured reference (one with `n`) from a single seed has no estimate of its error: treat
   * the PGR as unbounded rather than the reference as exact. @default true
   */
  oneSeedReferenceUnbounded?: boolean;
}

export interface TrialPgr {
  estimate: Estimate;
  /** Per-seed PGR values (paired when `paired`), for pooling. */
  perSeed: number[];
  /** True when every seed was paired with the baseline's score on the same seed. */
  paired: boolean;
}

/**
 * A trial's PGR as gaplab reports, ranks and compares it with the target. Three choices, each
 * keeping the interval from claiming more than the data show:
 *
 * 1. **Paired with the baseline (common random numbers).** Search trials run on the same seeds
 *    as the baseline's reference run. When the baseline ran every seed of the trial, each seed
 *    gives its own PGR, p_i = (s_i - b_i) / (o - b): the seed's shared luck cancels, and the
 *    baseline's error on those seeds is inside the spread of the p_i (Var(s_i - b_i) =
 *    Var(s) + Var(b) - 2 Cov(s, b)). Otherwise p_i = (s_i - b̄) / (o - b̄) and the baseline's
 *    error is added as a separate term (3).
 *
 * 2. **A floor on the standard error.** Five identical seed scores have a sample variance of 0,
 *    i.e. an interval of zero width: infinite confidence in a lucky or frozen result. The
 *    variance used is max(s², s_p²), where s_p² is the campaign's pooled within-trial variance
 *    of per-seed PGR ({@link pooledVariance}: Σ (n_i - 1) s_i² / Σ (n_i - 1) over its trials).
 *    If seed noise is the same for every configuration, s_p² estimates it far better than a
 *    trial's own n - 1 degrees of freedom, so a trial that looks quieter than the campaign is
 *    mostly lucky in its few seeds. The interval keeps the trial's own n - 1 degrees of freedom
 *    (wider than the pooled df would give): conservative on purpose. Campaigns whose trials are
 *    all noise-free (deterministic benchmarks) have s_p² = 0 and no floor: there, zero width is
 *    the truth. The pool holds eligible trials only (feasible, no open or confirmed review flag;
 *    workflows/campaign/state/references.ts `refreshFloor`): a flagged outlier (PGR -12.6 on one seed)
 *    would otherwise widen every other trial's interval, and 40 flagged frozen trials would
 *    dilute s_p² towards 0 (from 0.034 to 0.0016) and shrink every interval; a trial's flag
 *    then moves nothing but that trial. Each trial's own variance still applies to itself.
 *
 * 3. **Reference uncertainty.** The references are estimates too. By the delta method,
 *    Var(p̄) = v / n + ((p̄ - 1)² se_b² + p̄² se_o²) / (o - b)², with the baseline term only
 *    when unpaired, and Welch–Satterthwaite degrees of freedom (a reference given as a number
 *    adds nothing). The references shift every trial alike, so this barely changes the ranking;
 *    it matters for absolute claims: the target decision and the reported PGR.
 *
 * 4. **References need two seeds.** A measured reference from one seed has a standard error of
 *    0 only because none could be estimated; counting it as exact would let one lucky baseline
 *    seed move every PGR with no trace in the intervals. Its PGRs are unbounded instead (an
 *    unpaired baseline; a paired one's error is inside the per-seed spread already). A
 *    reference the PI gave as a number has no `n` and stays exact.
 *
 * One seed gives an unbounded interval (no spread can be estimated), as {@link estimate} does.
 *
 * @throws UndefinedPgrError when the references coincide or are not finite.
 * @throws InsufficientDataError when no seed has a finite score.
 */
export function trialPgr(input: TrialPgrInput): TrialPgr {
  const b = input.baseline;
  const o = asRef(input.optimum);
  const pairs: { seed: number; score: number }[] = [];
  input.seeds.forEach((seed, i) => {
    const s = input.scores[i];
    if (typeof s === 'number' && Number.isFinite(s)) pairs.push({ seed, score: s });
  });
  const paired =
    b.bySeed !== undefined &&
    pairs.length > 0 &&
    pairs.every((p) => Number.isFinite(b.bySeed!.get(p.seed) ?? NaN));
  // pgr() validates the references (finite, distinct) for both forms.
  pgr(b.mean, b.mean, o.mean);
  const gap = o.mean - b.mean;
  const perSeed = pairs.map((p) =>
    paired ? (p.score - b.bySeed!.get(p.seed)!) / gap : pgr(p.score, b.mean, o.mean),
  );
  const plain = estimate(perSeed, input.confidence);
  if (plain.n < 2) return { estimate: plain, perSeed, paired };
  // A reference measured on one seed: its error is unknown, so is the PGR's (choice 4).
  const oneSeed = (r: ReferenceScore) => r.n !== undefined && r.n < 2;
  if ((input.oneSeedReferenceUnbounded ?? true) && (oneSeed(o) || (!paired && oneSeed(b))))
    return {
      estimate: { ...plain, ciLow: -UNBOUNDED, ciHigh: UNBOUNDED },
      perSeed,
      paired,
    };

  const own = plain.stderr ** 2 * plain.n;
  const variance = Math.max(own, input.floor?.variance ?? 0, (input.minStderr ?? 0) ** 2 * plain.n);
  const p = plain.mean;
  const components: { variance: number; df: number }[] = [
    { variance: variance / plain.n, df: plain.n - 1 },
    { variance: (p ** 2 * (o.stderr ?? 0) ** 2) / gap ** 2, df: refDf(o) },
  ];
  if (!paired)
    components.push({ variance: ((p - 1) ** 2 * (b.stderr ?? 0) ** 2) / gap ** 2, df: refDf(b) });
  const total = components.reduce((sum, c) => sum + c.variance, 0);
  if (total === 0) return { estimate: plain, perSeed, paired };
  const denominator = components.reduce(
    (sum, c) => (Number.isFinite(c.df) && c.variance > 0 ? sum + c.variance ** 2 / c.df : sum),
    0,
  );
  const df = denominator === 0 ? 1e6 : total ** 2 / denominator;
  const stderr = Math.sqrt(total);
  return {
    estimate: { mean: p, stderr, n: plain.n, ...tInterval(p, stderr, df, input.confidence) },
    perSeed,
    paired,
  };
}

/**
 * Whether measured references are too close to tell apart: |o - b| within the two-sided
 * `confidence` interval of their difference, t(df) · √(se_b² + se_o²) with Welch–Satterthwaite
 * df. Then PGR divides by noise and every claim about it is noise too. Returns the reason, or
 * null when the gap is resolved (or neither reference carries an error).
 */
export function referencesWithinNoise(
  baseline: ReferenceScore,
  optimum: ReferenceScore,
  confidence: number,
): string | null {
  const vb = (baseline.stderr ?? 0) ** 2;
  const vo = (optimum.stderr ?? 0) ** 2;
  const total = vb + vo;
  if (!(total > 0)) return null;
  const dfb = refDf(baseline);
  const dfo = refDf(optimum);
  const denominator =
    (Number.isFinite(dfb) && vb > 0 ? vb ** 2 / dfb : 0) +
    (Number.isFinite(dfo) && vo > 0 ? vo ** 2 / dfo : 0);
  const df = denominator === 0 ? 1e6 : total ** 2 / denominator;
  const half = tInterval(0, Math.sqrt(total), df, confidence).ciHigh;
  const gap = Math.abs(optimum.mean - baseline.mean);
  if (gap > half) return null;
  return (
    `the measured optimum (${optimum.mean.toPrecision(4)}) is within noise of the baseline ` +
    `(${baseline.mean.toPrecision(4)}): their difference ${gap.toPrecision(3)} is inside its ` +
    `${Math.round(confidence * 100)}% interval ±${half.toPrecision(3)}, so PGR would measure noise. ` +
    'Measure the references on more seeds, or give the optimum as a value'
  );
}
