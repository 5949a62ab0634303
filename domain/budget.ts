/**
 * The campaign's budget ledger and stop rules, as plain data and pure functions so the campaign
 * workflow can keep the ledger in its state, carry it across continue-as-new and answer queries.
 */
import { z } from 'zod';
import type { Budgets, Stagnation } from './schemas.js';

/** Why a campaign stopped. */
export const StopReason = z.enum([
  /** The best eligible trial reached the target and its verification (fresh seeds, hidden metrics) held. */
  'target_verified',
  /** Records written before a target had to be verified. */
  'target_reached',
  /** The measured optimum is within noise of the baseline: PGR would be noise. */
  'references_within_noise',
  /**
   * The measured references make PGR meaningless: the optimum is no better than the baseline
   * for the criteria's direction (criteria whose references are numbers are refused when set).
   */
  'references_invalid',
  'max_trials',
  'max_iterations',
  'deadline',
  'max_dollars',
  'max_compute',
  'stagnation',
  'stopped_by_pi',
  'strategy_failed',
  /** The strategy's API stayed unavailable (overload, rate limits) for too many rounds in a row. */
  'strategy_unavailable',
  /** A model reply reported more usage than its request could produce: charged, and stopped. */
  'usage_anomaly',
  'no_proposals',
  'error',
]);
export type StopReason = z.infer<typeof StopReason>;

/** Stop reasons as a person reads them (the web UI, the webhook messages). */
export const STOP_REASON_TEXT: Record<StopReason, string> = {
  target_verified: 'target PGR reached and verified on fresh seeds',
  target_reached: 'target PGR reached (not verified: an older record)',
  references_within_noise: 'the measured optimum is within noise of the baseline',
  references_invalid: 'the measured optimum is no better than the baseline: check the criteria',
  max_trials: 'trial budget used up',
  max_iterations: 'iteration budget used up',
  deadline: 'wall-clock deadline reached',
  max_dollars: 'dollar budget used up',
  max_compute: 'compute budget used up',
  stagnation: 'no improvement (stagnation rule)',
  stopped_by_pi: 'stopped by the PI',
  strategy_failed: 'the strategy failed',
  strategy_unavailable: "the strategy's API stayed unavailable",
  usage_anomaly: 'a model reply reported impossible usage',
  no_proposals: 'the strategy had no more proposals',
  error: 'stopped on an error',
};

/** The stop reasons a budget can give. */
export type BudgetStopReason = Extract<
  StopReason,
  'max_trials' | 'max_iterations' | 'deadline' | 'max_dollars' | 'max_compute'
>;

/** What a campaign has used. Trials count search trials only (references and verification are free, as Budgets says). */
export const BudgetLedger = z.object({
  trialsStarted: z.number().int().nonnegative(),
  trialsFinished: z.number().int().nonnegative(),
  iterations: z.number().int().nonnegative(),
  dollars: z.number().nonnegative(),
  computeSeconds: z.number().nonnegative(),
  /** Campaign start, epoch milliseconds (workflow time). */
  startedAtMs: z.number(),
});
export type BudgetLedger = z.infer<typeof BudgetLedger>;

export function emptyLedger(startedAtMs: number): BudgetLedger {
  return {
    trialsStarted: 0,
    trialsFinished: 0,
    iterations: 0,
    dollars: 0,
    computeSeconds: 0,
    startedAtMs,
  };
}

/** What is left of each budget that is set (never negative); unset budgets are absent. Same shape as StrategyView.budgetLeft. */
export interface BudgetLeft {
  trials?: number;
  iterations?: number;
  dollars?: number;
  computeSeconds?: number;
  wallSeconds?: number;
}

export function remaining(budgets: Budgets, ledger: BudgetLedger, nowMs: number): BudgetLeft {
  const left: BudgetLeft = {};
  const pos = (x: number) => Math.max(0, x);
  if (budgets.maxTrials !== undefined) left.trials = pos(budgets.maxTrials - ledger.trialsStarted);
  if (budgets.maxIterations !== undefined)
    left.iterations = pos(budgets.maxIterations - ledger.iterations);
  if (budgets.maxDollars !== undefined) left.dollars = pos(budgets.maxDollars - ledger.dollars);
  if (budgets.maxComputeSeconds !== undefined)
    left.computeSeconds = pos(budgets.maxComputeSeconds - ledger.computeSeconds);
  if (budgets.maxWallSeconds !== undefined)
    left.wallSeconds = pos(budgets.maxWallSeconds - (nowMs - ledger.startedAtMs) / 1000);
  return left;
}

/** What is left of each budget, in the status's shape: null for a budget that is not set. */
export function remainingOrNull(
  budgets: Budgets,
  ledger: BudgetLedger,
  nowMs: number,
): Record<'trials' | 'iterations' | 'dollars' | 'computeSeconds' | 'wallSeconds', number | null> {
  const left = remaining(budgets, ledger, nowMs);
  return {
    trials: left.trials ?? null,
    iterations: left.iterations ?? null,
    dollars: left.dollars ?? null,
    computeSeconds: left.computeSeconds ?? null,
    wallSeconds: left.wallSeconds ?? null,
  };
}

/**
 * Seconds a campaign has run: up to `nowMs` while it runs, up to its end once it finished, so a
 * finished campaign's time stands still whether or not it had a wall-clock budget. A finished
 * status without `endedAtMs` (from a server before it) is dated by what its wall budget had left,
 * or, with no wall budget, by `nowMs`.
 */
export function elapsedSeconds(
  s: {
    phase: string;
    ledger: Pick<BudgetLedger, 'startedAtMs'>;
    budgets: Pick<Budgets, 'maxWallSeconds'>;
    remaining: Record<string, number | null>;
    endedAtMs?: number | undefined;
  },
  nowMs: number,
): number {
  if (s.endedAtMs !== undefined) return Math.max(0, (s.endedAtMs - s.ledger.startedAtMs) / 1000);
  const left = s.remaining.wallSeconds;
  if (s.phase === 'finished' && s.budgets.maxWallSeconds !== undefined && typeof left === 'number')
    return Math.max(0, s.budgets.maxWallSeconds - left);
  return Math.max(0, (nowMs - s.ledger.startedAtMs) / 1000);
}

/**
 * The first budget used up, or null. "Used up" means no new trial or iteration should begin;
 * trials already running may finish. Checked in this order: deadline, max_dollars, max_compute,
 * max_trials (started search trials), max_iterations.
 *
 * Dollars are charged after the spend, so the dollar budget is used up once the spend reaches
 * it; a budget of 0 stops a campaign only after something was spent (strategies that cost
 * nothing keep going).
 */
export function exhausted(
  budgets: Budgets,
  ledger: BudgetLedger,
  nowMs: number,
): BudgetStopReason | null {
  if (
    budgets.maxWallSeconds !== undefined &&
    nowMs - ledger.startedAtMs >= budgets.maxWallSeconds * 1000
  )
    return 'deadline';
  if (
    budgets.maxDollars !== undefined &&
    ledger.dollars > 0 &&
    ledger.dollars >= budgets.maxDollars
  )
    return 'max_dollars';
  if (budgets.maxComputeSeconds !== undefined && ledger.computeSeconds >= budgets.maxComputeSeconds)
    return 'max_compute';
  if (budgets.maxTrials !== undefined && ledger.trialsStarted >= budgets.maxTrials)
    return 'max_trials';
  if (budgets.maxIterations !== undefined && ledger.iterations >= budgets.maxIterations)
    return 'max_iterations';
  return null;
}

/** Whether one more search trial may start now: no budget used up and fewer than `concurrency` trials running. */
export function canStartTrial(budgets: Budgets, ledger: BudgetLedger, nowMs: number): boolean {
  const running = ledger.trialsStarted - ledger.trialsFinished;
  return exhausted(budgets, ledger, nowMs) === null && running < budgets.concurrency;
}

/** Stagnation tracking, small enough to keep in workflow state. */
export interface StagnationState {
  /** The last best lower bound that counted as an improvement; null before any. */
  best: number | null;
  /** Iterations since then. */
  since: number;
}

export const initialStagnation: StagnationState = { best: null, since: 0 };

/**
 * Folds in the best PGR lower bound after one more iteration (null while no trial qualifies).
 * It counts as progress when it beats the last counted value by more than 0 and by at least
 * `minImprovement`; comparing with the last counted value (not the previous iteration) means
 * small steps add up until together they count.
 */
export function stepStagnation(
  state: StagnationState,
  bestLowerBound: number | null,
  minImprovement: number,
): StagnationState {
  if (bestLowerBound === null) return { best: state.best, since: state.since + 1 };
  if (state.best === null) return { best: bestLowerBound, since: 0 };
  const delta = bestLowerBound - state.best;
  return delta > 0 && delta >= minImprovement
    ? { best: bestLowerBound, since: 0 }
    : { best: state.best, since: state.since + 1 };
}

/** Whether the rule says stop: `iterations` consecutive iterations without progress. */
export function isStagnant(state: StagnationState, rule: Stagnation): boolean {
  return state.since >= rule.iterations;
}

/** Stagnation over a whole history of best lower bounds (one per iteration, oldest first). */
export function stagnated(history: readonly (number | null)[], rule: Stagnation): boolean {
  return isStagnant(
    history.reduce<StagnationState>(
      (s, v) => stepStagnation(s, v, rule.minImprovement),
      initialStagnation,
    ),
    rule,
  );
}
