/**
 * What Claude tokens cost, per model, in US dollars per million tokens (MTok), and the exact cost
 * of a response's usage. An unknown model is an error, never free: a campaign's dollar budget is
 * only as good as this table.
 *
 * Source: Anthropic's pricing page (platform.claude.com/docs/en/about-claude/pricing), standard
 * tier, 5-minute and 1-hour cache writes, cache hits. Batch, fast mode, data-residency and
 * regional premiums are not used by gaplab and are not priced here.
 */
import { DEFAULT_CLAUDE_MODEL as DEFAULT_MODEL } from '../../../domain/strategy.js';

/** The model campaigns use when the strategy settings name none. */
export { DEFAULT_MODEL };

/** Prices in US dollars per million tokens. */
export interface Rates {
  input: number;
  output: number;
  /** 5-minute cache write (`cache_control: {type: 'ephemeral'}`). */
  cacheWrite5m: number;
  /** 1-hour cache write (`ttl: '1h'`). */
  cacheWrite1h: number;
  /** Cache hits and refreshes. */
  cacheRead: number;
}

export interface ModelPrice extends Rates {
  /** Models billed in two bands by prompt size (input + cache reads + cache writes). */
  longPrompt?: { aboveTokens: number; rates: Rates };
}

/** The usual multipliers: 5-minute write 1.25x input, 1-hour write 2x, read 0.1x. */
function standard(input: number, output: number, cacheRead = input / 10): ModelPrice {
  return { input, output, cacheWrite5m: input * 1.25, cacheWrite1h: input * 2, cacheRead };
}

const opus45 = standard(5, 25);
const sonnet45 = standard(3, 15);
const haiku45 = standard(1, 5);

/**
 * Current and recent Claude models, with their dated ids. Add a model here (or pass `prices` to
 * the strategy factory) before using it; Fable 5.2 and Mythos 5.2 are left out on purpose until
 * their cache rates are confirmed.
 */
export const MODEL_PRICES: Readonly<Record<string, ModelPrice>> = {
  'claude-fable-5-1': standard(10, 50, 0.25),
  'claude-mythos-5-1': standard(10, 50, 0.25),
  'claude-fable-5': standard(10, 50),
  'claude-mythos-5': standard(10, 50),
  'claude-opus-5-5': standard(4, 20, 0.2),
  'claude-opus-5': standard(5, 25),
  'claude-opus-4-8': opus45,
  'claude-opus-4-7': opus45,
  'claude-opus-4-6': opus45,
  'claude-opus-4-5': opus45,
  'claude-opus-4-5-20251101': opus45,
  'claude-sonnet-5-5': standard(2, 10, 0.1),
  'claude-sonnet-5': standard(2, 10),
  'claude-sonnet-4-6': sonnet45,
  'claude-sonnet-4-5': sonnet45,
  'claude-sonnet-4-5-20250929': sonnet45,
  'claude-haiku-5-5': {
    ...standard(0.1, 0.5),
    longPrompt: { aboveTokens: 100_000, rates: standard(0.5, 2.5) },
  },
  'claude-haiku-4-5': haiku45,
  'claude-haiku-4-5-20251001': haiku45,
};

/**
 * Models past their announcement of retirement, with the end-of-life date. The same table as the
 * installed SDK's deprecation list (@anthropic-ai/sdk `internal/data/deprecated-models`, which
 * the package does not export; a unit test keeps the two in step). gaplab warns once per
 * campaign instead of the SDK's notice on every call.
 */
export const DEPRECATED_MODELS: Readonly<Record<string, string>> = {
  'claude-mythos-preview': '2026-06-30',
  'claude-opus-4-5': '2027-01-22',
  'claude-opus-4-5-20251101': '2027-01-22',
  'claude-sonnet-4-5': '2026-11-30',
  'claude-sonnet-4-5-20250929': '2026-11-30',
};

/**
 * Models the installed SDK names as current or recent (its `Model` type). A priced model outside
 * this list (a custom price table) works but gets a warning: nobody has checked its id.
 */
export const KNOWN_MODELS: readonly string[] = [
  'claude-fable-5-2',
  'claude-mythos-5-2',
  'claude-haiku-5-5',
  'claude-sonnet-5-5',
  'claude-fable-5-1',
  'claude-opus-5-5',
  'claude-mythos-5-1',
  'claude-sonnet-5',
  'claude-fable-5',
  'claude-mythos-5',
  'claude-opus-5',
  'claude-opus-4-8',
  'claude-opus-4-7',
  'claude-mythos-preview',
  'claude-opus-4-6',
  'claude-sonnet-4-6',
  'claude-haiku-4-5',
  'claude-haiku-4-5-20251001',
  'claude-opus-4-5',
  'claude-opus-4-5-20251101',
  'claude-sonnet-4-5',
  'claude-sonnet-4-5-20250929',
];

/** A warning about the model for the campaign's notebook (deprecated or unchecked), or null. */
export function modelWarning(model: string): string | null {
  const eol = Object.prototype.hasOwnProperty.call(DEPRECATED_MODELS, model)
    ? DEPRECATED_MODELS[model]
    : undefined;
  if (eol)
    return `the model ${model} is deprecated and reaches end of life on ${eol}; choose a current model such as ${DEFAULT_MODEL} (strategy.settings.model)`;
  if (!KNOWN_MODELS.includes(model))
    return `the model ${model} is not one this version of gaplab knows; it is priced from the configured price table, check that the id and prices are right`;
  return null;
}

/** Thrown when a model has no price: gaplab refuses to call a model it cannot charge for. */
export class UnknownModelPricingError extends Error {
  constructor(
    readonly model: string,
    readonly known: readonly string[],
  ) {
    super(
      `no price is known for model "${model}" (strategy.settings.model); known models: ${known.join(', ')}`,
    );
    this.name = 'UnknownModelPricingError';
  }
}

/** The usage fields of a Messages API response that cost money. */
export interface UsageLike {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation?: {
    ephemeral_5m_input_tokens?: number | null;
    ephemeral_1h_input_tokens?: number | null;
  } | null;
}

/** @throws UnknownModelPricingError */
export function priceOf(
  model: string,
  prices: Readonly<Record<string, ModelPrice>> = MODEL_PRICES,
): ModelPrice {
  const price = Object.prototype.hasOwnProperty.call(prices, model) ? prices[model] : undefined;
  if (!price) throw new UnknownModelPricingError(model, Object.keys(prices));
  return price;
}

// Prices have at most three decimals per MTok, so price x 1000 x tokens is an integer number of
// nano-dollars: sums stay exact and one division at the end gives the nearest double.
const NANO = 1e9;
const milli = (perMTok: number): number => Math.round(perMTok * 1000);

/** The cost of one response's usage, in nano-dollars (an exact integer). */
export function usageNanoDollars(
  model: string,
  usage: UsageLike,
  prices?: Readonly<Record<string, ModelPrice>>,
): number {
  const price = priceOf(model, prices);
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheWrite = usage.cache_creation_input_tokens ?? 0;
  // The 1-hour share, when the response breaks cache writes down; the rest is 5-minute.
  const write1h = Math.min(cacheWrite, usage.cache_creation?.ephemeral_1h_input_tokens ?? 0);
  const write5m = cacheWrite - write1h;
  const promptTokens = usage.input_tokens + cacheRead + cacheWrite;
  const rates =
    price.longPrompt && promptTokens > price.longPrompt.aboveTokens
      ? price.longPrompt.rates
      : price;
  return (
    usage.input_tokens * milli(rates.input) +
    usage.output_tokens * milli(rates.output) +
    write5m * milli(rates.cacheWrite5m) +
    write1h * milli(rates.cacheWrite1h) +
    cacheRead * milli(rates.cacheRead)
  );
}

/** The cost of one response's usage, in US dollars. */
export function usageDollars(
  model: string,
  usage: UsageLike,
  prices?: Readonly<Record<string, ModelPrice>>,
): number {
  return usageNanoDollars(model, usage, prices) / NANO;
}

export const nanoToDollars = (nano: number): number => nano / NANO;

/**
 * The most one call can cost, in nano-dollars: every prompt token at the dearest input rate (a
 * cache write costs more than plain input) and `outputTokens` out, in the price band the prompt
 * size selects. With honest usage no response of such a call costs more.
 */
export function boundNanoDollars(
  price: ModelPrice,
  promptTokens: number,
  outputTokens: number,
): number {
  const band =
    price.longPrompt && promptTokens > price.longPrompt.aboveTokens
      ? price.longPrompt.rates
      : price;
  const inputRate = Math.max(band.input, band.cacheWrite5m);
  return promptTokens * milli(inputRate) + outputTokens * milli(band.output);
}
