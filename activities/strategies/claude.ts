/**
 * The Claude research agents: several agents with their own research directions propose
 * hypotheses through the Messages API with zod-validated structured output (`messages.parse`
 * with `zodOutputFormat`), share one notebook, and are charged per token.
 *
 * Every proposal is checked against the search space, its parent and what was already tried;
 * invalid ones get one repair round, then are dropped with the reason. Errors a retry cannot fix
 * (bad key, invalid request, unknown model) come back as `fatalError` instead of a throw, so the
 * campaign stops with a clear reason rather than retrying forever.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { APIConnectionError, APIError, type AutoParseableOutputFormat } from '@anthropic-ai/sdk';
import { zodOutputFormat } from '@anthropic-ai/sdk/helpers/zod';
import type { MessageParam, TextBlockParam } from '@anthropic-ai/sdk/resources/messages/messages';
import { z } from 'zod';
import { InvalidConfigError, formatPath } from '../../domain/errors.js';
import { HypothesisProposal, type Config, type ParamValue } from '../../domain/schemas.js';
import { applyChanges } from '../../domain/space.js';
import type { ClaudeSettings, StrategyResult, StrategyView } from '../../domain/strategy.js';
import { TriedSet, diffConfig } from './common.js';
import {
  priceOf,
  usageNanoDollars,
  nanoToDollars,
  UnknownModelPricingError,
  type ModelPrice,
  type UsageLike,
} from './pricing.js';
import {
  DEFAULT_LIMITS,
  type Redactor,
  agentDirections,
  buildAgentMessage,
  buildRepairMessage,
  buildSystemPrompt,
  type AgentBrief,
  type PromptLimits,
} from './prompt.js';

// ---------------------------------------------------------------------------------------------
// Structured output
// ---------------------------------------------------------------------------------------------

/**
 * `changes` is a list of {param, value} rather than a record: the SDK turns a zod record into an
 * object schema with no properties and `additionalProperties: false`, which would only admit `{}`.
 * Lengths are checked after parsing (and clipped), so one long title does not void a whole reply.
 */
export const AgentOutput = z.object({
  hypotheses: z.array(
    z.object({
      title: z.string().describe('Short name of the idea, at most 120 characters.'),
      rationale: z.string().describe('Why this should help, grounded in the results so far.'),
      parentTrialId: z
        .string()
        .nullable()
        .describe('Id of the finished trial this builds on, or null for the baseline.'),
      changes: z
        .array(
          z.object({ param: z.string(), value: z.union([z.string(), z.number(), z.boolean()]) }),
        )
        .describe('Parameter values to set on top of the parent configuration.'),
      expectedEffect: z.string().describe('What result would confirm or refute the idea.'),
    }),
  ),
  insight: z.string().describe('One to three sentences for the shared notebook.'),
});
export type AgentOutput = z.infer<typeof AgentOutput>;
type WireHypothesis = AgentOutput['hypotheses'][number];

type Parsed = { ok: true; value: AgentOutput } | { ok: false; error: string };

const strictFormat = zodOutputFormat(AgentOutput);
/** Never throws: a reply that fails the schema still has usage to charge and deserves a repair. */
const outputFormat: AutoParseableOutputFormat<Parsed> = {
  type: strictFormat.type,
  schema: strictFormat.schema,
  parse: (content: string): Parsed => {
    try {
      return { ok: true, value: strictFormat.parse(content) };
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

export interface ClaudeStrategyOptions {
  /** Builds the API client (the worker wires key and base URL; tests point it at a fake). */
  client: () => Anthropic;
  /** Price table. @default MODEL_PRICES */
  prices?: Readonly<Record<string, ModelPrice>>;
  /** How much campaign state each prompt shows. @default DEFAULT_LIMITS */
  limits?: PromptLimits;
  /** Per-request timeout in ms (each retry gets its own). @default 180_000 */
  timeoutMs?: number;
  /** SDK retries per request for 408/409/429/5xx/529 and connection errors. @default 4 */
  maxRetries?: number;
  /** Aborts in-flight requests (the activity's cancellation signal). */
  signal?: AbortSignal;
}

/** Thrown when every agent call failed with an error a later retry may fix (rate limit, overload, network). */
export class TransientAgentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientAgentError';
  }
}

// ---------------------------------------------------------------------------------------------
// Cost estimate
// ---------------------------------------------------------------------------------------------

/** A conservative token count: ~3 characters per token (English prose is ~4, JSON denser). */
const estimateTokens = (text: string): number => Math.ceil(text.length / 3) + 50;
/** The output schema and message framing, in tokens. */
const SCHEMA_OVERHEAD = estimateTokens(JSON.stringify(strictFormat.schema)) + 100;

export interface CostEstimate {
  /** Model calls planned (one per agent; the repair round may add one each). */
  calls: number;
  /** Likely cost: planned calls, prompt written to cache once, a quarter of max_tokens out. */
  expectedDollars: number;
  /** Worst case: every call repaired, full prompt at the cache-write rate, max_tokens out. */
  maxDollars: number;
}

/** Agents that speak in this call and how many hypotheses each owes (rotates with the iteration). */
export function planAgents(view: StrategyView): AgentBrief[] {
  if (view.strategy.name !== 'claude') return [];
  const settings = view.strategy.settings;
  const all = agentDirections(view);
  if (all.length === 0 || view.count <= 0) return [];
  const quota = new Map<number, number>();
  let left = Math.min(view.count, all.length * settings.hypothesesPerAgent);
  const start = view.iteration % all.length;
  for (let round = 0; left > 0; round++) {
    for (let k = 0; k < all.length && left > 0; k++) {
      const i = (start + k) % all.length;
      if ((quota.get(i) ?? 0) < settings.hypothesesPerAgent) {
        quota.set(i, (quota.get(i) ?? 0) + 1);
        left--;
      }
    }
  }
  return [...quota.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([i, count]) => ({ ...all[i]!, count }));
}

/** Upper bound of one call in nano-dollars: the whole prompt at the dearest input rate. */
function callNano(price: ModelPrice, promptTokens: number, outputTokens: number): number {
  const band =
    price.longPrompt && promptTokens > price.longPrompt.aboveTokens
      ? price.longPrompt.rates
      : price;
  const inputRate = Math.max(band.input, band.cacheWrite5m);
  return Math.ceil(promptTokens * inputRate * 1000) + Math.ceil(outputTokens * band.output * 1000);
}

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
): CostEstimate {
  if (view.strategy.name !== 'claude') return { calls: 0, expectedDollars: 0, maxDollars: 0 };
  const settings = view.strategy.settings;
  const price = priceOf(settings.model, prices);
  const agents = planAgents(view);
  const system = estimateTokens(buildSystemPrompt(view));
  let expected = 0;
  let max = 0;
  agents.forEach((agent, i) => {
    const user = estimateTokens(buildAgentMessage(view, agent, limits)) + SCHEMA_OVERHEAD;
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

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);

interface Checked {
  proposal?: HypothesisProposal;
  errors: string[];
}

/** Checks one wire hypothesis against parent, space and what was tried; accepts it into `tried`. */
export function checkHypothesis(
  view: StrategyView,
  h: WireHypothesis,
  tried: TriedSet,
  label: string,
): Checked {
  const errors: string[] = [];
  const { space, baseline } = view.problem;
  let parentId = h.parentTrialId;
  // Models sometimes spell "the baseline" as a string.
  if (parentId !== null && ['', 'null', 'none', 'baseline'].includes(parentId.trim().toLowerCase()))
    parentId = null;
  let parentConfig: Config = baseline;
  if (parentId !== null) {
    const parent = view.history.find((t) => t.id === parentId);
    if (!parent)
      errors.push(
        `parentTrialId "${clip(parentId, 80)}" is not a finished trial (use an id from the lists, or null for the baseline)`,
      );
    else parentConfig = parent.params;
  }
  const entries = new Map<string, ParamValue>();
  for (const c of h.changes) {
    if (entries.has(c.param)) errors.push(`changes: "${clip(c.param, 64)}" is set twice`);
    entries.set(c.param, c.value);
  }
  // fromEntries makes own data properties, so a "__proto__" param is just an unknown name.
  const changes: Record<string, ParamValue> = Object.fromEntries(entries);
  if (h.changes.length === 0)
    errors.push('changes: empty (a hypothesis must change at least one parameter)');
  if (errors.length > 0) return { errors };

  let config: Config;
  try {
    config = applyChanges(space, parentConfig, changes, { baseline });
  } catch (err) {
    if (err instanceof InvalidConfigError) {
      return { errors: err.issues.map((i) => `${formatPath(i.path)}: ${i.message}`) };
    }
    throw err;
  }
  const dup = tried.duplicateOf(config);
  if (dup) return { errors: [`the resulting configuration is a ${dup}`] };

  const parsed = HypothesisProposal.safeParse({
    title: clip(h.title.trim() || 'untitled hypothesis', 200),
    rationale: clip(h.rationale, 5000),
    parentTrialId: parentId,
    // Spelled out relative to the parent, newly active parameters included, so the configuration
    // that runs does not depend on how the caller fills defaults.
    changes: diffConfig(space, parentConfig, config),
    expectedEffect: clip(h.expectedEffect, 2000),
  });
  if (!parsed.success) return { errors: [z.prettifyError(parsed.error).replace(/\s+/g, ' ')] };
  tried.add(config, `proposal "${label}"`);
  return { proposal: parsed.data, errors: [] };
}

// ---------------------------------------------------------------------------------------------
// One agent
// ---------------------------------------------------------------------------------------------

interface AgentOutcome {
  agent: AgentBrief;
  proposals: HypothesisProposal[];
  dropped: { title: string; reason: string }[];
  insight?: string;
  nano: number;
  usage: {
    inputTokens: number;
    outputTokens: number;
    cacheReadTokens: number;
    cacheWriteTokens: number;
  };
  fatal?: string;
  transient?: string;
  skipped?: string;
}

/** Whether an API error can be fixed by trying again later. */
function classify(err: unknown): { fatal?: string; transient?: string } {
  // The SDK throws a plain Error at request time when it finds no key at all.
  if (
    !(err instanceof APIError) &&
    err instanceof Error &&
    /authentication method/i.test(err.message)
  ) {
    return {
      fatal: `no Anthropic credentials: set ANTHROPIC_API_KEY for the worker, or use the optuna strategy (${err.message})`,
    };
  }
  if (err instanceof APIConnectionError)
    return { transient: `cannot reach the Claude API: ${err.message}` };
  if (err instanceof APIError) {
    const status = err.status ?? 0;
    const type = (err.error as { error?: { type?: string } } | undefined)?.error?.type ?? 'error';
    const detail = `${status} ${type}: ${(err.error as { error?: { message?: string } } | undefined)?.error?.message ?? err.message}`;
    if (status === 408 || status === 409 || status === 429 || status >= 500)
      return { transient: `Claude API still failing after retries (${detail})` };
    const hint =
      status === 401
        ? ' — check ANTHROPIC_API_KEY'
        : status === 403
          ? ' — the key may not have access to this model'
          : status === 404
            ? ' — check strategy.settings.model'
            : '';
    return { fatal: `Claude API rejected the request (${detail})${hint}` };
  }
  return {};
}

interface AgentContext {
  view: StrategyView;
  settings: ClaudeSettings;
  system: TextBlockParam[];
  client: Anthropic;
  options: ClaudeStrategyOptions;
  redactor: Redactor;
  tried: TriedSet;
  /** Dollars (nano) still allowed, shared by all agents of the call; undefined = no cap. */
  budget: { leftNano: number | undefined };
  price: ModelPrice;
}

async function runAgent(ctx: AgentContext, agent: AgentBrief): Promise<AgentOutcome> {
  const { view, settings, options, redactor, tried } = ctx;
  const limits = options.limits ?? DEFAULT_LIMITS;
  const outcome: AgentOutcome = {
    agent,
    proposals: [],
    dropped: [],
    nano: 0,
    usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
  };
  const messages: MessageParam[] = [
    { role: 'user', content: redactor.apply(buildAgentMessage(view, agent, limits)) },
  ];
  const systemText = ctx.system.map((b) => b.text).join('\n');

  const call = async (): Promise<{ parsed: Parsed; raw: string } | undefined> => {
    const promptText =
      systemText + messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n');
    const worst = callNano(
      ctx.price,
      estimateTokens(promptText) + SCHEMA_OVERHEAD,
      settings.maxTokens,
    );
    if (ctx.budget.leftNano !== undefined && worst > ctx.budget.leftNano) {
      outcome.skipped = `not called: a call may cost up to $${nanoToDollars(worst).toFixed(4)}, more than the $${nanoToDollars(Math.max(0, ctx.budget.leftNano)).toFixed(4)} left of the dollar budget`;
      return undefined;
    }
    try {
      const response = await ctx.client.messages.parse(
        {
          model: settings.model,
          max_tokens: settings.maxTokens,
          system: ctx.system,
          messages,
          output_config: { format: outputFormat },
          ...(settings.temperature !== undefined ? { temperature: settings.temperature } : {}),
        },
        {
          timeout: options.timeoutMs ?? 180_000,
          maxRetries: options.maxRetries ?? 4,
          ...(options.signal ? { signal: options.signal } : {}),
        },
      );
      const usage = response.usage as UsageLike;
      // Priced by the requested model: the response may name a dated snapshot of it.
      const nano = usageNanoDollars(settings.model, usage, options.prices);
      outcome.nano += nano;
      if (ctx.budget.leftNano !== undefined) ctx.budget.leftNano -= nano;
      outcome.usage.inputTokens += usage.input_tokens;
      outcome.usage.outputTokens += usage.output_tokens;
      outcome.usage.cacheReadTokens += usage.cache_read_input_tokens ?? 0;
      outcome.usage.cacheWriteTokens += usage.cache_creation_input_tokens ?? 0;
      const raw = response.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
      let parsed: Parsed = response.parsed_output ?? {
        ok: false,
        error: `the reply had no text (stop_reason ${response.stop_reason})`,
      };
      if (response.stop_reason === 'max_tokens' && !parsed.ok) {
        parsed = {
          ok: false,
          error: `the reply was cut off at max_tokens (${settings.maxTokens}); be more concise. ${parsed.error}`,
        };
      } else if (response.stop_reason === 'refusal') {
        parsed = { ok: false, error: 'the reply was a refusal' };
      }
      return { parsed, raw };
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const c = classify(err);
      if (c.fatal) outcome.fatal = c.fatal;
      else if (c.transient) outcome.transient = c.transient;
      else throw err;
      return undefined;
    }
  };

  const first = await call();
  if (!first) return outcome;

  // Round 1: validate; collect what needs repair.
  let toRepair: { title: string; errors: string[] }[] = [];
  let missing = agent.count;
  let parseError: string | undefined;
  const accept = (
    hs: readonly WireHypothesis[],
    round: number,
  ): { title: string; errors: string[] }[] => {
    const bad: { title: string; errors: string[] }[] = [];
    for (const h of hs) {
      if (missing <= 0) {
        outcome.dropped.push({
          title: clip(h.title || 'untitled', 200),
          reason: `beyond the ${agent.count} hypotheses asked of ${agent.name}`,
        });
        continue;
      }
      const checked = checkHypothesis(view, h, tried, h.title);
      if (checked.proposal) {
        outcome.proposals.push(checked.proposal);
        missing--;
      } else bad.push({ title: h.title || 'untitled', errors: checked.errors });
    }
    if (round === 2)
      for (const b of bad)
        outcome.dropped.push({
          title: clip(b.title, 200),
          reason: `invalid after repair: ${clip(b.errors.join('; '), 1500)}`,
        });
    return bad;
  };

  if (first.parsed.ok) {
    toRepair = accept(first.parsed.value.hypotheses, 1);
    if (first.parsed.value.insight.trim()) outcome.insight = first.parsed.value.insight.trim();
  } else parseError = first.parsed.error;

  // One repair round for invalid hypotheses, an unusable reply, or too few hypotheses.
  if (missing > 0) {
    const problems =
      toRepair.length > 0 || parseError !== undefined
        ? toRepair
        : [
            {
              title: '(missing)',
              errors: [
                `you proposed ${agent.count - missing} of the ${agent.count} hypotheses asked`,
              ],
            },
          ];
    messages.push({ role: 'assistant', content: first.raw.trim() || '(empty reply)' });
    messages.push({ role: 'user', content: buildRepairMessage(problems, missing, parseError) });
    const second = await call();
    if (second?.parsed.ok) {
      accept(second.parsed.value.hypotheses, 2);
      if (!outcome.insight && second.parsed.value.insight.trim())
        outcome.insight = second.parsed.value.insight.trim();
    } else {
      const why = second
        ? `reply unusable after repair: ${second.parsed.ok ? '' : second.parsed.error}`
        : (outcome.fatal ?? outcome.transient ?? outcome.skipped ?? 'repair not possible');
      for (const b of toRepair)
        outcome.dropped.push({
          title: clip(b.title, 200),
          reason: `invalid (${clip(b.errors.join('; '), 1000)}); ${clip(why, 500)}`,
        });
      if (parseError !== undefined && !second?.parsed.ok)
        outcome.dropped.push({
          title: `${agent.name} reply`,
          reason: clip(`unusable reply: ${parseError}; ${why}`, 2000),
        });
    }
  }
  return outcome;
}

// ---------------------------------------------------------------------------------------------
// The strategy
// ---------------------------------------------------------------------------------------------

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
  const agents = planAgents(view);
  if (agents.length === 0) return result;

  const ctx: AgentContext = {
    view,
    settings,
    system: [
      {
        type: 'text',
        text: redactor.apply(buildSystemPrompt(view)),
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
          : Math.floor(view.budgetLeft.dollars * 1e9),
    },
    price,
  };

  const outcomes: AgentOutcome[] = [];
  const firstOutcome = await runAgent(ctx, agents[0]!);
  outcomes.push(firstOutcome);
  if (!firstOutcome.fatal && agents.length > 1)
    outcomes.push(...(await Promise.all(agents.slice(1).map((a) => runAgent(ctx, a)))));

  let nano = 0;
  const failures: string[] = [];
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
    const problem = o.fatal ?? o.transient ?? o.skipped;
    if (problem) {
      failures.push(`${o.agent.name}: ${problem}`);
      result.notes.push({ kind: 'error', author: o.agent.name, text: clip(problem, 5000) });
    }
  }
  result.dollars = nanoToDollars(nano);
  const fatal = outcomes.find((o) => o.fatal)?.fatal;
  if (fatal) return { ...result, fatalError: fatal };
  // Nothing spent and nothing proposed because of rate limits or outages: let the activity retry.
  if (nano === 0 && result.proposals.length === 0 && outcomes.every((o) => o.transient)) {
    throw new TransientAgentError(failures.join('; '));
  }
  return result;
}
