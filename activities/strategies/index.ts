/**
 * The strategy activities: `proposeHypotheses`, which asks the strategy the view names (looked up
 * in the registry, registry.ts), and `estimateStrategyCost` for the workflow's dollar budget.
 * Built by {@link createStrategyActivities} from injected clients; the worker wires real ones.
 * What a strategy is and when each of its calls happens: base.ts.
 */
import { Context } from '@temporalio/activity';
import { stripHidden, type StrategyResult, type StrategyView } from '../../domain/strategy.js';
import {
  NO_COST,
  type CostEstimate,
  type Spend,
  type SpendRecord,
  type StrategyDeps,
} from './base.js';
import { UnknownModelPricingError } from './claude/pricing.js';
import { createStrategies } from './registry.js';

/**
 * What older campaign histories pass for the hidden metrics: their names and values. Only the
 * names are used; prompts never depend on hidden values.
 */
export interface HiddenInfo {
  names: string[];
  values?: number[];
}

/** The activity context when running as a Temporal activity (tests call the functions directly). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** A spend record read back from an earlier attempt's heartbeat details, if it is one. */
function priorSpend(details: unknown): Spend | undefined {
  const d = details as Partial<Spend> | undefined;
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  return d && ok(d.chargedNano) && ok(d.reservedNano)
    ? { chargedNano: d.chargedNano, reservedNano: d.reservedNano }
    : undefined;
}

/**
 * Heartbeats while `work` runs (LLM calls with retries can outlast the heartbeat timeout) and
 * hands it the activity's cancellation signal, so a cancelled campaign aborts in-flight requests.
 * Every heartbeat carries the attempt's spend (its charges and the bounds of requests in
 * flight); a retry of the activity reads the last one back and charges it, so a timeout or a
 * lost worker never hands the next attempt the whole budget again.
 */
async function withHeartbeats<T>(
  work: (signal: AbortSignal | undefined, spend: SpendRecord | undefined) => Promise<T>,
): Promise<T> {
  const ctx = activityContext();
  if (!ctx) return work(undefined, undefined);
  const prior = priorSpend(ctx.info.heartbeatDetails);
  const carriedNano = prior ? prior.chargedNano + prior.reservedNano : 0;
  let details: Spend = { chargedNano: carriedNano, reservedNano: 0 };
  ctx.heartbeat(details);
  const timer = setInterval(() => ctx.heartbeat(details), 10_000);
  const spend: SpendRecord = {
    carriedNano,
    record(s) {
      details = s;
      ctx.heartbeat(s);
    },
  };
  try {
    return await work(ctx.cancellationSignal, spend);
  } finally {
    clearInterval(timer);
  }
}

const hiddenNames = (hidden: readonly string[] | HiddenInfo): string[] =>
  Array.isArray(hidden) ? [...hidden] : (hidden as HiddenInfo).names;

export function createStrategyActivities(deps: StrategyDeps = {}) {
  const strategy = createStrategies(deps);

  return {
    /**
     * Proposes `view.count` hypotheses. Hidden metrics are stripped again here (defence in
     * depth) and their names redacted from all prompt text; values are never looked for, since
     * the view carries none (`hidden.values` of older histories is ignored).
     *
     * Returns `fatalError` for what no retry can fix (bad API key, invalid request, unknown model
     * price, missing Python environment); throws for what may pass (rate limits, outages, a
     * crashed Optuna process), so the activity's retry policy applies.
     */
    async proposeHypotheses(
      view: StrategyView,
      hidden: string[] | HiddenInfo,
    ): Promise<StrategyResult> {
      return withHeartbeats((signal, spend) => {
        const names = hiddenNames(hidden);
        // The workflow's view holds nothing hidden; stripped again here (defence in depth).
        const safe = stripHidden(view, names);
        return strategy(safe.strategy.name).propose(safe, {
          hidden: names,
          ...(signal ? { signal } : {}),
          ...(spend ? { spend } : {}),
        });
      });
    },

    /**
     * What the next proposeHypotheses call may cost in US dollars (zero except for claude). The
     * workflow should not call proposeHypotheses when `maxDollars` exceeds the dollars left; the
     * claude strategy also skips any single request that could overspend `view.budgetLeft.dollars`.
     * An unknown model gives `error` rather than a throw.
     */
    async estimateStrategyCost(
      view: StrategyView,
      hidden: string[] | HiddenInfo = [],
    ): Promise<CostEstimate & { error?: string }> {
      try {
        const safe = stripHidden(view, hiddenNames(hidden));
        const chosen = strategy(safe.strategy.name);
        return chosen.estimate ? await chosen.estimate(safe) : { ...NO_COST };
      } catch (err) {
        if (err instanceof UnknownModelPricingError) return { ...NO_COST, error: err.message };
        throw err;
      }
    },
  };
}

export type StrategyActivities = ReturnType<typeof createStrategyActivities>;
export type { CostEstimate, Spend, StrategyDeps } from './base.js';
export { estimateCallCost } from './claude/cost.js';
export { MODEL_PRICES, UnknownModelPricingError, usageDollars } from './claude/pricing.js';
export { OptunaService, OptunaServiceError } from '../../stack/optuna-service.js';
