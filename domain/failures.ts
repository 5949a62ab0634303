/**
 * Failures are information. A failed or timed-out trial says something about where it ran: this
 * module turns a campaign's failures into what the report shows (compute spent on failures, the
 * regions where they repeat), what the random and Optuna strategies use to give the neighbourhood
 * of earlier failures less weight, and how long a seed may run once successful seeds show how
 * long it takes. Pure and deterministic: workflow code imports it.
 */
import { z } from 'zod';
import type { Config, Param, Trial } from './schemas.js';
import { activeParams, distance } from './space.js';

// ---------------------------------------------------------------------------------------------
// What a failure is
// ---------------------------------------------------------------------------------------------

export const FailureKind = z.enum(['timeout', 'crash']);
export type FailureKind = z.infer<typeof FailureKind>;

/** How the runners word a timeout (experiments/runner.ts): "timed out after 2 s". */
const TIMEOUT = /\btimed out after\b/i;

/** A failure's kind from its reason: a seed stopped at its time limit, or anything else. */
export function failureKind(reason: string | undefined): FailureKind {
  return reason !== undefined && TIMEOUT.test(reason) ? 'timeout' : 'crash';
}

/** The fields of a finished trial this module reads (a TrialSummary or a TrialView has them). */
export type FailureTrial = Pick<Trial, 'id' | 'params' | 'status' | 'failureReason'> &
  Partial<Pick<Trial, 'computeSeconds'>>;

// ---------------------------------------------------------------------------------------------
// Failure regions (for the report)
// ---------------------------------------------------------------------------------------------

export const ParamRange = z.union([
  z.object({ low: z.number(), high: z.number() }),
  z.object({ values: z.array(z.union([z.string(), z.number(), z.boolean()])) }),
]);
export type ParamRange = z.infer<typeof ParamRange>;

export const FailureRegion = z.object({
  kind: FailureKind,
  /** Failed trials in the region. */
  trials: z.number().int().min(1),
  /** Their ids (the first few). */
  trialIds: z.array(z.string()),
  computeSeconds: z.number().nonnegative(),
  /** Per parameter active in the region's failures: the range (numbers) or the values seen. */
  ranges: z.record(z.string(), ParamRange),
  /** The most frequent failure reason in the region, shortened. */
  reason: z.string(),
});
export type FailureRegion = z.infer<typeof FailureRegion>;

export const FailureSummary = z.object({
  /** Finished search trials (succeeded, failed or cancelled). */
  trials: z.number().int().nonnegative(),
  failedTrials: z.number().int().nonnegative(),
  /** Failed trials whose seeds hit their time limit. */
  timedOutTrials: z.number().int().nonnegative(),
  /** Compute-seconds spent on failed trials. */
  computeSeconds: z.number().nonnegative(),
  /** Compute-seconds of every finished search trial. */
  totalComputeSeconds: z.number().nonnegative(),
  /** Regions of repeated failures, largest first. */
  regions: z.array(FailureRegion),
});
export type FailureSummary = z.infer<typeof FailureSummary>;

export interface FailureRegionOptions {
  /**
   * Failures closer than this (see {@link distance}: every parameter within this share of its
   * range) belong to one region. @default 0.25
   */
  radius?: number;
  /** Failures a region needs to be reported: a region is where failures repeat. @default 2 */
  minTrials?: number;
  /** Regions reported at most. @default 10 */
  maxRegions?: number;
}

const MAX_IDS = 10;
const MAX_REASON = 200;

/**
 * Regions of repeated failures: failed trials of the same kind (timeout or crash) linked when
 * within `radius` of each other (single linkage), kept when a group has at least `minTrials`.
 * Each region gives the parameter ranges its failures cover, which is what a researcher reads
 * ("x1 in [-5, -2.9] hangs").
 */
export function failureRegions(
  space: readonly Param[],
  trials: readonly FailureTrial[],
  options: FailureRegionOptions = {},
): FailureRegion[] {
  const radius = options.radius ?? 0.25;
  const minTrials = options.minTrials ?? 2;
  const maxRegions = options.maxRegions ?? 10;
  const failed = trials.filter((t) => t.status === 'failed');
  const kinds = failed.map((t) => failureKind(t.failureReason));
  // Union-find over the failures; O(n^2) distances, bounded by the trials a campaign keeps.
  const parent = failed.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  for (let i = 0; i < failed.length; i++)
    for (let j = i + 1; j < failed.length; j++)
      if (
        kinds[i] === kinds[j] &&
        find(i) !== find(j) &&
        distance(space, failed[i]!.params, failed[j]!.params) <= radius
      )
        parent[find(j)] = find(i);

  const groups = new Map<number, number[]>();
  failed.forEach((_, i) => groups.set(find(i), [...(groups.get(find(i)) ?? []), i]));
  const regions: FailureRegion[] = [];
  for (const members of groups.values()) {
    if (members.length < minTrials) continue;
    const ts = members.map((i) => failed[i]!);
    regions.push({
      kind: kinds[members[0]!]!,
      trials: ts.length,
      trialIds: ts.slice(0, MAX_IDS).map((t) => t.id),
      computeSeconds: round(ts.reduce((s, t) => s + (t.computeSeconds ?? 0), 0)),
      ranges: rangesOf(space, ts),
      reason: mostFrequent(ts.map((t) => (t.failureReason ?? 'unknown').slice(0, MAX_REASON))),
    });
  }
  regions.sort((a, b) => b.trials - a.trials || b.computeSeconds - a.computeSeconds);
  return regions.slice(0, maxRegions);
}

function rangesOf(
  space: readonly Param[],
  trials: readonly FailureTrial[],
): FailureRegion['ranges'] {
  const out: FailureRegion['ranges'] = {};
  for (const p of space) {
    const values = trials
      .filter((t) => activeParams(space, t.params).some((a) => a.name === p.name))
      .map((t) => t.params[p.name])
      .filter((v) => v !== undefined);
    if (values.length === 0) continue;
    if (p.kind === 'float' || p.kind === 'int') {
      const xs = values.filter((v): v is number => typeof v === 'number');
      if (xs.length > 0) out[p.name] = { low: Math.min(...xs), high: Math.max(...xs) };
    } else {
      out[p.name] = {
        values: [...new Set(values)].filter(
          (v): v is string | number | boolean =>
            typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean',
        ),
      };
    }
  }
  return out;
}

function mostFrequent(xs: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  let best = xs[0] ?? '';
  for (const [x, n] of counts) if (n > (counts.get(best) ?? 0)) best = x;
  return best;
}

const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * The report's failure section. `totals` carries counts kept over the whole campaign (trials
 * leave memory as a long campaign goes on); without it they are counted from `trials`.
 */
export function summarizeFailures(
  space: readonly Param[],
  trials: readonly FailureTrial[],
  totals?: Pick<
    FailureSummary,
    'trials' | 'failedTrials' | 'timedOutTrials' | 'computeSeconds' | 'totalComputeSeconds'
  >,
  options: FailureRegionOptions = {},
): FailureSummary {
  const counted = totals ?? failureTotals(trials);
  return { ...counted, regions: failureRegions(space, trials, options) };
}

/** Counts and compute-seconds of `trials`, failed and all. */
export function failureTotals(trials: readonly FailureTrial[]): Omit<FailureSummary, 'regions'> {
  const failed = trials.filter((t) => t.status === 'failed');
  return {
    trials: trials.length,
    failedTrials: failed.length,
    timedOutTrials: failed.filter((t) => failureKind(t.failureReason) === 'timeout').length,
    computeSeconds: round(failed.reduce((s, t) => s + (t.computeSeconds ?? 0), 0)),
    totalComputeSeconds: round(trials.reduce((s, t) => s + (t.computeSeconds ?? 0), 0)),
  };
}

// ---------------------------------------------------------------------------------------------
// Down-weighting the neighbourhood of failures (random search, Optuna's suggestions)
// ---------------------------------------------------------------------------------------------

export interface FailureKernelOptions {
  /** Kernel width, in {@link distance} units (share of each parameter's range). @default 0.1 */
  bandwidth?: number;
  /** The largest rejection probability: no region is ever ruled out completely. @default 0.98 */
  maxRejection?: number;
}

/**
 * How strongly `config` sits among earlier failures: the sum over failures of a Gaussian kernel
 * exp(-d^2 / 2h^2) of their distance. One failure at the same place gives 1, two give 2.
 */
export function failurePressure(
  space: readonly Param[],
  config: Config,
  failures: readonly Config[],
  options: FailureKernelOptions = {},
): number {
  const h = options.bandwidth ?? 0.1;
  let sum = 0;
  for (const f of failures) {
    const d = distance(space, config, f);
    if (d < 4 * h) sum += Math.exp(-(d * d) / (2 * h * h));
  }
  return sum;
}

/**
 * The probability with which a sample at `config` is rejected and drawn again: 1 - exp(-p/2) for
 * failure pressure p, capped at `maxRejection`. One failure right there rejects 39% of samples,
 * two 63%, three 78%, five 92%: a single failure (perhaps bad luck) costs little, repeated
 * failures close a region almost entirely.
 */
export function failureRejection(
  space: readonly Param[],
  config: Config,
  failures: readonly Config[],
  options: FailureKernelOptions = {},
): number {
  if (failures.length === 0) return 0;
  const p = failurePressure(space, config, failures, options);
  return Math.min(options.maxRejection ?? 0.98, 1 - Math.exp(-p / 2));
}

// ---------------------------------------------------------------------------------------------
// Adaptive timeouts
// ---------------------------------------------------------------------------------------------

export interface AdaptiveTimeoutOptions {
  /** Successful seeds needed before the timeout adapts. @default 5 */
  minSuccesses?: number;
  /** The timeout is at least this multiple of the 95th percentile of successful durations. @default 3 */
  multiple?: number;
  /** ... and at least this multiple of the longest successful duration. @default 2 */
  longestMultiple?: number;
  /** ... and never below this many seconds. @default 1 */
  floorSeconds?: number;
  /**
   * ... nor below this share of the experiment's limit. Run time often depends on parameters
   * (epochs, sizes) the successes so far did not cover: a quarter of the limit leaves room for a
   * slower configuration. @default 0.25
   */
  floorShare?: number;
}

/** Nearest-rank quantile of a non-empty sample. */
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/**
 * The time limit of a seed: the experiment's own limit until `minSuccesses` seeds succeeded,
 * then max(multiple x p95, longestMultiple x longest, floor) of the successful durations, never
 * above the limit. A hang is then stopped after a few typical run times instead of waiting out a
 * limit set for the worst case; no configuration that ever succeeded would have been stopped by
 * it (longestMultiple > 1). Rounded up to a tenth of a second.
 */
export function adaptiveTimeoutSeconds(
  successDurations: readonly number[],
  limitSeconds: number,
  options: AdaptiveTimeoutOptions = {},
): number {
  const ok = successDurations.filter((d) => Number.isFinite(d) && d >= 0);
  if (ok.length < (options.minSuccesses ?? 5)) return limitSeconds;
  const floor = Math.max(options.floorSeconds ?? 1, (options.floorShare ?? 0.25) * limitSeconds);
  const adaptive = Math.max(
    floor,
    (options.multiple ?? 3) * quantile(ok, 0.95),
    (options.longestMultiple ?? 2) * Math.max(...ok),
  );
  return Math.min(limitSeconds, Math.ceil(adaptive * 10) / 10);
}
