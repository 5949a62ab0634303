/**
 * Why the campaign stops starting work (a drain: nothing new starts, running trials finish, then
 * it stops): the target verified, a budget used, stagnation, or nothing left to run. Pure over
 * the carried data; Lifecycle (lifecycle.ts) keeps the drain once found.
 */
import { exhausted, isStagnant, type StopReason } from '../../../domain/budget.js';
import { formatEstimate, formatExact } from '../../../domain/format.js';
import type { StateContext } from './context.js';

/** A reason to wind down, and the sentence that says why. */
export interface Drain {
  reason: StopReason;
  detail: string;
}

/**
 * The drain due now, if any, and the best trial that reached the target and waits for its
 * verification (the campaign verifies it before it stops at the target).
 */
export function drainReason(
  ctx: StateContext,
  nowMs: number,
  idleReason: StopReason | undefined,
  strategyFailure: string | undefined,
): { drain: Drain | null; targetCandidate?: string } {
  const d = ctx.data;
  const criteria = ctx.criteria;
  let targetCandidate: string | undefined;
  const found = (drain: Drain | null) => ({
    drain,
    ...(targetCandidate ? { targetCandidate } : {}),
  });
  // The target stops the campaign only once the best eligible trial that reached it held up
  // on fresh seeds and hidden metrics: until its verification is back the campaign goes on;
  // one that fails is flagged (and so no longer best) and the search continues.
  const best = ctx.bestSearch();
  if (best?.pgr && best.pgr.ciLow >= criteria.targetPgr) {
    const v = ctx.verificationOf(best.id);
    // Only a verdict that is verified and met the target stops at the target: the stop reason
    // never contradicts the report's verdict.
    if (v?.verdict === 'verified' && v.checks?.metTarget !== false)
      return found({
        reason: 'target_verified',
        detail:
          `${best.id} reached PGR ${formatEstimate(best.pgr)}, lower bound >= target ${formatExact(criteria.targetPgr)}, ` +
          `and was verified on ${v.freshPgr?.n ?? 0} fresh seeds (PGR ${formatEstimate(v.freshPgr)})`,
      });
    if (!v) targetCandidate = best.id;
  }
  const noWork = d.queue.length === 0 && d.pending.length === 0;
  const spent = exhausted(d.budgets, d.ledger, nowMs);
  // Hypotheses proposed in the last allowed iteration still run.
  if (spent && (spent !== 'max_iterations' || noWork))
    return found({ reason: spent, detail: `budget used: ${spent}` });
  if (criteria.stagnation && isStagnant(d.stagnation, criteria.stagnation)) {
    return found({
      reason: 'stagnation',
      detail: `no improvement of the best PGR lower bound by ${criteria.stagnation.minImprovement} in ${criteria.stagnation.iterations} iterations`,
    });
  }
  if (idleReason && noWork) {
    const detail =
      idleReason === 'strategy_failed'
        ? `strategy failed: ${strategyFailure}`
        : `nothing left to run (${idleReason})`;
    return found({ reason: idleReason, detail });
  }
  return found(null);
}
