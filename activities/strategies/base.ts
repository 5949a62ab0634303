/**
 * What a strategy is to the activities: a name, a factory, and the two calls the campaign makes.
 *
 * The life of a strategy on a worker:
 *
 * 1. `create(deps)` runs once, when the worker builds its activities
 *    ({@link createStrategyActivities}). The instance may hold clients and long-lived processes
 *    (the Optuna service, the Anthropic client factory) but no campaign state: an activity may run
 *    on any worker and may be retried, so everything a call needs is in its view.
 * 2. Each time the campaign wants hypotheses, the workflow builds a {@link StrategyView} (visible
 *    metrics only) and, when the campaign has a dollar budget and the strategy has a cost, asks
 *    `estimate(view)` first. The workflow does not call `propose` when the worst case is more
 *    than the dollars left. A strategy without `estimate` costs nothing.
 * 3. `propose(view, call)` runs inside the `proposeHypotheses` activity, with the view stripped of
 *    hidden metrics once more and `call.hidden` naming what must never appear in text sent out.
 *    It returns at most `view.count` proposals, each with its author, and every proposal it
 *    refused in `dropped` with a reason.
 *    - Failures a retry cannot fix (a missing key, an invalid request, an unknown model price, a
 *      missing Python environment) come back as `fatalError`, and the campaign stops.
 *    - Failures that may pass (an outage, a rate limit, a crashed process) are thrown, and the
 *      activity's retry policy applies; the retry gets the same view.
 * 4. The trials run; their results reach the strategy only through the next call's
 *    `view.history`. A strategy that learns from results learns there.
 *
 * Which of these the workflow needs to know without calling the strategy (whether it learns from
 * results, whether its seeds may be batched, whether it may be asked ahead) is declared in
 * domain/strategy.ts, because workflow code cannot import activities/.
 *
 * To add a strategy, see activities/README.md.
 */
import type Anthropic from '@anthropic-ai/sdk';
import type {
  StrategyConfig,
  StrategyName,
  StrategyResult,
  StrategyTraits,
  StrategyView,
} from '../../domain/strategy.js';
import type { CodeDeps } from './claude/code.js';
import type { ModelPrice } from './claude/pricing.js';
import type { ClaudeStrategyOptions } from './claude/context.js';
import type { OptunaService } from '../../stack/optuna-service.js';
import type { SpendRecord } from './spend.js';

export type { Spend, SpendRecord } from './spend.js';

/** The clients the worker injects; each strategy takes what it needs from them. */
export interface StrategyDeps {
  /** Builds an Anthropic client; required only by campaigns that use the claude strategy. */
  anthropic?: () => Anthropic;
  /**
   * The Optuna service. Pass one to own its lifetime (close it on worker shutdown); when absent
   * one is created on first use, and its process ends with the worker (stdin closes).
   */
  optuna?: OptunaService;
  /** Price table for Claude models. @default MODEL_PRICES */
  prices?: Readonly<Record<string, ModelPrice>>;
  /** Claude request options. */
  claude?: Pick<ClaudeStrategyOptions, 'timeoutMs' | 'maxRetries' | 'limits'>;
  /** Code experiments' definitions and stored sources: Claude agents then see and edit code. */
  code?: CodeDeps;
}

export interface CostEstimate {
  /** Model calls planned (one per agent; the repair round may add one each). */
  calls: number;
  /** Likely cost: planned calls, prompt written to cache once, a quarter of max_tokens out. */
  expectedDollars: number;
  /** Worst case: every call repaired, full prompt at the cache-write rate, max_tokens out. */
  maxDollars: number;
}

/** The estimate of a strategy that costs nothing. */
export const NO_COST: Readonly<CostEstimate> = { calls: 0, expectedDollars: 0, maxDollars: 0 };

/** What one `propose` call gets besides its view. */
export interface ProposeCall {
  /** Hidden metric names: stripped from the view already, and kept out of any text sent out. */
  hidden: readonly string[];
  /** The activity's cancellation signal; absent when called outside an activity. */
  signal?: AbortSignal;
  /**
   * What earlier attempts of this activity spent, and where this attempt records its own spend
   * (in its heartbeat details). Absent outside an activity. Strategies that pay per call use it.
   */
  spend?: SpendRecord;
}

/** A strategy as created on a worker. The view it is given always names this strategy. */
export interface Strategy {
  /** Proposes up to `view.count` hypotheses (lifecycle step 3). */
  propose(view: StrategyView, call: ProposeCall): Promise<StrategyResult>;
  /**
   * What the next `propose` may cost (lifecycle step 2). Absent: the strategy costs nothing.
   * @throws UnknownModelPricingError when the price of the configured model is unknown
   */
  estimate?(view: StrategyView): Promise<CostEstimate>;
}

/** A strategy's configuration, narrowed to its name. */
export type StrategyConfigOf<N extends StrategyName> = Extract<StrategyConfig, { name: N }>;

/** How a strategy registers: its name, its factory and, optionally, its declared traits. */
export interface StrategyDefinition<N extends StrategyName = StrategyName> {
  /** The name campaigns choose it by: `strategy.name`, a `StrategyName` (domain/strategy.ts). */
  readonly name: N;
  /** Builds the worker's instance (lifecycle step 1). */
  create(deps: StrategyDeps): Strategy;
  /**
   * Where the workflow reads this strategy's traits: the declaration in domain/strategy.ts for
   * this configuration. Activities never branch on traits; the pointer lets a reader (and a test)
   * go from the implementation to what the workflow assumes about it.
   */
  readonly traits: (config: StrategyConfigOf<N>) => StrategyTraits;
}

/** Declares a strategy; the name's type ties the definition to its configuration. */
export function defineStrategy<N extends StrategyName>(
  definition: StrategyDefinition<N>,
): StrategyDefinition<N> {
  return definition;
}
