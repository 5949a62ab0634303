/**
 * Seed batches: short seeds run several to a slot, one after another in one experiment activity,
 * so the round trip between a seed's end and the next seed's start (a workflow task, an activity
 * dispatch: tens of milliseconds) is paid once per batch instead of once per seed. A batch holds
 * about BATCH_SECONDS of typical work, so long seeds (the usual case) still run one per activity
 * and report the moment they finish; only seeds much shorter than that are grouped
 * (docs/decisions/0004-short-seeds-batched.md).
 */

/** Work one batch aims to hold, in seconds of typical successful seed time. */
export const BATCH_SECONDS = 5;
/** How far over BATCH_SECONDS a batch may go rather than hold one seed fewer. */
export const BATCH_SLACK = 1.1;
/** Most seeds in one batch. */
export const MAX_BATCH = 16;
/** Successful seeds seen before seeds are batched at all. */
export const BATCH_MIN_SUCCESSES = 5;

/**
 * How many seeds one slot runs back to back: BATCH_SECONDS (up to a tenth more) over the 90th
 * percentile of the successful seeds' durations, between 1 and MAX_BATCH; 1 (no batching) until
 * BATCH_MIN_SUCCESSES seeds have succeeded.
 */
export function seedBatchSize(
  successDurations: readonly number[],
  slack: number = BATCH_SLACK,
): number {
  const ok = successDurations.filter((d) => Number.isFinite(d) && d >= 0);
  if (ok.length < BATCH_MIN_SUCCESSES) return 1;
  const sorted = [...ok].sort((a, b) => a - b);
  const p90 = sorted[Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)]!;
  // A seed that reports 0 s still costs its start-up: count at least 10 ms. Up to a tenth over:
  // five seeds of 1.01 s are "about 5 s" (four would make a quarter more batches).
  const n = Math.floor((BATCH_SECONDS * slack) / Math.max(0.01, p90));
  return Math.max(1, Math.min(MAX_BATCH, n));
}

/**
 * How many seeds the next free slot takes: up to `batch` of the `available` ones, but no more
 * than an even share of the `remaining` work across the `slots` (every seed not yet taken, the
 * trials not yet started included; `available` when unknown), so the last seeds of a campaign
 * spread over every slot instead of piling onto the first. The share is of the campaign's
 * remaining work, not of the queue: a short queue between two strategy calls does not shrink
 * every batch.
 */
export function batchTake(
  available: number,
  batch: number,
  slots: number,
  remaining: number = available,
): number {
  if (available <= 0) return 0;
  const share = Math.ceil(Math.max(available, remaining) / Math.max(1, slots));
  return Math.max(1, Math.min(batch, available, share));
}
