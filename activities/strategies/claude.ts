/**
 * The Claude research agents: several agents with their own research directions propose
 * hypotheses through the Messages API with zod-validated structured output (`messages.parse`
 * with `zodOutputFormat`), share one notebook, and are charged per token.
 *
 * What holds against a hostile or broken model:
 * - Every proposal in every reply gets a fate (accepted, duplicate, sent back for repair,
 *   dropped) with a reason; invalid ones get one repair round.
 * - Each reply is validated as a whole ({@link ReplyProblem}): usage, content type, truncation,
 *   refusal, prose where JSON was asked. An unusable reply is charged at the call's worst case
 *   (or its reported cost if higher) and named in people's words.
 * - The dollar cap holds: before each call its exact bound comes from the counted input tokens
 *   (`messages.countTokens`) and max_tokens at the model's prices, and is reserved from what is
 *   left (a count that fails falls back to the request's size in bytes); each retry the SDK
 *   sends reserves its own bound or is not sent. Usage beyond the bound is an anomaly that is
 *   charged and stops the campaign.
 * - No spend is lost: a request that got no answer (a client timeout, a dropped connection, an
 *   attempt the SDK retried) may have been billed and is charged at its bound; a reply that
 *   reports fewer prompt tokens than were counted (even 0) is charged at the count; spend is
 *   recorded in the activity's heartbeat details before and after each request, so a retry of
 *   the activity charges what the attempt before it spent or had in flight.
 * - Overloads and rate limits that outlast the SDK's retries come back as `unavailable` agents
 *   for the workflow to ask again later; errors a retry cannot fix (bad key, invalid request,
 *   unknown model) come back as `fatalError`.
 */
import type Anthropic from '@anthropic-ai/sdk';
import { APIConnectionError, APIError, type AutoParseableOutputFormat } from '@anthropic-ai/sdk';
import { zodOutputFormat } from '@anthropic-ai/sdk/helpers/zod';
import type {
  Message,
  MessageCreateParamsNonStreaming,
  MessageParam,
  TextBlockParam,
} from '@anthropic-ai/sdk/resources/messages/messages';
import { z } from 'zod';
import { InvalidConfigError, formatPath } from '../../domain/errors.js';
import { HypothesisProposal, type Config, type ParamValue } from '../../domain/schemas.js';
import { applyChanges } from '../../domain/space.js';
import type {
  ClaudeSettings,
  DroppedProposal,
  StrategyResult,
  StrategyView,
} from '../../domain/strategy.js';
import type { SourceEdit, SourceSnapshot } from '../../domain/code.js';
import { checkCompiles, checkEdits, codePrompt, type CodeContext } from './code.js';
import { TriedSet, diffConfig } from './common.js';
import {
  DEPRECATED_MODELS,
  boundNanoDollars,
  modelWarning,
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
const WireHypothesisSchema = z.object({
  title: z.string().describe('Short name of the idea, at most 120 characters.'),
  rationale: z.string().describe('Why this should help, grounded in the results so far.'),
  parentTrialId: z
    .string()
    .nullable()
    .describe('Id of the finished trial this builds on, or null for the baseline.'),
  changes: z
    .array(z.object({ param: z.string(), value: z.union([z.string(), z.number(), z.boolean()]) }))
    .describe('Parameter values to set on top of the parent configuration.'),
  expectedEffect: z.string().describe('What result would confirm or refute the idea.'),
});
const WireEditSchema = z.object({
  file: z.string().describe('An editable file, e.g. method.py.'),
  search: z
    .string()
    .describe(
      "Text that occurs exactly once in the parent trial's source, copied exactly (empty: create the file).",
    ),
  replace: z.string().describe('The text that replaces it.'),
});
const insight = z.string().describe('One to three sentences for the shared notebook.');

export const AgentOutput = z.object({ hypotheses: z.array(WireHypothesisSchema), insight });
/** On a code experiment each hypothesis also carries edits to its parent's source (maybe none). */
export const CodeAgentOutput = z.object({
  hypotheses: z.array(
    WireHypothesisSchema.extend({
      edits: z
        .array(WireEditSchema)
        .describe("Search/replace edits to the parent's source, applied in order; [] for none."),
    }),
  ),
  insight,
});
/** What replies are read with: one schema for both formats (edits optional). */
const ReplyOutput = z.object({
  hypotheses: z.array(WireHypothesisSchema.extend({ edits: z.array(WireEditSchema).optional() })),
  insight,
});
export type AgentOutput = z.infer<typeof ReplyOutput>;
type WireHypothesis = AgentOutput['hypotheses'][number];

function formatsOf(schema: typeof AgentOutput | typeof CodeAgentOutput) {
  const strict = zodOutputFormat(schema);
  return {
    /**
     * Never throws: the reply is validated as a whole in {@link validateReply}, which also needs
     * the usage and stop reason, so parsing here only hands the text through.
     */
    output: {
      type: strict.type,
      schema: strict.schema,
      parse: (content: string): string => content,
    } as AutoParseableOutputFormat<string>,
    /** The wire form of the output format (what count_tokens and a raw request carry). */
    wire: { type: strict.type, schema: strict.schema },
  };
}
const FORMATS = { params: formatsOf(AgentOutput), code: formatsOf(CodeAgentOutput) };
const strictFormat = FORMATS.params.wire;

// ---------------------------------------------------------------------------------------------
// Reply validation
// ---------------------------------------------------------------------------------------------

/** The ways a reply can be unusable or untrustworthy. */
export type ReplyProblemKind =
  'usage' | 'wrong_content' | 'truncated' | 'refusal' | 'prose' | 'schema' | 'empty';

/**
 * Thrown (or returned) when a reply cannot be used as it is. `message` is in a person's words for
 * the notebook; `detail` is for the model's repair message and the worker log.
 */
export class ReplyProblem extends Error {
  constructor(
    readonly kind: ReplyProblemKind,
    message: string,
    readonly detail: string = message,
  ) {
    super(message);
    this.name = 'ReplyProblem';
  }
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
const optionalCount = (x: unknown): boolean => x === undefined || x === null || isCount(x);

/** The usage of a reply when it is complete and non-negative, else null. */
export function checkUsage(usage: unknown): UsageLike | null {
  if (!usage || typeof usage !== 'object') return null;
  const u = usage as Record<string, unknown>;
  if (!isCount(u.input_tokens) || !isCount(u.output_tokens)) return null;
  if (!optionalCount(u.cache_creation_input_tokens) || !optionalCount(u.cache_read_input_tokens))
    return null;
  const cc = u.cache_creation as Record<string, unknown> | null | undefined;
  if (
    cc &&
    (!optionalCount(cc.ephemeral_5m_input_tokens) || !optionalCount(cc.ephemeral_1h_input_tokens))
  )
    return null;
  return usage as UsageLike;
}

/**
 * Validates a whole reply: usage, content blocks, stop reason and the JSON against the schema.
 * Content problems void the reply (it gets one repair round); a usage problem does not, but the
 * call is then charged at its worst case.
 */
export function validateReply(
  message: Partial<Message> | undefined,
  maxTokens: number,
): { output?: AgentOutput; text: string; usage: UsageLike | null; problems: ReplyProblem[] } {
  const problems: ReplyProblem[] = [];
  const usage = checkUsage(message?.usage);
  if (!usage)
    problems.push(
      new ReplyProblem(
        'usage',
        'the API reply did not report its token usage (missing or negative counts); the call was charged at its worst case',
      ),
    );
  const blocks = Array.isArray(message?.content) ? message.content : [];
  const text = blocks.map((b) => (b && b.type === 'text' ? String(b.text ?? '') : '')).join('');
  // Thinking blocks are the model's own reasoning and are allowed; anything else is not text.
  const foreign = blocks.filter(
    (b) => !b || !['text', 'thinking', 'redacted_thinking'].includes(b.type),
  );
  const fail = (p: ReplyProblem) => ({ text, usage, problems: [...problems, p] });
  if (message?.stop_reason === 'refusal')
    return fail(new ReplyProblem('refusal', 'the model declined to answer'));
  if (foreign.length > 0 && text.trim() === '')
    return fail(
      new ReplyProblem(
        'wrong_content',
        'the reply was a tool call, not the JSON text that was asked for',
        `the reply had a ${String(foreign[0]?.type)} block; reply with JSON text only`,
      ),
    );
  if (text.trim() === '') {
    return fail(
      message?.stop_reason === 'max_tokens'
        ? new ReplyProblem(
            'truncated',
            `the reply was cut off at the output limit (max_tokens ${maxTokens}) before any text`,
          )
        : new ReplyProblem('empty', 'the reply was empty'),
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail(
      message?.stop_reason === 'max_tokens'
        ? new ReplyProblem(
            'truncated',
            `the reply was cut off at the output limit (max_tokens ${maxTokens}) before its JSON was complete`,
            `your reply was cut off at max_tokens (${maxTokens}); be more concise`,
          )
        : new ReplyProblem(
            'prose',
            'the reply was prose, not the JSON that was asked for',
            'your reply was not JSON; reply with the JSON object only, no prose around it',
          ),
    );
  }
  const parsed = ReplyOutput.safeParse(json);
  if (!parsed.success) {
    const where = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${formatPath(i.path) || '(root)'}: ${i.message}`)
      .join('; ');
    return fail(
      new ReplyProblem(
        'schema',
        "the reply's JSON did not have the fields that were asked for",
        `your JSON does not match the schema (${where})`,
      ),
    );
  }
  if (foreign.length > 0)
    problems.push(
      new ReplyProblem(
        'wrong_content',
        'the reply carried a tool call next to its JSON text; the tool call was ignored',
      ),
    );
  return { output: parsed.data, text, usage, problems };
}

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
  /** SDK retries per request for 408/409/429/5xx/529 and connection errors. @default the client's own */
  maxRetries?: number;
  /** Aborts in-flight requests (the activity's cancellation signal). */
  signal?: AbortSignal;
  /** A code experiment's interface and sources: agents may then propose edits. */
  code?: CodeContext;
  /**
   * Spend of earlier attempts of this activity (read back from its heartbeat details) and where
   * this attempt records its own, before and after each request, so a retry after a timeout or
   * a crash knows what was spent. Absent: nothing was spent before, nothing is recorded.
   */
  spend?: SpendRecord;
}

/**
 * What an activity attempt has spent, in nano-dollars: `charged` is settled, `reserved` is the
 * bound of requests in flight (a request cut off mid-flight may have been billed, so the next
 * attempt counts it as charged).
 */
export interface Spend {
  chargedNano: number;
  reservedNano: number;
}

export interface SpendRecord {
  /** What earlier attempts spent or may have spent (their charges and reservations). */
  carriedNano: number;
  /** Called with this attempt's running totals (carried included) after every change. */
  record(spend: Spend): void;
}

// ---------------------------------------------------------------------------------------------
// Cost estimate
// ---------------------------------------------------------------------------------------------

/** A conservative token count: ~3 characters per token (English prose is ~4, JSON denser). */
const estimateTokens = (text: string): number => Math.ceil(text.length / 3) + 50;
/** The output schema and message framing, in tokens. */
const SCHEMA_OVERHEAD = estimateTokens(JSON.stringify(strictFormat.schema)) + 100;
const CODE_SCHEMA_OVERHEAD = estimateTokens(JSON.stringify(FORMATS.code.wire.schema)) + 100;

/** The system prompt: the view's, and on a code experiment its interface and sources. */
function systemPrompt(view: StrategyView, code: CodeContext | undefined): string {
  const base = buildSystemPrompt(view);
  return code ? `${base}\n\n${codePrompt(view, code)}` : base;
}

export interface CostEstimate {
  /** Model calls planned (one per agent; the repair round may add one each). */
  calls: number;
  /** Likely cost: planned calls, prompt written to cache once, a quarter of max_tokens out. */
  expectedDollars: number;
  /** Worst case: every call repaired, full prompt at the cache-write rate, max_tokens out. */
  maxDollars: number;
}

/**
 * Agents that speak in this call and how many hypotheses each owes: agents whose last call failed
 * on an outage first, then the rest in an order that rotates with the iteration.
 */
export function planAgents(view: StrategyView): AgentBrief[] {
  if (view.strategy.name !== 'claude') return [];
  const settings = view.strategy.settings;
  const all = agentDirections(view);
  if (all.length === 0 || view.count <= 0) return [];
  const quota = new Map<number, number>();
  let left = Math.min(view.count, all.length * settings.hypothesesPerAgent);
  const start = view.iteration % all.length;
  const retry = new Set(view.retryAgents ?? []);
  const rotation = all.map((_, k) => (start + k) % all.length);
  const order = [
    ...rotation.filter((i) => retry.has(all[i]!.name)),
    ...rotation.filter((i) => !retry.has(all[i]!.name)),
  ];
  for (let round = 0; left > 0; round++) {
    for (let k = 0; k < order.length && left > 0; k++) {
      const i = order[k]!;
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

const callNano = boundNanoDollars;

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
  if (view.strategy.name !== 'claude') return { calls: 0, expectedDollars: 0, maxDollars: 0 };
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

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);

interface Checked {
  proposal?: HypothesisProposal;
  /** The source a proposal's edits make (for the compile check). */
  source?: SourceSnapshot;
  /** Whose source the edits apply to, in the agent's words. */
  parentLabel?: string;
  errors: string[];
  /** Why it was refused, for counting: unknown_parent, duplicate, invalid. */
  cause?: 'unknown_parent' | 'duplicate' | 'invalid';
}

/** Checks one wire hypothesis against parent, space and what was tried; accepts it into `tried`. */
export function checkHypothesis(
  view: StrategyView,
  h: WireHypothesis,
  tried: TriedSet,
  label: string,
  code?: CodeContext,
): Checked {
  const errors: string[] = [];
  let cause: Checked['cause'] = 'invalid';
  const { space, baseline } = view.problem;
  let parentId = h.parentTrialId;
  // Models sometimes spell "the baseline" as a string.
  if (parentId !== null && ['', 'null', 'none', 'baseline'].includes(parentId.trim().toLowerCase()))
    parentId = null;
  let parentConfig: Config = baseline;
  let parentSourceHash: string | undefined;
  if (parentId !== null) {
    const parent = view.history.find((t) => t.id === parentId);
    if (!parent) {
      cause = 'unknown_parent';
      errors.push(
        `parentTrialId "${clip(parentId, 80)}" is not a finished trial (use an id from the lists, or null for the baseline)`,
      );
    } else {
      parentConfig = parent.params;
      parentSourceHash = parent.sourceHash;
    }
  }
  let edits: SourceEdit[] | undefined;
  let source: SourceSnapshot | undefined;
  if (h.edits && h.edits.length > 0 && errors.length === 0) {
    const checked = checkEdits(code, parentSourceHash, parentId ?? 'the baseline', h.edits);
    errors.push(...checked.errors);
    edits = checked.edits;
    source = checked.source;
  }
  const entries = new Map<string, ParamValue>();
  for (const c of h.changes) {
    if (entries.has(c.param)) errors.push(`changes: "${clip(c.param, 64)}" is set twice`);
    entries.set(c.param, c.value);
  }
  // fromEntries makes own data properties, so a "__proto__" param is just an unknown name.
  const changes: Record<string, ParamValue> = Object.fromEntries(entries);
  if (h.changes.length === 0 && !h.edits?.length)
    errors.push(
      code
        ? 'changes and edits: both empty (a hypothesis must change a parameter or the source)'
        : 'changes: empty (a hypothesis must change at least one parameter)',
    );
  if (errors.length > 0) return { errors, cause };

  let config: Config;
  try {
    config = applyChanges(space, parentConfig, changes, { baseline });
  } catch (err) {
    if (err instanceof InvalidConfigError) {
      return {
        errors: err.issues.map((i) => `${formatPath(i.path)}: ${i.message}`),
        cause: 'invalid',
      };
    }
    throw err;
  }
  // A code change is a new configuration whatever its params: the campaign checks source + params.
  const dup = edits ? undefined : tried.duplicateOf(config);
  if (dup) return { errors: [`the resulting configuration is a ${dup}`], cause: 'duplicate' };

  const parsed = HypothesisProposal.safeParse({
    title: clip(h.title.trim() || 'untitled hypothesis', 200),
    rationale: clip(h.rationale, 5000),
    parentTrialId: parentId,
    // Spelled out relative to the parent, newly active parameters included, so the configuration
    // that runs does not depend on how the caller fills defaults.
    changes: diffConfig(space, parentConfig, config),
    expectedEffect: clip(h.expectedEffect, 2000),
    ...(edits ? { edits } : {}),
  });
  if (!parsed.success)
    return { errors: [z.prettifyError(parsed.error).replace(/\s+/g, ' ')], cause: 'invalid' };
  if (!edits) tried.add(config, `proposal "${label}"`);
  return {
    proposal: parsed.data,
    errors: [],
    ...(source ? { source, parentLabel: parentId ?? 'the baseline' } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// One agent
// ---------------------------------------------------------------------------------------------

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
const byteBound = (body: unknown): number => Buffer.byteLength(JSON.stringify(body), 'utf8') + 64;

interface AgentOutcome {
  agent: AgentBrief;
  proposals: HypothesisProposal[];
  dropped: DroppedProposal[];
  insight?: string;
  /** Problems with this agent's replies, in people's words (for the notebook). */
  problems: string[];
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
  // A bug or an SDK surprise: the campaign stops with a plain reason, the details go to the log.
  console.error('gaplab: unexpected error in the Claude strategy', err);
  return { fatal: 'the Claude strategy failed unexpectedly; the worker log has the details' };
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
  /** This attempt's spend, carried spend included, recorded on every change. */
  spend: Spend & { record(): void };
  price: ModelPrice;
  /** Set once a reply's usage broke its bound: no agent calls again. */
  halt: { anomaly?: string };
}

type Reply =
  | { output: AgentOutput; text: string; problem?: undefined }
  | { output?: undefined; text: string; problem: ReplyProblem };

async function runAgent(ctx: AgentContext, agent: AgentBrief): Promise<AgentOutcome> {
  const { view, settings, options, redactor, tried } = ctx;
  const limits = options.limits ?? DEFAULT_LIMITS;
  const { output: outputFormat, wire: wireFormat } = options.code ? FORMATS.code : FORMATS.params;
  const outcome: AgentOutcome = {
    agent,
    proposals: [],
    dropped: [],
    problems: [],
    nano: 0,
    usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
  };
  const messages: MessageParam[] = [
    { role: 'user', content: redactor.apply(buildAgentMessage(view, agent, limits)) },
  ];
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

  const call = async (): Promise<Reply | undefined> => {
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
    const reported = reply.usage
      ? usageNanoDollars(settings.model, reply.usage, options.prices)
      : 0;
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
  };

  const first = await call();
  if (!first) return outcome;

  let missing = agent.count;
  interface Bad {
    title: string;
    errors: string[];
    cause: NonNullable<Checked['cause']>;
  }
  /** Accepts what is valid within the quota; returns the invalid ones. */
  const accept = async (
    hs: readonly WireHypothesis[],
    pass: 'first' | 'repair',
  ): Promise<Bad[]> => {
    const bad: Bad[] = [];
    for (const h of hs) {
      const title = clip(h.title.trim() || 'untitled', 200);
      if (missing <= 0) {
        outcome.dropped.push({
          title,
          reason: `beyond the ${agent.count} hypotheses asked of ${agent.name}${pass === 'repair' ? ' in the repair round' : ''}`,
          fate: 'dropped',
          cause: 'over_quota',
          author: agent.name,
        });
        continue;
      }
      const checked = checkHypothesis(view, h, tried, h.title, options.code);
      // Edits that apply must also compile (checked without running them), else they are repaired.
      const compileError = checked.proposal
        ? await checkCompiles(options.code, checked.source, checked.parentLabel ?? 'the baseline')
        : undefined;
      if (compileError) bad.push({ title, errors: [compileError], cause: 'invalid' });
      else if (checked.proposal) {
        outcome.proposals.push(checked.proposal);
        missing--;
      } else bad.push({ title, errors: checked.errors, cause: checked.cause ?? 'invalid' });
    }
    return bad;
  };
  /** Drops invalid proposals that get no (further) repair. */
  const dropBad = (bad: readonly Bad[], why: string) => {
    for (const b of bad)
      outcome.dropped.push({
        title: b.title,
        reason: clip(`${b.errors.join('; ')}; ${why}`, 1500),
        fate: b.cause === 'duplicate' ? 'duplicate' : 'dropped',
        cause: b.cause,
        author: agent.name,
      });
  };

  let toRepair: Bad[] = [];
  if (first.output) {
    toRepair = await accept(first.output.hypotheses, 'first');
    if (first.output.insight.trim()) outcome.insight = first.output.insight.trim();
  }

  // One repair round for invalid hypotheses, an unusable reply, or too few hypotheses.
  if (missing <= 0) {
    dropBad(toRepair, 'not repaired: the other hypotheses filled the quota');
    return outcome;
  }
  const problems =
    toRepair.length > 0 || first.problem
      ? toRepair
      : [
          {
            title: '(missing)',
            errors: [
              `you proposed ${agent.count - missing} of the ${agent.count} hypotheses asked`,
            ],
          },
        ];
  messages.push({ role: 'assistant', content: first.text.trim() || '(empty reply)' });
  messages.push({
    role: 'user',
    content: redactor.apply(buildRepairMessage(problems, missing, first.problem?.detail)),
  });
  const second = await call();
  if (second?.output) {
    for (const b of toRepair)
      outcome.dropped.push({
        title: b.title,
        reason: clip(`sent back for repair: ${b.errors.join('; ')}`, 1500),
        fate: 'repaired',
        cause: b.cause,
        author: agent.name,
      });
    const still = await accept(second.output.hypotheses, 'repair');
    dropBad(still, 'still invalid after the repair round');
    if (!outcome.insight && second.output.insight.trim())
      outcome.insight = second.output.insight.trim();
  } else {
    const why = second
      ? `the repair reply was unusable: ${second.problem.message}`
      : `not repaired: ${outcome.fatal ?? outcome.transient ?? outcome.skipped ?? 'the repair call was not made'}`;
    dropBad(toRepair, why);
  }
  return outcome;
}

// ---------------------------------------------------------------------------------------------
// The strategy
// ---------------------------------------------------------------------------------------------

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
