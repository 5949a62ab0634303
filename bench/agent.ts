/**
 * 5. Cost of the agent: tokens and dollars per hypothesis of the Claude strategy on the
 * weak-to-strong problem, with and without prompt caching, from the requests the real strategy
 * code sends to the fake Messages API (test/support/fake-anthropic.ts), and from a real model when
 * ANTHROPIC_API_KEY is set.
 *
 * The fake answers with usage computed from each request: prompt tokens estimated from its text
 * (CHARS_PER_TOKEN), and a simulated 5-minute prompt cache on the system prompt (the block the
 * strategy marks with cache_control) when it reaches the model's minimum cacheable length. The
 * same requests are priced twice: as the cache would bill them, and with every prompt token at
 * the plain input rate (no caching).
 */
import { createHash } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import { createStrategyActivities } from '../activities/strategies/index.js';
import { usageNanoDollars } from '../activities/strategies/claude/pricing.js';
import { ClaudeSettings, type StrategyResult } from '../domain/strategy.js';
import {
  requestText,
  startFakeAnthropic,
  type FakeReply,
  type FakeUsage,
  type RecordedRequest,
} from '../test/support/fake-anthropic.js';
import { qualityProblems } from './experiments.js';
import { fmt, table, type BenchResult, type Size } from './results.js';
import { round } from './stats.js';
import { simulateCampaign } from './simulate.js';
import type { Benchmark } from './suite.js';

const PRESETS: Record<Size, { iterations: number; realIterations: number }> = {
  tiny: { iterations: 2, realIterations: 1 },
  quick: { iterations: 6, realIterations: 2 },
  full: { iterations: 15, realIterations: 4 },
};

/** Hypotheses asked per iteration (two agents proposing two each, the claude strategy's defaults). */
const COUNT = 4;
/** The model a claude campaign uses unless its settings name another. */
const MODEL = ClaudeSettings.parse({}).model;
/** Claude's tokenizer gives roughly 3.5 characters per token on English prose mixed with JSON. */
export const CHARS_PER_TOKEN = 3.5;

/**
 * Minimum cacheable prompt length by model (Anthropic's prompt-caching documentation); a shorter
 * prefix is billed at the plain input rate and caches nothing.
 */
export const MIN_CACHEABLE: Record<string, number> = {
  'claude-opus-4-5': 4096,
  'claude-opus-4-6': 4096,
  'claude-haiku-4-5': 4096,
  'claude-sonnet-4-5': 1024,
  'claude-sonnet-4-6': 2048,
  'claude-opus-4-7': 2048,
  'claude-opus-4-8': 1024,
};

export const estimateTokens = (text: string): number => Math.ceil(text.length / CHARS_PER_TOKEN);

export interface AgentCost {
  source: 'fake' | 'real';
  model: string;
  iterations: number;
  requests: number;
  hypotheses: number;
  /** Token totals over the run. */
  tokens: { input: number; output: number; cacheRead: number; cacheWrite: number };
  /** The cached prefix (system prompt), tokens, and whether it reaches the model's minimum. */
  systemPromptTokens: number;
  cacheable: boolean;
  promptTokensPerHypothesis: number;
  outputTokensPerHypothesis: number;
  dollarsPerHypothesis: { withCaching: number; withoutCaching: number };
  dollarsPerIteration: { withCaching: number; withoutCaching: number };
}

export interface AgentData {
  rows: AgentCost[];
  /** Why the real model was not measured. */
  realSkipped: string | null;
}

/** Characters a real model writes per hypothesis (title, rationale, changes, expected effect). */
const REPLY_CHARS_PER_HYPOTHESIS = 250;

/** Hypotheses a request asks for (the last "exactly N" of the prompt, as the fake reads it). */
export function requestedCount(req: RecordedRequest): number {
  const m = [...requestText(req.body).matchAll(/exactly (\d+) (?:corrected )?hypothes/g)].at(-1);
  return Number(m?.[1] ?? 1);
}

/** The fake's usage for one request: estimated tokens and a simulated prompt cache. */
export function fakeUsage(
  req: RecordedRequest,
  replyText: string,
  cache: Map<string, number>,
  nowMs: number,
  model: string,
): FakeUsage {
  const body = req.body as { system?: { text: string }[]; output_config?: unknown };
  const systemText = (body.system ?? []).map((b) => b.text).join('\n');
  const total =
    estimateTokens(requestText(body)) + estimateTokens(JSON.stringify(body.output_config ?? {}));
  const prefix = estimateTokens(systemText);
  const output = estimateTokens(replyText);
  if (prefix < (MIN_CACHEABLE[model] ?? 1024))
    return {
      input_tokens: total,
      output_tokens: output,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    };
  const key = createHash('sha256').update(systemText).digest('hex');
  const seen = cache.get(key);
  cache.set(key, nowMs);
  const hit = seen !== undefined && nowMs - seen < 5 * 60_000;
  return {
    input_tokens: total - prefix,
    output_tokens: output,
    cache_creation_input_tokens: hit ? 0 : prefix,
    cache_read_input_tokens: hit ? prefix : 0,
  };
}

interface Tally {
  requests: number;
  hypotheses: number;
  iterations: number;
  tokens: AgentCost['tokens'];
  nanoWith: number;
  nanoWithout: number;
  systemPromptTokens: number;
}

const emptyTally = (): Tally => ({
  requests: 0,
  hypotheses: 0,
  iterations: 0,
  tokens: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
  nanoWith: 0,
  nanoWithout: 0,
  systemPromptTokens: 0,
});

function addUsage(
  t: Tally,
  model: string,
  u: { input: number; output: number; cacheRead: number; cacheWrite: number },
): void {
  t.tokens.input += u.input;
  t.tokens.output += u.output;
  t.tokens.cacheRead += u.cacheRead;
  t.tokens.cacheWrite += u.cacheWrite;
  t.nanoWith += usageNanoDollars(model, {
    input_tokens: u.input,
    output_tokens: u.output,
    cache_read_input_tokens: u.cacheRead,
    cache_creation_input_tokens: u.cacheWrite,
  });
  t.nanoWithout += usageNanoDollars(model, {
    input_tokens: u.input + u.cacheRead + u.cacheWrite,
    output_tokens: u.output,
  });
}

function toRow(source: AgentCost['source'], model: string, t: Tally): AgentCost {
  const per = (x: number, n: number) => (n > 0 ? x / n : NaN);
  const prompt = t.tokens.input + t.tokens.cacheRead + t.tokens.cacheWrite;
  return {
    source,
    model,
    iterations: t.iterations,
    requests: t.requests,
    hypotheses: t.hypotheses,
    tokens: t.tokens,
    systemPromptTokens: t.systemPromptTokens,
    cacheable: t.systemPromptTokens >= (MIN_CACHEABLE[model] ?? 1024),
    promptTokensPerHypothesis: round(per(prompt, t.hypotheses), 0),
    outputTokensPerHypothesis: round(per(t.tokens.output, t.hypotheses), 0),
    dollarsPerHypothesis: {
      withCaching: round(per(t.nanoWith / 1e9, t.hypotheses), 5),
      withoutCaching: round(per(t.nanoWithout / 1e9, t.hypotheses), 5),
    },
    dollarsPerIteration: {
      withCaching: round(per(t.nanoWith / 1e9, t.iterations), 5),
      withoutCaching: round(per(t.nanoWithout / 1e9, t.iterations), 5),
    },
  };
}

export const agent: Benchmark<AgentData> = {
  name: 'agent',
  title: '5. Cost of the agent (Claude strategy)',
  needsStack: false,
  initial: () => ({ rows: [], realSkipped: null }),

  async run({ size, out, log, realModel }) {
    const preset = PRESETS[size];
    const [problem] = await qualityProblems(['weak-to-strong']);
    out.params = {
      problem: 'weak-to-strong',
      model: MODEL,
      iterations: preset.iterations,
      hypothesesPerIteration: COUNT,
      charsPerToken: CHARS_PER_TOKEN,
    };

    // ---- the fake Messages API --------------------------------------------------------------
    const fake = await startFakeAnthropic();
    const cache = new Map<string, number>();
    const tally = emptyTally();
    try {
      const reply: FakeReply = (req) => ({
        kind: 'default',
        usage: fakeUsage(
          req,
          'x'.repeat(REPLY_CHARS_PER_HYPOTHESIS * requestedCount(req)),
          cache,
          Date.now(),
          MODEL,
        ),
      });
      // One scripted reply per request (the queue is long enough for any repair rounds).
      fake.script(...Array.from({ length: preset.iterations * 20 }, () => reply));
      const acts = createStrategyActivities({
        anthropic: () =>
          new Anthropic({ apiKey: 'bench-fake-key', baseURL: fake.url, maxRetries: 0 }),
      });
      log(
        `[agent] ${preset.iterations} iterations of the Claude strategy against the fake Messages API`,
      );
      await simulateCampaign({
        problem: problem!,
        strategy: { name: 'claude', settings: { model: MODEL } },
        seed: 1,
        budget: preset.iterations * COUNT,
        count: COUNT,
        iterations: preset.iterations,
        acts,
        onResult: (r: StrategyResult) => {
          tally.iterations++;
          tally.hypotheses += r.proposals.length;
        },
      });
      // Message requests only: each call's count_tokens request is free.
      const messages = fake.messageRequests();
      tally.requests = messages.length;
      for (const req of messages) {
        const body = req.body as { system?: { text: string }[] };
        tally.systemPromptTokens = Math.max(
          tally.systemPromptTokens,
          estimateTokens((body.system ?? []).map((b) => b.text).join('\n')),
        );
      }
      // Re-derive the usage the fake reported, request by request, with a fresh cache.
      const replay = new Map<string, number>();
      messages.forEach((req, i) => {
        const u = fakeUsage(
          req,
          'x'.repeat(REPLY_CHARS_PER_HYPOTHESIS * requestedCount(req)),
          replay,
          i * 1000,
          MODEL,
        );
        addUsage(tally, MODEL, {
          input: u.input_tokens,
          output: u.output_tokens,
          cacheRead: u.cache_read_input_tokens,
          cacheWrite: u.cache_creation_input_tokens,
        });
      });
      out.data.rows.push(toRow('fake', MODEL, tally));
    } finally {
      await fake.close();
    }

    // ---- a real model -----------------------------------------------------------------------
    if (!realModel) {
      out.data.realSkipped = 'real model calls were turned off (--no-real-model)';
    } else if (!process.env.ANTHROPIC_API_KEY) {
      out.data.realSkipped = 'ANTHROPIC_API_KEY is not set';
    } else {
      log(`[agent] ${preset.realIterations} iterations against the real Messages API (${MODEL})`);
      const real = emptyTally();
      try {
        const acts = createStrategyActivities({
          anthropic: () => new Anthropic({ apiKey: process.env.ANTHROPIC_API_KEY }),
        });
        await simulateCampaign({
          problem: problem!,
          strategy: { name: 'claude', settings: { model: MODEL } },
          seed: 1,
          budget: preset.realIterations * COUNT,
          count: COUNT,
          iterations: preset.realIterations,
          acts,
          onResult: (r) => {
            real.iterations++;
            real.hypotheses += r.proposals.length;
            if (r.usage)
              addUsage(real, MODEL, {
                input: r.usage.inputTokens,
                output: r.usage.outputTokens,
                cacheRead: r.usage.cacheReadTokens,
                cacheWrite: r.usage.cacheWriteTokens,
              });
          },
        });
        real.systemPromptTokens = tally.systemPromptTokens;
        out.data.rows.push(toRow('real', MODEL, real));
      } catch (err) {
        out.data.realSkipped = `the real model run failed: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    out.notes.push(
      `Fake: prompt tokens are estimated at ${CHARS_PER_TOKEN} characters per token from the requests the strategy really builds; output tokens assume ${REPLY_CHARS_PER_HYPOTHESIS} characters per hypothesis (the fake's replies are terse, a real model writes longer rationales). The prompt cache is simulated (5-minute TTL, minimum cacheable length per model).`,
      '"Without caching" prices every prompt token at the plain input rate; "with caching" prices cache writes at 1.25x and reads at 0.1x of it (MODEL_PRICES).',
    );
  },

  render(result: BenchResult<AgentData>) {
    const rows = result.data.rows;
    const parts = [
      table(
        [
          'source',
          'model',
          'iterations',
          'requests',
          'hypotheses',
          'system prompt tokens',
          'cacheable',
          'prompt tokens / hyp.',
          'output tokens / hyp.',
          '$ / hyp. with caching',
          '$ / hyp. without',
          '$ / iteration with caching',
          'without',
        ],
        rows.map((r) => [
          r.source,
          r.model,
          r.iterations,
          r.requests,
          r.hypotheses,
          r.systemPromptTokens,
          r.cacheable ? 'yes' : 'no',
          r.promptTokensPerHypothesis,
          r.outputTokensPerHypothesis,
          fmt(r.dollarsPerHypothesis.withCaching, 4),
          fmt(r.dollarsPerHypothesis.withoutCaching, 4),
          fmt(r.dollarsPerIteration.withCaching, 4),
          fmt(r.dollarsPerIteration.withoutCaching, 4),
        ]),
      ),
    ];
    if (result.data.realSkipped)
      parts.push('', `Real model: not measured (${result.data.realSkipped}).`);
    return parts.join('\n');
  },
};
