/**
 * Scoring of one trial from its per-seed results: metric aggregates, PGR with its confidence
 * interval, constraint verdicts, feasibility and review flags. Also the ranking rule for "best":
 * by the lower confidence bound of PGR, never by a lucky mean.
 */
import { constraintVerdict, fmt } from './constraints.js';
import { hiddenGapMetricsOf } from './schemas.js';
import type { ReferenceScore } from './pgr.js';
import { pgrEstimate } from './pgr.js';
import type {
  ConstraintVerdict,
  Estimate,
  EvaluationCriteria,
  Flag,
  Pruned,
  SeedResult,
  Trial,
} from './schemas.js';
import { estimate, tInterval } from './stats.js';
import { trustState, type FlagState } from './trust.js';
import type { VerdictWord } from './verdict.js';

export { constraintVerdict, describeConstraint, fmt } from './constraints.js';

/** Thresholds of the review flags. */
export interface ScoringOptions {
  /** Flag `pgr_above_one` when the PGR mean exceeds 1 + this margin. @default 0.05 */
  pgrAboveOneMargin?: number;
  /**
   * Flag `hidden_gap` when a hidden metric falls short of the objective by more than this many
   * PGR units (see {@link hiddenGapFlags}). @default 0.25
   */
  hiddenGapThreshold?: number;
  /** Flag `high_variance` when the seed-to-seed standard deviation of PGR exceeds this. @default 0.5 */
  highVarianceSd?: number;
  /** Passed to pgrEstimate. @default false */
  propagateReferenceError?: boolean;
  /**
   * Judge the hidden gap by its interval's lower bound (per-seed differences) rather than its
   * point estimate. Off only to replay campaigns started before it. @default true
   */
  hiddenGapInterval?: boolean;
}

export const DEFAULT_SCORING_OPTIONS: Required<ScoringOptions> = {
  pgrAboveOneMargin: 0.05,
  hiddenGapThreshold: 0.25,
  highVarianceSd: 0.5,
  propagateReferenceError: false,
  hiddenGapInterval: true,
};

export interface ScoreTrialInput {
  seeds: readonly SeedResult[];
  criteria: Pick<
    EvaluationCriteria,
    'metric' | 'direction' | 'confidence' | 'constraints' | 'hiddenMetrics' | 'hiddenGapMetrics'
  >;
  /** Baseline score of the objective; null while unknown (then PGR is null). */
  baselineScore: number | ReferenceScore | null;
  /** Optimum score of the objective; null while unknown (then PGR is null). */
  optimumScore: number | ReferenceScore | null;
  /** Means of the baseline configuration's metrics: limits of relative constraints, hidden-gap offset. */
  baselineMetricMeans?: Readonly<Record<string, number>>;
  /** Hidden metrics to check for a hidden gap. @default hiddenGapMetricsOf(criteria) */
  hiddenMetrics?: readonly string[];
  /**
   * The baseline's metrics per seed: the hidden-gap check is then interval-aware and paired
   * ({@link hiddenGapFlags}). Absent: the baseline's means only (no baseline spread).
   */
  baselineBySeed?: PerSeedValues;
  /**
   * The campaign's pooled per-seed PGR variance (the floor of every trial's PGR standard error,
   * workflows/state/references.ts): also the floor of the per-seed variance of a hidden
   * shortfall ({@link hiddenGapFlags}). Absent or null: no floor.
   */
  pgrFloor?: { variance: number } | null;
  options?: ScoringOptions;
}

/** The scored fields of a Trial (same names and shapes as in the Trial schema) plus the objective per seed. */
export type TrialScore = Pick<
  Trial,
  'status' | 'pgr' | 'feasible' | 'flags' | 'computeSeconds' | 'failureReason' | 'pruned'
> & {
  /** Per-metric estimates over succeeded seeds, non-finite values dropped. Includes hidden metrics. */
  aggregates: Record<string, Estimate>;
  constraints: ConstraintVerdict[];
  /** Finite objective values of the succeeded seeds, in seed order (for significance tests). */
  objectiveScores: number[];
};

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export interface TrialAggregates {
  aggregates: Record<string, Estimate>;
  /** Non-finite values found in succeeded seeds (dropped from the aggregates). */
  nonFinite: { metric: string; seed: number; value: unknown }[];
  computeSeconds: number;
}

/**
 * Per-metric estimates over the succeeded (and pruned: the metrics of the stage that stopped
 * them) seeds. A metric absent from a seed simply has a smaller
 * n; non-finite values (NaN, ±Infinity, or null after a JSON round trip) are dropped and reported.
 */
export function aggregateTrial(seeds: readonly SeedResult[], confidence: number): TrialAggregates {
  const values = new Map<string, number[]>();
  const nonFinite: TrialAggregates['nonFinite'] = [];
  let computeSeconds = 0;
  for (const s of seeds) {
    if (isFiniteNumber(s.durationSeconds) && s.durationSeconds > 0)
      computeSeconds += s.durationSeconds;
    if (s.status !== 'succeeded' && s.status !== 'pruned') continue;
    for (const [metric, value] of Object.entries(s.metrics)) {
      if (!isFiniteNumber(value)) {
        nonFinite.push({ metric, seed: s.seed, value });
        continue;
      }
      const list = values.get(metric);
      if (list) list.push(value);
      else values.set(metric, [value]);
    }
  }
  const aggregates: Record<string, Estimate> = {};
  for (const [metric, list] of values) aggregates[metric] = estimate(list, confidence);
  return { aggregates, nonFinite, computeSeconds };
}

/** A metric's values on each seed (null: no finite value), for paired comparisons. */
export interface PerSeedValues {
  seeds: readonly number[];
  values: Readonly<Record<string, readonly (number | null)[]>>;
}

/** Per-seed data for an interval-aware hidden-gap check (see {@link hiddenGapFlags}). */
export interface HiddenGapEvidence {
  /** The trial's succeeded seeds. */
  seeds: readonly SeedResult[];
  /** The baseline's values per seed (its reference run). */
  baseline?: PerSeedValues;
  confidence: number;
  /** Floor of the per-seed variance of the shortfall, in PGR units squared (see hiddenGapFlags). */
  floorVariance?: number;
}

const finiteOrNull = (v: unknown): number | null => (isFiniteNumber(v) ? v : null);

/**
 * The shortfall's estimate in PGR units from per-seed differences: paired with the baseline on
 * shared seeds when every trial seed has a baseline value (the split's luck cancels seed by
 * seed), else the trial's differences against the baseline's mean difference, the two errors
 * added (Welch–Satterthwaite df). Null when fewer than two seeds give a difference.
 */
function shortfallEstimate(
  objectiveMetric: string,
  h: string,
  gap: number,
  ev: HiddenGapEvidence,
): Estimate | null {
  const diffs: { seed: number; d: number }[] = [];
  for (const s of ev.seeds) {
    if (s.status !== 'succeeded') continue;
    const v = finiteOrNull(s.metrics[objectiveMetric]);
    const x = finiteOrNull(s.metrics[h]);
    if (v !== null && x !== null) diffs.push({ seed: s.seed, d: v - x });
  }
  if (diffs.length < 2) return null;
  const b = ev.baseline;
  const bv = b?.values[objectiveMetric];
  const bh = b?.values[h];
  const baseDiff = new Map<number, number>();
  b?.seeds.forEach((seed, i) => {
    const v = bv?.[i];
    const x = bh?.[i];
    if (typeof v === 'number' && typeof x === 'number') baseDiff.set(seed, v - x);
  });
  if (diffs.every((x) => baseDiff.has(x.seed)))
    return floored(
      estimate(
        diffs.map((x) => (x.d - baseDiff.get(x.seed)!) / gap),
        ev.confidence,
      ),
      ev,
    );
  const own = floored(
    estimate(
      diffs.map((x) => x.d / gap),
      ev.confidence,
    ),
    ev,
  );
  const base = [...baseDiff.values()].map((x) => x / gap);
  if (base.length === 0) return null;
  const offset = base.reduce((sum, x) => sum + x, 0) / base.length;
  const mean = own.mean - offset;
  if (base.length < 2)
    return { ...own, mean, ciLow: own.ciLow - offset, ciHigh: own.ciHigh - offset };
  const other = estimate(base, ev.confidence);
  const v1 = own.stderr ** 2;
  const v2 = other.stderr ** 2;
  const total = v1 + v2;
  if (total === 0) return { mean, stderr: 0, n: own.n, ciLow: mean, ciHigh: mean };
  const denominator = (v1 > 0 ? v1 ** 2 / (own.n - 1) : 0) + (v2 > 0 ? v2 ** 2 / (other.n - 1) : 0);
  const df = total ** 2 / denominator;
  const stderr = Math.sqrt(total);
  return { mean, stderr, n: own.n, ...tInterval(mean, stderr, df, ev.confidence) };
}

/** An estimate of n seeds with its per-seed variance raised to the floor (same df: n - 1). */
function floored(e: Estimate, ev: HiddenGapEvidence): Estimate {
  const floor = ev.floorVariance ?? 0;
  if (!(floor > 0) || e.n < 2 || e.stderr ** 2 * e.n >= floor) return e;
  const stderr = Math.sqrt(floor / e.n);
  return { ...e, stderr, ...tInterval(e.mean, stderr, e.n - 1, ev.confidence) };
}

/**
 * `hidden_gap` flags: a method that overfits the visible split. The hidden metrics of interest
 * measure the objective on another split (dev accuracy vs held-out accuracy), so they share its
 * units and its direction. For each hidden metric h:
 *
 *     d = (objective mean - h mean) - (baseline objective mean - baseline h mean)
 *     shortfall = d / (optimum - baseline)
 *
 * the second term of d, when the baseline's means of both are known, removes a split's constant
 * offset (a held-out split that is simply harder). Dividing by the signed gap puts the shortfall
 * in PGR units and in the objective's direction: it is positive when the trial's gain on the
 * hidden split falls short of its gain on the visible one (for maximize, h lower than the
 * objective predicts; for minimize, higher). The flag is one-sided: a hidden metric that does
 * better than the visible one is not flagged. Hidden metrics the trial did not report are
 * skipped here (verification fails a trial whose hidden metric is missing).
 *
 * Interval-aware (with `evidence`): the shortfall is estimated from the per-seed differences
 * (paired with the baseline's on the same seeds when it has them all), and the trial is flagged
 * only when the shortfall is significant (its interval's lower bound above 0, at the criteria's
 * confidence) and beyond the tolerance (its mean above the threshold). With fewer than two
 * usable seeds no spread can be estimated and the point estimate decides, as without `evidence`.
 * Why one-sided, and why the mean rather than the lower bound is held to the threshold:
 * docs/decisions/0003-hidden-gap-flag-one-sided.md.
 *
 * The shortfall's per-seed variance is floored by the campaign's pooled per-seed PGR variance
 * (`evidence.floorVariance`), as every PGR's is. Derivation: the shortfall is the visible gain
 * minus the hidden gain, so it cannot be known more precisely than the visible gain itself, and
 * three seeds that happen to agree (df = 2) claim a certainty the campaign's other trials show
 * the evaluation does not have. Per-seed differences also cannot see the noise of a hidden split
 * that is the same on every seed: on sklearn-digits (a fixed test split of 450 images) an honest
 * SVC's test gain falls 0.26 PGR [0.09, 0.43] short of its validation gain on 3 seeds, inside the
 * campaign's seed-to-seed PGR spread (0.13); with the floor its interval is [-0.05, 0.58], and an
 * Optuna campaign of 20 trials holds none for a hidden gap instead of 2 (bench/RESULTS.md). A
 * method that falls short on every seed by far more than the evaluation's noise (a label leak,
 * a replayed prediction, weak-to-strong-code's dev overfitter) is still flagged.
 *
 * The messages name hidden metrics and values: never show flags to an agent.
 */
export function hiddenGapFlags(
  objectiveMetric: string,
  aggregates: Readonly<Record<string, Estimate>>,
  hiddenMetrics: readonly string[],
  gap: number,
  threshold: number,
  baselineMetricMeans?: Readonly<Record<string, number>>,
  evidence?: HiddenGapEvidence,
): Flag[] {
  const visible = aggregates[objectiveMetric]?.mean;
  if (visible === undefined || !(Math.abs(gap) > 0)) return [];
  const flags: Flag[] = [];
  for (const h of hiddenMetrics) {
    const hidden = aggregates[h]?.mean;
    if (hidden === undefined) continue;
    const bv = baselineMetricMeans?.[objectiveMetric];
    const bh = baselineMetricMeans?.[h];
    const offset = isFiniteNumber(bv) && isFiniteNumber(bh) ? bv - bh : 0;
    const shortfall = (visible - hidden - offset) / gap;
    const interval = evidence ? shortfallEstimate(objectiveMetric, h, gap, evidence) : null;
    const flagged = interval
      ? interval.mean > threshold && interval.ciLow > 0
      : shortfall > threshold;
    if (flagged)
      flags.push({
        kind: 'hidden_gap',
        message:
          `hidden metric "${h}" falls short of "${objectiveMetric}" by ${fmt(interval?.mean ?? shortfall)} PGR ` +
          (interval ? `(interval ${fmt(interval.ciLow)} to ${fmt(interval.ciHigh)}) ` : '') +
          `(${objectiveMetric} ${fmt(visible)}, ${h} ${fmt(hidden)}, baseline offset ${fmt(offset)}; threshold ${fmt(threshold)})`,
      });
  }
  return flags;
}

/**
 * Why measured references cannot define PGR, or null when they can: the optimum must differ
 * from the baseline and lie on the better side for the direction (a measured "ceiling" below
 * the baseline would turn every improvement into a negative PGR).
 */
export function referenceProblem(
  baseline: number,
  optimum: number,
  direction: 'maximize' | 'minimize',
): string | null {
  if (!Number.isFinite(baseline) || !Number.isFinite(optimum))
    return `references must be finite (baseline ${baseline}, optimum ${optimum})`;
  if (optimum === baseline) return `optimum equals baseline (${fmt(baseline)}): PGR is undefined`;
  if (direction === 'maximize' && optimum < baseline)
    return `optimum ${fmt(optimum)} is below baseline ${fmt(baseline)} for a metric to maximize`;
  if (direction === 'minimize' && optimum > baseline)
    return `optimum ${fmt(optimum)} is above baseline ${fmt(baseline)} for a metric to minimize`;
  return null;
}

/**
 * `verification_gap` flag for a candidate re-run on fresh seeds: raised when the verification's
 * PGR mean falls below the lower confidence bound of the search result, i.e. the search result
 * does not reproduce within its own interval. Null when it does.
 */
export function verificationGapFlag(searchPgr: Estimate, verificationPgr: Estimate): Flag | null {
  if (verificationPgr.mean >= searchPgr.ciLow) return null;
  return {
    kind: 'verification_gap',
    message:
      `on fresh seeds PGR is ${fmt(verificationPgr.mean)} (n=${verificationPgr.n}), below the search ` +
      `result's interval ${fmt(searchPgr.ciLow)} to ${fmt(searchPgr.ciHigh)} (mean ${fmt(searchPgr.mean)})`,
  };
}

function refMean(r: number | ReferenceScore | null): number | null {
  if (r === null) return null;
  const m = typeof r === 'number' ? r : r.mean;
  return isFiniteNumber(m) ? m : null;
}

function seedFailureSummary(seeds: readonly SeedResult[]): string {
  const failed = seeds.filter((s) => s.status === 'failed');
  const cancelled = seeds.length - failed.length;
  const first = failed.find((s) => s.error) ?? seeds.find((s) => s.error);
  const parts = [`${failed.length} failed`];
  if (cancelled > 0) parts.push(`${cancelled} cancelled`);
  const detail = first?.error ? `; seed ${first.seed}: ${first.error.slice(0, 300)}` : '';
  return `no seed succeeded (${parts.join(', ')}${detail})`;
}

/**
 * Where a cascade stopped a trial: the earliest stage that stopped one of its seeds, with the mean
 * score of the seeds it stopped there (null when none gave one); undefined when none was pruned.
 */
export function prunedAt(seeds: readonly SeedResult[]): Pruned | undefined {
  const stopped = seeds.filter((s) => s.status === 'pruned');
  if (stopped.length === 0) return undefined;
  const stage = Math.min(...stopped.map((s) => s.pruned?.stage ?? 1));
  const scores = stopped
    .filter((s) => (s.pruned?.stage ?? 1) === stage)
    .map((s) => s.pruned?.score)
    .filter(isFiniteNumber);
  return {
    stage,
    score: scores.length > 0 ? scores.reduce((a, b) => a + b, 0) / scores.length : null,
  };
}

/**
 * Scores a trial. A trial with a pruned seed is pruned (see {@link prunedAt}): it keeps the
 * metrics it has, has no PGR and is never ranked. Otherwise the trial fails when no seed succeeded (cancelled when every seed was
 * cancelled) or when the objective is missing or non-finite in every succeeded seed; the
 * reason says which. PGR is null while either reference is unknown.
 *
 * @throws UndefinedPgrError when both references are known but coincide.
 */
export function scoreTrial(input: ScoreTrialInput): TrialScore {
  const opts = { ...DEFAULT_SCORING_OPTIONS, ...input.options };
  const { criteria, seeds } = input;
  const { aggregates, nonFinite, computeSeconds } = aggregateTrial(seeds, criteria.confidence);
  const flags: Flag[] = [];
  if (nonFinite.length > 0) {
    const byMetric = new Map<string, string[]>();
    for (const x of nonFinite) {
      const list = byMetric.get(x.metric) ?? [];
      list.push(`seed ${x.seed}: ${String(x.value)}`);
      byMetric.set(x.metric, list);
    }
    const detail = [...byMetric].map(([m, l]) => `${m} (${l.join(', ')})`).join('; ');
    flags.push({
      kind: 'non_finite',
      message: `non-finite values dropped from the aggregates: ${detail}`,
    });
  }
  const constraints = criteria.constraints.map((c) =>
    constraintVerdict(c, aggregates, input.baselineMetricMeans),
  );

  const succeeded = seeds.filter((s) => s.status === 'succeeded');
  const failedSeeds = seeds.filter((s) => s.status === 'failed');
  // Seeds that failed while others succeeded leave an estimate over the survivors: a
  // configuration that fails on its hard seeds would look better than it is. (Cancelled seeds
  // say nothing about the configuration: a stop or a deadline cancelled them.)
  if (succeeded.length > 0 && failedSeeds.length > 0) {
    const first = failedSeeds.find((s) => s.error);
    flags.push({
      kind: 'failed_seeds',
      message:
        `${failedSeeds.length} of ${seeds.length} seeds failed (seeds ${failedSeeds.map((s) => s.seed).join(', ')}); ` +
        `the estimate rests on the ${succeeded.length} that succeeded` +
        (first?.error ? `; seed ${first.seed}: ${first.error.slice(0, 200)}` : ''),
    });
  }
  const objectiveScores = succeeded.map((s) => s.metrics[criteria.metric]).filter(isFiniteNumber);
  const failed = (status: 'failed' | 'cancelled', failureReason: string): TrialScore => ({
    status,
    aggregates,
    pgr: null,
    constraints,
    feasible: false,
    flags,
    computeSeconds,
    failureReason,
    objectiveScores,
  });
  if (seeds.length === 0) return failed('failed', 'the trial has no seed results');
  const pruned = prunedAt(seeds);
  if (pruned)
    return {
      status: 'pruned',
      aggregates,
      pgr: null,
      constraints,
      feasible: false,
      flags,
      computeSeconds,
      pruned,
      objectiveScores,
    };
  if (succeeded.length === 0) {
    const allCancelled = seeds.every((s) => s.status === 'cancelled');
    return allCancelled
      ? failed('cancelled', `all ${seeds.length} seeds were cancelled`)
      : failed('failed', seedFailureSummary(seeds));
  }
  if (objectiveScores.length === 0)
    return failed(
      'failed',
      `objective metric "${criteria.metric}" is missing or not finite in all ${succeeded.length} succeeded seed(s)`,
    );

  const baseline = refMean(input.baselineScore);
  const optimum = refMean(input.optimumScore);
  let pgr: Estimate | null = null;
  if (
    baseline !== null &&
    optimum !== null &&
    input.baselineScore !== null &&
    input.optimumScore !== null
  ) {
    const gap = optimum - baseline;
    pgr = pgrEstimate(
      objectiveScores,
      input.baselineScore,
      input.optimumScore,
      criteria.confidence,
      {
        propagateReferenceError: opts.propagateReferenceError,
      },
    );
    if (pgr.mean > 1 + opts.pgrAboveOneMargin)
      flags.push({
        kind: 'pgr_above_one',
        message: `PGR ${fmt(pgr.mean)} is beyond the optimum (interval ${fmt(pgr.ciLow)} to ${fmt(pgr.ciHigh)}): review before trusting it`,
      });
    if (pgr.n >= 2) {
      const sd = (aggregateSd(objectiveScores) ?? 0) / Math.abs(gap);
      if (sd > opts.highVarianceSd)
        flags.push({
          kind: 'high_variance',
          message: `PGR varies by ${fmt(sd)} (standard deviation) across ${pgr.n} seeds; more seeds would help`,
        });
    }
    flags.push(
      ...hiddenGapFlags(
        criteria.metric,
        aggregates,
        input.hiddenMetrics ?? hiddenGapMetricsOf(criteria),
        gap,
        opts.hiddenGapThreshold,
        input.baselineMetricMeans,
        opts.hiddenGapInterval
          ? {
              seeds: succeeded,
              confidence: criteria.confidence,
              ...(input.baselineBySeed ? { baseline: input.baselineBySeed } : {}),
              ...(input.pgrFloor ? { floorVariance: input.pgrFloor.variance } : {}),
            }
          : undefined,
      ),
    );
  }
  return {
    status: 'succeeded',
    aggregates,
    pgr,
    constraints,
    feasible: constraints.every((v) => v.ok),
    flags,
    computeSeconds,
    objectiveScores,
  };
}

function aggregateSd(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const e = estimate(values, 0.95);
  return e.stderr * Math.sqrt(e.n);
}

export { openFlags, REVIEW_FLAGS, trustState, type FlagState } from './trust.js';

/** What ranking needs of a trial. */
export type RankableTrial = Pick<Trial, 'feasible'> & {
  /** Any status (a record may be `running`): only `succeeded` trials rank. */
  status: string;
  pgr: Pick<Estimate, 'mean' | 'ciLow'> | null;
  /** Review flags: a trial with an open or confirmed flag is never ranked. */
  flags: readonly FlagState[];
};

/**
 * Succeeded, feasible, eligible (no open or confirmed review flag) trials with a PGR, best
 * first: by PGR lower confidence bound, then by PGR mean, then earlier first (stable).
 * Everything else is left out: a trial under review is never the best, never the reason for a
 * target stop and never a leader offered to strategies.
 */
export function rankTrials<T extends RankableTrial>(trials: readonly T[]): T[] {
  return trials
    .map((t, i) => ({ t, i }))
    .filter(({ t }) => eligible(t))
    .sort((a, b) => compareRank(a.t, b.t) || a.i - b.i)
    .map(({ t }) => t);
}

/** Whether a trial may be ranked at all (see {@link rankTrials}). */
export const eligible = (t: RankableTrial): boolean =>
  t.status === 'succeeded' && t.feasible && t.pgr !== null && trustState(t.flags) === 'eligible';

/** Negative when a ranks before b (compares without subtracting: bounds may be ±UNBOUNDED). */
function compareRank(a: RankableTrial, b: RankableTrial): number {
  const pa = a.pgr!;
  const pb = b.pgr!;
  if (pa.ciLow !== pb.ciLow) return pa.ciLow > pb.ciLow ? -1 : 1;
  if (pa.mean !== pb.mean) return pa.mean > pb.mean ? -1 : 1;
  return 0;
}

/** The best trial by {@link rankTrials} (earliest among exact ties), or null when none qualifies. Linear time. */
export function bestTrial<T extends RankableTrial>(trials: readonly T[]): T | null {
  let best: T | null = null;
  for (const t of trials) if (eligible(t) && (best === null || compareRank(t, best) < 0)) best = t;
  return best;
}

// ---------------------------------------------------------------------------------------------
// Verification verdict
// ---------------------------------------------------------------------------------------------

/** The one word a report ends with about its best trial (domain/verdict.ts). */
export type Verdict = VerdictWord;

/** Each word's plain text without the target qualifier; screens use `verdictLabel`. */
export const VERDICT_WORDS: Record<Verdict, string> = {
  verified: 'verified',
  held_up_not_significant: 'held up, not significant',
  failed_verification: 'failed verification',
  not_verified: 'not verified',
};
