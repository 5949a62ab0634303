/**
 * Constraint verdicts: whether a trial's metric means meet the criteria's constraints (absolute
 * limits, or a factor of the baseline's mean). The campaign judges feasibility with these
 * (scoring.ts) and keeps them on the trial (`Trial.constraints`), which readers show as recorded;
 * the API judges again with the same rule only for records from before verdicts were kept.
 * Imports nothing but schema types.
 */
import type { Constraint, ConstraintOp, ConstraintVerdict, Estimate } from './schemas.js';

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Compact number for messages: 4 significant digits. */
export function fmt(x: number): string {
  return Number.isFinite(x) ? String(Number(x.toPrecision(4))) : String(x);
}

/** Metric means; a missing or non-finite mean counts as not reported. */
export type MetricMeans = Readonly<Record<string, number | null | undefined>>;

function compare(value: number, op: ConstraintOp, limit: number): boolean {
  // Non-strict comparisons forgive rounding (1.1 x 0.52 is 0.5720000000000001).
  const eps = 1e-9 * Math.max(1, Math.abs(limit));
  switch (op) {
    case '<=':
      return value <= limit + eps;
    case '>=':
      return value >= limit - eps;
    case '<':
      return value < limit;
    case '>':
      return value > limit;
  }
}

/**
 * Human-readable constraint, e.g. `latency <= 1.1 x baseline (0.572)`: the number in brackets is
 * the resulting limit, or "baseline not measured" when the baseline mean is unknown.
 */
export function describeConstraint(c: Constraint, baselineMetricMeans?: MetricMeans): string {
  if (c.kind === 'absolute') return `${c.metric} ${c.op} ${fmt(c.value)}`;
  const base = baselineMetricMeans?.[c.metric];
  const limit = isFiniteNumber(base) ? fmt(c.factor * base) : 'baseline not measured';
  return `${c.metric} ${c.op} ${fmt(c.factor)} x baseline (${limit})`;
}

/**
 * Verdict of one constraint on a metric's mean (over a trial's succeeded seeds). A missing
 * mean, or a relative constraint whose baseline mean is unknown, fails the constraint (limit is
 * then reported as 0 and the description says why).
 */
export function constraintVerdictOfMean(
  c: Constraint,
  mean: number | null | undefined,
  baselineMetricMeans?: MetricMeans,
): ConstraintVerdict {
  const value = isFiniteNumber(mean) ? mean : null;
  const description = describeConstraint(c, baselineMetricMeans);
  let limit: number | null;
  if (c.kind === 'absolute') limit = c.value;
  else {
    const base = baselineMetricMeans?.[c.metric];
    limit = isFiniteNumber(base) ? c.factor * base : null;
  }
  const ok = value !== null && limit !== null && compare(value, c.op, limit);
  return {
    description: value === null ? `${description}: metric not reported` : description,
    metric: c.metric,
    value,
    limit: limit ?? 0,
    ok,
  };
}

/** Verdict of one constraint on a trial, judged on the metric's mean over succeeded seeds. */
export function constraintVerdict(
  c: Constraint,
  aggregates: Readonly<Record<string, Estimate>>,
  baselineMetricMeans?: MetricMeans,
): ConstraintVerdict {
  return constraintVerdictOfMean(c, aggregates[c.metric]?.mean, baselineMetricMeans);
}

/** Verdicts of every constraint on a trial's metric means, as the API reports the means. */
export function constraintVerdicts(
  constraints: readonly Constraint[],
  means: MetricMeans,
  baselineMetricMeans?: MetricMeans,
): ConstraintVerdict[] {
  return constraints.map((c) => constraintVerdictOfMean(c, means[c.metric], baselineMetricMeans));
}

/**
 * A verdict on a hidden metric as a reader who may not see its values gets it: whether it held
 * (feasibility says as much), not the mean or the limit (a relative limit is the baseline's
 * hidden mean times a factor).
 */
export function withheldVerdict(v: ConstraintVerdict): ConstraintVerdict {
  return {
    description: `${v.metric}: a hidden metric, its values withheld`,
    metric: v.metric,
    value: null,
    limit: 0,
    ok: v.ok,
    withheld: true,
  };
}
