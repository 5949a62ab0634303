/**
 * What a Claude call may cost. {@link estimateCallCost} sizes the next call for the workflow's
 * dollar budget before it is made; {@link countSlack} and {@link byteBound} size the bound each
 * request reserves from what is left while it is made.
 */
import type { StrategyView } from '../../../domain/strategy.js';
import { NO_COST, type CostEstimate } from '../base.js';
import { systemPrompt, type CodeContext } from './code.js';
import { planAgents } from './plan.js';
import { boundNanoDollars, nanoToDollars, priceOf, type ModelPrice } from './pricing.js';
import { DEFAULT_LIMITS, buildAgentMessage, type PromptLimits } from './prompt.js';
import { FORMATS } from './reply.js';

const strictFormat = FORMATS.params.wire;

/** A conservative token count: ~3 characters per token (English prose is ~4, JSON denser). */
const estimateTokens = (text: string): number => Math.ceil(text.length / 3) + 50;
/** The output schema and message framing, in tokens. */
const SCHEMA_OVERHEAD = estimateTokens(JSON.stringify(strictFormat.schema)) + 100;
const CODE_SCHEMA_OVERHEAD = estimateTokens(JSON.stringify(FORMATS.code.wire.schema)) + 100;

export const callNano = boundNanoDollars;

/**
 * What the next proposeHypotheses call may cost, for the workflow's dollar budget. Claude only;
 * other strategies cost nothing.
 *
 * @throws UnknownModelPricingError
 */
export function estimateCallCost(
  view: StrategyView,
  prices?: Readonly<Record<string, ModelPrice>>,
  limits: PromptLimits = DEFAULT_LIMITS,
  code?: CodeContext,
): CostEstimate {
  if (view.strategy.name !== 'claude') return { ...NO_COST };
  const settings = view.strategy.settings;
  const price = priceOf(settings.model, prices);
  const agents = planAgents(view);
  const system = estimateTokens(systemPrompt(view, code));
  const overhead = code ? CODE_SCHEMA_OVERHEAD : SCHEMA_OVERHEAD;
  let expected = 0;
  let max = 0;
  agents.forEach((agent, i) => {
    const user = estimateTokens(buildAgentMessage(view, agent, limits)) + overhead;
    const prompt = system + user;
    // Expected: the first agent writes the cache, the others read it.
    const expectedNano =
      i === 0
        ? Math.ceil(system * price.cacheWrite5m * 1000 + user * price.input * 1000)
        : Math.ceil(system * price.cacheRead * 1000 + user * price.input * 1000);
    expected += expectedNano + Math.ceil((settings.maxTokens / 4) * price.output * 1000);
    // Worst case: the call and its repair round, the repair prompt also carrying the first reply.
    max +=
      callNano(price, prompt, settings.maxTokens) +
      callNano(price, prompt + settings.maxTokens + 500, settings.maxTokens);
  });
  return {
    calls: agents.length,
    expectedDollars: nanoToDollars(expected),
    maxDollars: nanoToDollars(max),
  };
}

/**
 * Prompt tokens a call may report beyond its count: count_tokens is documented as an estimate
 * that can differ from the billed count by a little. The slack is part of the reserved bound, so
 * the cap still holds, and reported usage beyond it is an anomaly.
 */
export const countSlack = (counted: number): number => counted + Math.ceil(counted / 20) + 64;

/**
 * When the endpoint has no count_tokens route (some proxies), the request's size in UTF-8 bytes:
 * a token always stands for at least one byte of text, and the JSON framing more than covers the
 * role and format tokens, so this bounds the count from above.
 */
export const byteBound = (body: unknown): number =>
  Buffer.byteLength(JSON.stringify(body), 'utf8') + 64;
