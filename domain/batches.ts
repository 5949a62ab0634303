/**
 * Seed batches: short seeds run several to a slot, one after another in one experiment activity,
 * so the round trip between a seed's end and the next seed's start (a workflow task, an activity
 * dispatch: tens of milliseconds) is paid once per batch instead of once per seed. A batch holds
 * about BATCH_SECONDS of typical work, so long seeds (the usual case) still run one per activity
 * and report the moment they finish; only seeds much shorter than that are grouped.
 */

/** Work one batch aims to hold, in seconds of typical successful seed time. */
export const BATCH_SECONDS = 5;
/** Most seeds in one batch. */
export const MAX_BATCH = 16;
/** Successful seeds seen before seeds are batched at all. */
export const BATCH_MIN_SUCCESSES = 5;

/**
 * How many seeds one slot runs back to back: BATCH_SECONDS over the 90th percentile of the
 * successful seeds' durations, between 1 and MAX_BATCH; 1 (no batching) until
 * BATCH_MIN_SUCCESSES seeds have succeeded.
 */
export function seedBatchSize(successDurations: readonly number[]): number {
  const ok = successDurations.filter((d) => Number.isFinite(d) && d >= 0);
  if (ok.length < BATCH_MIN_SUCCESSES) return 1;
  const sorted = [...ok].sort((a, b) => a - b);
  const p90 = sorted[Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)]!;
  // A seed that reports 0 s still costs its start-up: count at least 10 ms.
  const n = Math.floor(BATCH_SECONDS / Math.max(0.01, p90));
  return Math.max(1, Math.min(MAX_BATCH, n));
}

/**
 * How many of `waiting` seeds the next free slot takes: up to `batch`, but no more than an even
 * share across the `slots`, so the last seeds of a campaign spread over every slot instead of
 * piling onto the first.
 */
export function batchTake(waiting: number, batch: number, slots: number): number {
  if (waiting <= 0) return 0;
  return Math.max(1, Math.min(batch, Math.ceil(waiting / Math.max(1, slots))));
}
