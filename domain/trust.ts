/**
 * Trust states of trials, from their review flags. Its own small module (types only) so the web
 * UI can derive a trial's state exactly as the campaign does.
 */
import type { Flag, TrustState } from './schemas.js';

/** Flags that put a trial under review until a PI clears them: every kind there is. */
export const REVIEW_FLAGS: ReadonlySet<Flag['kind']> = new Set<Flag['kind']>([
  'pgr_above_one',
  'hidden_gap',
  'non_finite',
  'high_variance',
  'verification_gap',
  'failed_seeds',
]);

/**
 * Review flags raised by hidden data: a hidden metric short of the visible one, and a
 * verification (fresh seeds, which the search never shows, scored on the hidden metrics too;
 * every failure of a verification, beyond the optimum included, is one `verification_gap`).
 * Nothing a strategy sees may depend on them: not the trial's mark, not the pooled standard-error
 * floor that sets every trial's interval.
 */
export const HIDDEN_FLAGS: ReadonlySet<Flag['kind']> = new Set<Flag['kind']>([
  'hidden_gap',
  'verification_gap',
]);

/** A trial's flags that visible data raised. */
export function visibleFlags<F extends Pick<Flag, 'kind'>>(flags: readonly F[]): F[] {
  return flags.filter((f) => !HIDDEN_FLAGS.has(f.kind));
}

/** What trust needs of a flag. */
export type FlagState = Pick<Flag, 'kind'> & { cleared?: unknown; confirmed?: unknown };

/**
 * A trial's trust state from its flags: `excluded` once a PI confirmed any flag, `under_review`
 * while a review flag is neither cleared nor confirmed, `eligible` otherwise.
 */
export function trustState(flags: readonly FlagState[]): TrustState {
  if (flags.some((f) => f.confirmed)) return 'excluded';
  if (flags.some((f) => REVIEW_FLAGS.has(f.kind) && !f.cleared)) return 'under_review';
  return 'eligible';
}

/** The open review flags of a trial (neither cleared nor confirmed), for "under review: ..." marks. */
export function openFlags<F extends FlagState>(flags: readonly F[]): F[] {
  return flags.filter((f) => REVIEW_FLAGS.has(f.kind) && !f.cleared && !f.confirmed);
}
