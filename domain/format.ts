/**
 * Numbers as every screen shows them: the report (markdown, JSON headline, `gaplab report`), the
 * demo, the campaign page, the leaderboard, the trials table, the lineage and the compare view.
 * One formatter, so one trial's interval reads the same everywhere.
 *
 * Precision follows what the number has:
 * - an estimate and its bounds share one number of decimals, so "0.999 [1.00, 1.00]" cannot
 *   happen: 3 decimals, more (up to 6) while the interval is narrower than a few units of the
 *   last decimal, so a mean and bounds that differ print differently;
 * - a bound that does not exist (one seed: `UNBOUNDED` in domain/stats.ts) prints as
 *   "[unbounded]", never as a huge number;
 * - a value a person set (a target, a PGR given as a number) prints with the fewest decimals
 *   (2 to 6) that give it back exactly: 0.999 is "0.999", never "1.00"; 0.8 is "0.80".
 *
 * Pure: no imports beyond the domain.
 */
import type { Estimate, Pruned } from './trial.js';

/**
 * The finite stand-in for an infinite bound (an interval from one seed): finite so that it
 * survives JSON, and far from any real PGR. Declared here, not in stats.ts, so the web UI can
 * format intervals without bundling the statistics library.
 */
export const UNBOUNDED = Number.MAX_VALUE;

/** What formatting an estimate needs: its mean and bounds. */
export type Interval = Pick<Estimate, 'mean' | 'ciLow' | 'ciHigh'>;

const MISSING = '—';
const MIN_DECIMALS = 3;
const MAX_DECIMALS = 6;

/** Whether both bounds exist (not the ±UNBOUNDED stand-in, not a non-finite or null value). */
export function isBounded(e: { ciLow: number | null; ciHigh: number | null }): boolean {
  return (
    typeof e.ciLow === 'number' &&
    typeof e.ciHigh === 'number' &&
    Number.isFinite(e.ciLow) &&
    Number.isFinite(e.ciHigh) &&
    Math.abs(e.ciLow) < UNBOUNDED / 2 &&
    Math.abs(e.ciHigh) < UNBOUNDED / 2
  );
}

/**
 * Decimals for an estimate: 3, and more while the interval's half-width is under 5 units of the
 * last decimal (a half-width of 0.0004 shows 5 decimals), at most 6.
 */
export function estimateDecimals(e: Interval): number {
  if (!isBounded(e)) return MIN_DECIMALS;
  const half = Math.max(e.mean - e.ciLow, e.ciHigh - e.mean);
  if (!(half > 0)) return MIN_DECIMALS;
  let d = MIN_DECIMALS;
  while (d < MAX_DECIMALS && half < 5 * 10 ** -d) d++;
  return d;
}

/** A number at a fixed number of decimals; `—` when missing or not finite. */
export function formatFixed(x: number | null | undefined, decimals = MIN_DECIMALS): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) return MISSING;
  const s = x.toFixed(decimals);
  // No "-0.000": a value that rounds to zero prints as zero.
  return /^-0\.?0*$/.test(s) ? s.slice(1) : s;
}

/** `0.592 [0.409, 0.774]`, `0.644 [unbounded]` (one seed) or `—`. */
export function formatEstimate(e: Interval | null | undefined): string {
  if (!e || typeof e.mean !== 'number' || !Number.isFinite(e.mean)) return MISSING;
  const d = estimateDecimals(e);
  if (!isBounded(e)) return `${formatFixed(e.mean, d)} [unbounded]`;
  return `${formatFixed(e.mean, d)} [${formatFixed(e.ciLow, d)}, ${formatFixed(e.ciHigh, d)}]`;
}

/** An estimate's interval alone: `[0.409, 0.774]`, `[unbounded]` or `—`. */
export function formatInterval(e: Interval | null | undefined): string {
  if (!e || typeof e.mean !== 'number' || !Number.isFinite(e.mean)) return MISSING;
  if (!isBounded(e)) return '[unbounded]';
  const d = estimateDecimals(e);
  return `[${formatFixed(e.ciLow, d)}, ${formatFixed(e.ciHigh, d)}]`;
}

/** An estimate's mean at the estimate's precision (the same digits as {@link formatEstimate}). */
export function formatMean(e: Interval | null | undefined): string {
  if (!e) return MISSING;
  return formatFixed(e.mean, estimateDecimals(e));
}

/**
 * A value a person set (a target PGR, a reference given as a number): the fewest decimals, 2 to
 * 6, that give it back: 0.999 → "0.999", 0.8 → "0.80", 1 → "1.00".
 */
export function formatExact(x: number | null | undefined): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) return MISSING;
  for (let d = 2; d < MAX_DECIMALS; d++) {
    const s = x.toFixed(d);
    if (Math.abs(Number(s) - x) <= Math.abs(x) * 1e-12) return formatFixed(x, d);
  }
  return formatFixed(x, MAX_DECIMALS);
}

/** How every screen names a pruned trial or seed: `pruned at stage 1 (score 0.412)`. */
export function formatPruned(p: Pruned): string {
  return `pruned at stage ${p.stage}${p.score === null ? '' : ` (score ${formatFixed(p.score, 3)})`}`;
}
