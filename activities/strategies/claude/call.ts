/**
 * One metered request of an agent. The dollar cap holds: before the request its exact bound
 * comes from the counted input tokens (`messages.countTokens`) and max_tokens at the model's
 * prices, and is reserved from what is left (a count that fails falls back to the request's size
 * in bytes); each retry the SDK sends reserves its own bound or is not sent. Usage beyond the
 * bound is an anomaly that is charged and stops the campaign. A request that got no answer may
 * have been billed and is charged at its bound; spend is recorded before and after each request.
 */
import type {
  Message,
  MessageCreateParamsNonStreaming,
  MessageParam,
} from '@anthropic-ai/sdk/resources/messages/messages';
import { classify } from './api-errors.js';
import type { AgentContext, AgentOutcome, Reply } from './context.js';
import { byteBound, callNano, countSlack } from './cost.js';
import { DEPRECATED_MODELS, nanoToDollars, usageNanoDollars } from './pricing.js';
import { FORMATS, isCount, validateReply } from './reply.js';

/**
 * Sends `messages` (the conversation so far) as one request of `outcome.agent`, charges it to
 * the call's budget and the agent's outcome, and returns the reply; undefined when the request
 * was not made or failed (the outcome then says why). Throws only when the call was cancelled.
 */
export async function callAgent(
  ctx: AgentContext,
  outcome: AgentOutcome,
  messages: readonly MessageParam[],
): Promise<Reply | undefined> {
  const { settings, options } = ctx;
  const agent = outcome.agent;
  const { output: outputFormat, wire: wireFormat } = options.code ? FORMATS.code : FORMATS.params;
  const requestOptions = {
    timeout: options.timeoutMs ?? 180_000,
    ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  // The SDK prints a deprecation notice on every call to a deprecated model; the campaign gets
  // one warning instead, and such calls go through the SDK's generic request path.
  const deprecated = Object.prototype.hasOwnProperty.call(DEPRECATED_MODELS, settings.model);

  const failed = (err: unknown): undefined => {
    if (options.signal?.aborted) throw err;
    const c = classify(err);
    if (c.fatal) outcome.fatal = c.fatal;
    else outcome.transient = c.transient ?? 'the Claude API failed';
    return undefined;
  };

  if (ctx.halt.anomaly) {
    outcome.skipped ??= 'not called: the campaign is stopping on a usage anomaly';
    return undefined;
  }
  const body: MessageCreateParamsNonStreaming = {
    model: settings.model,
    max_tokens: settings.maxTokens,
    system: ctx.system,
    messages: [...messages],
    ...(settings.temperature !== undefined ? { temperature: settings.temperature } : {}),
  };

  // The exact bound: counted input tokens (with the count's slack) and max_tokens. A count
  // that fails for any reason (no such route, an outage, a bad answer) falls back to the
  // request's size in bytes, which bounds it from above: the count only sizes the bound.
  const framed = { ...body, output_config: { format: wireFormat } };
  let counted: number;
  /** Whether `counted` came from count_tokens (not the byte bound that stands in for it). */
  let exact = false;
  try {
    const c = await ctx.client.messages.countTokens(
      {
        model: body.model,
        system: ctx.system,
        messages: body.messages,
        output_config: { format: wireFormat },
      },
      requestOptions,
    );
    exact = isCount(c?.input_tokens);
    counted = exact ? c.input_tokens : byteBound(framed);
  } catch (err) {
    if (options.signal?.aborted) throw err;
    counted = byteBound(framed);
  }
  const allowedPrompt = countSlack(counted);
  const bound = callNano(ctx.price, allowedPrompt, settings.maxTokens);
  const { spend, budget } = ctx;
  /** Reserves one request's bound, before it is sent; false when the budget cannot cover it. */
  const reserve = (): boolean => {
    if (budget.leftNano !== undefined) {
      if (bound > budget.leftNano) return false;
      budget.leftNano -= bound;
    }
    spend.reservedNano += bound;
    spend.record();
    return true;
  };
  /** Settles `reserved` nano of reservations as a charge of `charge`. */
  const settle = (reserved: number, charge: number): void => {
    if (budget.leftNano !== undefined) budget.leftNano += reserved - charge;
    spend.reservedNano -= reserved;
    spend.chargedNano += charge;
    outcome.nano += charge;
    spend.record();
  };
  if (!reserve()) {
    outcome.skipped = `not called: a call may cost up to $${nanoToDollars(bound).toFixed(4)}, more than the $${nanoToDollars(Math.max(0, budget.leftNano ?? 0)).toFixed(4)} left of the dollar budget`;
    return undefined;
  }

  // Every request the SDK sends for this call goes through here: a retry reserves its own
  // bound first (or is not sent), and a request that got no answer (a client timeout, a
  // dropped connection) may have been billed, so it is charged at its bound.
  let sent = 0;
  let unanswered = 0;
  let refused = false;
  const baseFetch = (ctx.client as unknown as { fetch: typeof fetch }).fetch ?? fetch;
  const client = ctx.client.withOptions({
    fetch: async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
      if (++sent > 1 && !reserve()) {
        sent--;
        refused = true;
        throw new Error('no dollars left for another attempt of this request');
      }
      try {
        return await baseFetch(url, init);
      } catch (err) {
        unanswered++;
        throw err;
      }
    },
  });
  const reservedNow = () => sent * bound;

  let message: Message;
  try {
    message = deprecated
      ? await client.post<Message>('/v1/messages', { body: framed, ...requestOptions })
      : await client.messages.parse(
          { ...body, output_config: { format: outputFormat } },
          requestOptions,
        );
  } catch (err) {
    // Requests that were answered with an error are not billed; unanswered ones may be.
    settle(Math.max(1, sent) * bound, unanswered * bound);
    if (refused && !options.signal?.aborted) {
      outcome.skipped = `not called again: a retry may cost up to $${nanoToDollars(bound).toFixed(4)}, more than the $${nanoToDollars(Math.max(0, budget.leftNano ?? 0)).toFixed(4)} left of the dollar budget`;
      return undefined;
    }
    return failed(err);
  }

  const reply = validateReply(message, settings.maxTokens);
  const reported = reply.usage ? usageNanoDollars(settings.model, reply.usage, options.prices) : 0;
  let charge = reported;
  if (reply.usage) {
    const u = reply.usage;
    const prompt =
      u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
    outcome.usage.inputTokens += u.input_tokens;
    outcome.usage.outputTokens += u.output_tokens;
    outcome.usage.cacheReadTokens += u.cache_read_input_tokens ?? 0;
    outcome.usage.cacheWriteTokens += u.cache_creation_input_tokens ?? 0;
    // Fewer prompt tokens than were counted (even 0) is not believed: the count is charged.
    if (exact && prompt < counted)
      charge = usageNanoDollars(
        settings.model,
        { ...u, input_tokens: u.input_tokens + (counted - prompt) },
        options.prices,
      );
    if (prompt > allowedPrompt || u.output_tokens > settings.maxTokens || reported > bound) {
      charge = Math.max(reported, bound);
      ctx.halt.anomaly ??= `usage anomaly: ${agent.name}'s reply reported ${prompt} input and ${u.output_tokens} output tokens for a request of at most ${allowedPrompt} input tokens and max_tokens ${settings.maxTokens}; it was charged $${nanoToDollars(charge).toFixed(4)} (its reported cost) and the campaign stops`;
    }
  }
  // An unusable reply, or one without usable usage, is charged at its worst case.
  if (!reply.usage || !reply.output) charge = Math.max(charge, bound);
  // Attempts the SDK retried after getting no answer may have been billed too.
  settle(reservedNow(), charge + unanswered * bound);
  for (const p of reply.problems) outcome.problems.push(p.message);
  if (reply.output) return { output: reply.output, text: reply.text };
  return { text: reply.text, problem: reply.problems.at(-1)! };
}
