/**
 * What a Claude agent must reply and how a reply is judged: the structured-output schema sent
 * with each request (`messages.parse` with `zodOutputFormat`), and {@link validateReply}, which
 * checks a reply as a whole (usage, content type, truncation, refusal, prose where JSON was
 * asked, the schema) and names each problem in people's words.
 */
import type { AutoParseableOutputFormat } from '@anthropic-ai/sdk';
import { zodOutputFormat } from '@anthropic-ai/sdk/helpers/zod';
import type { Message } from '@anthropic-ai/sdk/resources/messages/messages';
import { z } from 'zod';
import { formatPath } from '../../../domain/errors.js';
import type { UsageLike } from './pricing.js';

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
export type WireHypothesis = AgentOutput['hypotheses'][number];

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
/** The output formats a request carries: parameters only, or parameters and code edits. */
export const FORMATS = { params: formatsOf(AgentOutput), code: formatsOf(CodeAgentOutput) };

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

export const isCount = (x: unknown): x is number =>
  typeof x === 'number' && Number.isInteger(x) && x >= 0;
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
