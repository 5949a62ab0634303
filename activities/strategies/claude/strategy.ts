/**
 * The Claude research agents: several agents with their own research directions propose
 * hypotheses through the Messages API with zod-validated structured output (`messages.parse`
 * with `zodOutputFormat`), share one notebook, and are charged per token. This module runs a
 * call's agents and merges what they return; each other file of this folder owns one concern
 * (activities/README.md lists them).
 *
 * What holds against a hostile or broken model:
 * - Every proposal in every reply gets a fate (accepted, duplicate, sent back for repair,
 *   dropped) with a reason; invalid ones get one repair round (agent.ts, hypothesis.ts).
 * - Each reply is validated as a whole (`ReplyProblem`, reply.ts): usage, content type,
 *   truncation, refusal, prose where JSON was asked. An unusable reply is charged at the call's
 *   worst case (or its reported cost if higher) and named in people's words.
 * - The dollar cap holds: before each call its exact bound comes from the counted input tokens
 *   (`messages.countTokens`) and max_tokens at the model's prices, and is reserved from what is
 *   left (a count that fails falls back to the request's size in bytes); each retry the SDK
 *   sends reserves its own bound or is not sent. Usage beyond the bound is an anomaly that is
 *   charged and stops the campaign (call.ts, cost.ts).
 * - No spend is lost: a request that got no answer (a client timeout, a dropped connection, an
 *   attempt the SDK retried) may have been billed and is charged at its bound; a reply that
 *   reports fewer prompt tokens than were counted (even 0) is charged at the count; spend is
 *   recorded in the activity's heartbeat details before and after each request, so a retry of
 *   the activity charges what the attempt before it spent or had in flight.
 * - Overloads and rate limits that outlast the SDK's retries come back as `unavailable` agents
 *   for the workflow to ask again later; errors a retry cannot fix (bad key, invalid request,
 *   unknown model) come back as `fatalError` (api-errors.ts).
 */
import type { DroppedProposal, StrategyResult, StrategyView } from '../../../domain/strategy.js';
import { strategyTraits } from '../../../domain/strategy.js';
import { defineStrategy } from '../base.js';
import { TriedSet, emptyResult } from '../common.js';
import { runAgent } from './agent.js';
import { loadCodeContext, systemPrompt } from './code.js';
import type { AgentContext, AgentOutcome, ClaudeStrategyOptions } from './context.js';
import { planAgents } from './plan.js';
import {
  modelWarning,
  nanoToDollars,
  priceOf,
  UnknownModelPricingError,
  type ModelPrice,
} from './pricing.js';
import { estimateCallCost } from './cost.js';
import { Redactor, clip } from './text.js';

/** Campaigns whose model warning this worker process has logged (bounded). */
const loggedWarnings = new Set<string>();

function logOnce(key: string, text: string): void {
  if (loggedWarnings.has(key)) return;
  if (loggedWarnings.size > 10_000) loggedWarnings.clear();
  loggedWarnings.add(key);
  console.warn(`gaplab: ${text}`);
}

/** "2 invalid, 1 unknown_parent" for a list of drops. */
function causes(dropped: readonly DroppedProposal[]): string {
  const n = new Map<string, number>();
  for (const d of dropped) n.set(d.cause ?? 'other', (n.get(d.cause ?? 'other') ?? 0) + 1);
  return [...n.entries()].map(([k, v]) => `${v} ${k.replace(/_/g, ' ')}`).join(', ');
}

/**
 * Runs the call's agents (the first alone so it writes the prompt cache, the rest in parallel
 * reading it) and merges their proposals, drops, notes, spend and usage.
 *
 * @param view a view already stripped of hidden metrics
 * @param redactor removes hidden names/values from all prompt text (see {@link Redactor})
 */
export async function proposeClaude(
  view: StrategyView,
  redactor: Redactor,
  options: ClaudeStrategyOptions,
): Promise<StrategyResult> {
  if (view.strategy.name !== 'claude')
    throw new Error(`proposeClaude got strategy "${view.strategy.name}"`);
  const settings = view.strategy.settings;
  const result: StrategyResult = {
    proposals: [],
    dropped: [],
    notes: [],
    dollars: 0,
    usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
    authors: [],
  };
  let price: ModelPrice;
  try {
    price = priceOf(settings.model, options.prices);
  } catch (err) {
    if (err instanceof UnknownModelPricingError) return { ...result, fatalError: err.message };
    throw err;
  }
  const warning = modelWarning(settings.model);
  if (warning) {
    result.warnings = [warning];
    logOnce(`${view.campaignId}:${settings.model}`, `campaign ${view.campaignId}: ${warning}`);
  }
  const agents = planAgents(view);
  // What earlier attempts of this activity spent or may have spent is charged with this one.
  const carried = Math.max(0, Math.ceil(options.spend?.carriedNano ?? 0));
  if (carried > 0)
    result.notes.push({
      kind: 'error',
      author: 'gaplab',
      text: `an earlier attempt of this strategy call was cut off (a timeout or a lost worker); the $${nanoToDollars(carried).toFixed(4)} its requests spent or may have spent is charged`,
    });
  if (agents.length === 0) return { ...result, dollars: nanoToDollars(carried) };

  const ctx: AgentContext = {
    view,
    settings,
    system: [
      {
        type: 'text',
        text: redactor.apply(systemPrompt(view, options.code)),
        cache_control: { type: 'ephemeral' },
      },
    ],
    client: options.client(),
    options,
    redactor,
    tried: new TriedSet(view.problem.space, view),
    budget: {
      leftNano:
        view.budgetLeft.dollars === undefined
          ? undefined
          : Math.floor(view.budgetLeft.dollars * 1e9) - carried,
    },
    spend: {
      chargedNano: carried,
      reservedNano: 0,
      record() {
        options.spend?.record({ chargedNano: this.chargedNano, reservedNano: this.reservedNano });
      },
    },
    price,
    halt: {},
  };

  const outcomes: AgentOutcome[] = [];
  const firstOutcome = await runAgent(ctx, agents[0]!);
  outcomes.push(firstOutcome);
  if (!firstOutcome.fatal && !ctx.halt.anomaly && agents.length > 1)
    outcomes.push(...(await Promise.all(agents.slice(1).map((a) => runAgent(ctx, a)))));

  let nano = carried;
  for (const o of outcomes) {
    nano += o.nano;
    for (const k of ['inputTokens', 'outputTokens', 'cacheReadTokens', 'cacheWriteTokens'] as const)
      result.usage![k] += o.usage[k];
    for (const p of o.proposals) {
      result.proposals.push(p);
      result.authors.push(o.agent.name);
    }
    result.dropped.push(...o.dropped);
    if (o.insight)
      result.notes.push({ kind: 'insight', author: o.agent.name, text: clip(o.insight, 5000) });
    for (const p of new Set(o.problems))
      result.notes.push({ kind: 'error', author: o.agent.name, text: clip(p, 5000) });
    const lost = o.dropped.filter((d) => d.fate !== 'repaired');
    if (lost.length > 0)
      result.notes.push({
        kind: 'error',
        author: o.agent.name,
        text: `${lost.length} of its proposals were not kept (${causes(lost)}); the proposal audit has each one with its reason`,
      });
    const problem = o.fatal ?? o.transient ?? o.skipped;
    if (problem)
      result.notes.push({ kind: 'error', author: o.agent.name, text: clip(problem, 5000) });
  }
  result.dollars = nanoToDollars(nano);
  if (ctx.halt.anomaly) result.usageAnomaly = ctx.halt.anomaly;
  const fatal = outcomes.find((o) => o.fatal)?.fatal;
  if (fatal) return { ...result, fatalError: fatal };
  const poor = outcomes.find((o) => o.skipped?.startsWith('not called: a call may cost'));
  if (poor && result.proposals.length === 0) result.budgetExhausted = poor.skipped!;
  const unavailable = outcomes.filter((o) => o.transient);
  if (unavailable.length > 0)
    result.unavailable = {
      agents: unavailable.map((o) => o.agent.name),
      reason: unavailable[0]!.transient!,
    };
  return result;
}

/**
 * The claude strategy. A worker without an Anthropic client answers every call with a
 * `fatalError` that says how to give it one.
 */
export const claude = defineStrategy({
  name: 'claude',
  traits: strategyTraits,
  create(deps) {
    const prices = deps.prices;
    const limits = deps.claude?.limits;
    const code = (view: StrategyView) =>
      deps.code ? loadCodeContext(view, deps.code) : Promise.resolve(undefined);
    return {
      async propose(view, call) {
        if (!deps.anthropic)
          return {
            ...emptyResult([]),
            fatalError:
              'the claude strategy needs an Anthropic API key: set ANTHROPIC_API_KEY for the worker (or use the optuna strategy)',
          };
        const context = await code(view);
        return proposeClaude(view, new Redactor([...call.hidden]), {
          client: deps.anthropic,
          ...(context ? { code: context } : {}),
          ...(prices ? { prices } : {}),
          ...(deps.claude?.timeoutMs !== undefined ? { timeoutMs: deps.claude.timeoutMs } : {}),
          ...(deps.claude?.maxRetries !== undefined ? { maxRetries: deps.claude.maxRetries } : {}),
          ...(limits ? { limits } : {}),
          ...(call.signal ? { signal: call.signal } : {}),
          ...(call.spend ? { spend: call.spend } : {}),
        });
      },
      async estimate(view) {
        return estimateCallCost(view, prices, limits, await code(view));
      },
    };
  },
});
