/**
 * The strategy activities: one entry point, `proposeHypotheses`, that dispatches on the view's
 * strategy (claude, optuna, random), and `estimateStrategyCost` for the workflow's dollar budget.
 * Built by {@link createStrategyActivities} from injected clients; the worker wires real ones.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { Context } from '@temporalio/activity';
import { stripHidden, type StrategyResult, type StrategyView } from '../../domain/strategy.js';
import {
  estimateCallCost,
  proposeClaude,
  type ClaudeStrategyOptions,
  type CostEstimate,
  type Spend,
  type SpendRecord,
} from './claude.js';
import { proposeOptuna } from './optuna.js';
import { OptunaService, OptunaServiceError } from './optuna-service.js';
import type { ModelPrice } from './pricing.js';
import { UnknownModelPricingError } from './pricing.js';
import type { PromptLimits } from './prompt.js';
import { Redactor } from './prompt.js';
import { proposeRandom } from './random.js';
import { loadCodeContext, type CodeDeps } from './code.js';

/**
 * What older campaign histories pass for the hidden metrics: their names and values. Only the
 * names are used; prompts never depend on hidden values.
 */
export interface HiddenInfo {
  names: string[];
  values?: number[];
}

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
  claude?: Pick<ClaudeStrategyOptions, 'timeoutMs' | 'maxRetries'> & { limits?: PromptLimits };
  /** Code experiments' definitions and stored sources: Claude agents then see and edit code. */
  code?: CodeDeps;
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

export function createStrategyActivities(deps: StrategyDeps = {}) {
  let optuna = deps.optuna;
  const optunaService = (): OptunaService => (optuna ??= new OptunaService());

  async function propose(
    view: StrategyView,
    hiddenInput: readonly string[] | HiddenInfo,
    signal: AbortSignal | undefined,
    spend?: SpendRecord,
  ): Promise<StrategyResult> {
    const names = Array.isArray(hiddenInput) ? [...hiddenInput] : (hiddenInput as HiddenInfo).names;
    const redactor = new Redactor(names);
    // The workflow's view holds nothing hidden; stripped again here (defence in depth).
    const safe = stripHidden(view, names);
    switch (safe.strategy.name) {
      case 'random':
        return proposeRandom(safe);
      case 'optuna':
        try {
          return await proposeOptuna(safe, optunaService());
        } catch (err) {
          if (err instanceof OptunaServiceError && err.permanent) {
            return {
              proposals: [],
              dropped: [],
              notes: [],
              dollars: 0,
              authors: [],
              fatalError: err.message,
            };
          }
          throw err;
        }
      case 'claude': {
        if (!deps.anthropic) {
          return {
            proposals: [],
            dropped: [],
            notes: [],
            dollars: 0,
            authors: [],
            fatalError:
              'the claude strategy needs an Anthropic API key: set ANTHROPIC_API_KEY for the worker (or use the optuna strategy)',
          };
        }
        const code = deps.code ? await loadCodeContext(safe, deps.code) : undefined;
        return proposeClaude(safe, redactor, {
          client: deps.anthropic,
          ...(code ? { code } : {}),
          ...(deps.prices ? { prices: deps.prices } : {}),
          ...(deps.claude?.timeoutMs !== undefined ? { timeoutMs: deps.claude.timeoutMs } : {}),
          ...(deps.claude?.maxRetries !== undefined ? { maxRetries: deps.claude.maxRetries } : {}),
          ...(deps.claude?.limits ? { limits: deps.claude.limits } : {}),
          ...(signal ? { signal } : {}),
          ...(spend ? { spend } : {}),
        });
      }
    }
  }

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
      return withHeartbeats((signal, spend) => propose(view, hidden, signal, spend));
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
      const names = Array.isArray(hidden) ? hidden : hidden.names;
      try {
        const safe = stripHidden(view, names);
        const code = deps.code ? await loadCodeContext(safe, deps.code) : undefined;
        return estimateCallCost(safe, deps.prices, deps.claude?.limits, code);
      } catch (err) {
        if (err instanceof UnknownModelPricingError)
          return { calls: 0, expectedDollars: 0, maxDollars: 0, error: err.message };
        throw err;
      }
    },
  };
}

export type StrategyActivities = ReturnType<typeof createStrategyActivities>;
export { OptunaService, OptunaServiceError } from './optuna-service.js';
export { MODEL_PRICES, UnknownModelPricingError, usageDollars } from './pricing.js';
export { estimateCallCost, type CostEstimate, type Spend } from './claude.js';
