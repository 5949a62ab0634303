/** What the parts of one Claude strategy call share: options, context, each agent's outcome. */
import type Anthropic from '@anthropic-ai/sdk';
import type { TextBlockParam } from '@anthropic-ai/sdk/resources/messages/messages';
import type { HypothesisProposal } from '../../../domain/schemas.js';
import type { ClaudeSettings, DroppedProposal, StrategyView } from '../../../domain/strategy.js';
import type { Spend, SpendRecord } from '../spend.js';
import type { TriedSet } from '../common.js';
import type { CodeContext } from './code.js';
import type { ModelPrice } from './pricing.js';
import type { AgentBrief } from './plan.js';
import type { PromptLimits } from './prompt.js';
import type { Redactor } from './text.js';
import type { AgentOutput, ReplyProblem } from './reply.js';

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

export interface AgentOutcome {
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

export interface AgentContext {
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

export type Reply =
  | { output: AgentOutput; text: string; problem?: undefined }
  | { output?: undefined; text: string; problem: ReplyProblem };
