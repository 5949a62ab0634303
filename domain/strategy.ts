/**
 * The contract between the campaign workflow and the strategies that propose hypotheses.
 *
 * The workflow builds a {@link StrategyView} with {@link buildStrategyView}: it carries only
 * visible metrics. Hidden metric names and values never reach a strategy, whatever it is.
 */
import { z } from 'zod';
import { Name } from './schemas.js';
import type { Config, Estimate, HypothesisProposal, Param, Trial } from './schemas.js';

export const StrategyName = z.enum(['claude', 'optuna', 'random']);
export type StrategyName = z.infer<typeof StrategyName>;

/** The current Sonnet (claude-sonnet-4-5 reaches end of life on 2026-11-30). */
export const DEFAULT_CLAUDE_MODEL = 'claude-sonnet-5-5';

export const ClaudeSettings = z.object({
  /** @default 'claude-sonnet-5-5' */
  model: z.string().min(1).max(128).default(DEFAULT_CLAUDE_MODEL),
  /** Research directions, one agent each. Derived from the spec when empty. */
  directions: z.array(z.string().min(1).max(1000)).max(16).default([]),
  /** Number of agents when no directions are given. @default 2 */
  agents: z.number().int().min(1).max(16).default(2),
  /** Hypotheses each agent proposes per iteration. @default 2 */
  hypothesesPerAgent: z.number().int().min(1).max(20).default(2),
  temperature: z.number().min(0).max(1).optional(),
  maxTokens: z.number().int().min(256).max(64000).default(4096),
});
export type ClaudeSettings = z.infer<typeof ClaudeSettings>;

export const OptunaSettings = z.object({
  sampler: z.enum(['tpe', 'gp', 'cmaes', 'random']).default('tpe'),
  /**
   * What the sampler learns from failed and timed-out trials: `avoid` tells them to Optuna so
   * it steers away (an infeasible trial for TPE and GP, a worst-value trial for CMA-ES), and
   * proposes, of four suggestions, the one with the least failure pressure (the random
   * strategy's kernel); `ignore` tells them as FAIL, which every Optuna sampler skips, and takes
   * the suggestions as they come (kept for comparison: bench/failures.ts,
   * docs/decisions/0009-failed-trials-are-information.md). @default 'avoid'
   */
  onFailure: z.enum(['avoid', 'ignore']).optional(),
  /** Suggestions per iteration. @default concurrency */
  batchSize: z.number().int().min(1).max(1000).optional(),
});
export type OptunaSettings = z.infer<typeof OptunaSettings>;

export const RandomSettings = z.object({
  batchSize: z.number().int().min(1).max(1000).optional(),
});

export const StrategyConfig = z.discriminatedUnion('name', [
  z.object({
    name: z.literal('claude'),
    settings: ClaudeSettings.default(ClaudeSettings.parse({})),
  }),
  z.object({ name: z.literal('optuna'), settings: OptunaSettings.default({ sampler: 'tpe' }) }),
  z.object({ name: z.literal('random'), settings: RandomSettings.default({}) }),
]);
export type StrategyConfig = z.infer<typeof StrategyConfig>;
export type StrategyConfigInput = z.input<typeof StrategyConfig>;

/**
 * What the campaign workflow needs to know about a strategy, declared by the strategy rather
 * than guessed from its name. The workflow asks `strategyTraits(config)`; the activity side's
 * registry of strategies reads the same declaration.
 */
export interface StrategyTraits {
  /**
   * Its proposals depend on the results so far (Optuna's TPE, GP and CMA-ES, the agent). A
   * strategy that does not (random search, Optuna's random sampler) proposes the same whatever
   * the results: the three traits below follow from that when no approval is required.
   */
  learnsFromResults: boolean;
  /** Its search may start beside the reference measurement, scored once they are known. */
  searchesBesideReferences: boolean;
  /** It is asked for a wave of trials ahead of need, in the same call. */
  asksAhead: boolean;
  /** Its short seeds run several to a slot (domain/batches.ts). */
  batchesSeeds: boolean;
  /** A call costs dollars: estimated before the call (`estimateStrategyCost`) against the budget. */
  paysPerCall: boolean;
  /** Who its hypotheses name as author: an agent (with its model) or the strategy itself. */
  author: 'agent' | 'strategy';
}

/** The traits of a strategy whose proposals do (or do not) depend on the results so far. */
function traitsOf(learnsFromResults: boolean): StrategyTraits {
  return {
    learnsFromResults,
    searchesBesideReferences: !learnsFromResults,
    asksAhead: !learnsFromResults,
    batchesSeeds: !learnsFromResults,
    paysPerCall: false,
    author: 'strategy',
  };
}

/**
 * Each built-in strategy's traits. Takes the whole configuration: Optuna's depend on its sampler.
 * The traits say what a strategy allows; the workflow still withholds the three that ask ahead of
 * results when proposals need a person's approval.
 */
export function strategyTraits(config: StrategyConfig): StrategyTraits {
  switch (config.name) {
    case 'claude':
      return { ...traitsOf(true), paysPerCall: true, author: 'agent' };
    case 'optuna':
      return traitsOf(config.settings.sampler !== 'random');
    case 'random':
      return traitsOf(false);
  }
}

export const NoteKind = z.enum(['result', 'hypothesis', 'insight', 'error', 'human']);
export const Note = z.object({
  kind: NoteKind,
  author: z.string().min(1).max(128),
  text: z.string().min(1).max(5000),
  trialId: z.string().max(200).optional(),
  at: z.string(),
});
export type Note = z.infer<typeof Note>;

/** One finished trial as a strategy may see it: visible metrics only. */
export type TrialView = Pick<
  Trial,
  | 'id'
  | 'parentTrialId'
  | 'title'
  | 'params'
  | 'status'
  | 'feasible'
  | 'failureReason'
  /** Status `pruned`: the cascade stage that stopped it, and the stage's score. */
  | 'pruned'
  /** Code experiments: the source the trial ran (absent: the initial source). */
  | 'sourceHash'
> & {
  /** The author's name. */
  author: string;
  /** Visible metric means. */
  metrics: Record<string, number>;
  /** Objective mean (undefined when failed). */
  objective?: number;
  /** Null while the trial is under review for a visible reason, or when it has none. */
  pgr: Pick<Estimate, 'mean' | 'ciLow' | 'ciHigh'> | null;
  /**
   * Held for review by a check on its visible results (PGR beyond the optimum, failed seeds,
   * non-finite values, high variance): not a result to build on until a person clears it.
   * Checks on hidden metrics never set it; see {@link StrategyView.leader}.
   */
  underReview?: true;
};

export interface StrategyView {
  campaignId: string;
  iteration: number;
  /** How many hypotheses to propose now. */
  count: number;
  /** Deterministic seed for this call (campaign seed + iteration). */
  seed: number;
  problem: {
    id: string;
    title: string;
    question: string;
    context: string;
    experiment: string;
    experimentDescription: string;
    space: Param[];
    baseline: Config;
  };
  objective: { metric: string; direction: 'maximize' | 'minimize' };
  /** Names and descriptions of the metrics the strategy may see. */
  visibleMetrics: { name: string; description: string }[];
  baselineScore: number | null;
  optimumScore: number | null;
  targetPgr: number;
  constraints: string[];
  /** Every finished search trial so far, oldest first. */
  history: TrialView[];
  /**
   * The trial offered as the one to build on: the campaign's best. The one fact in a view that
   * checks on hidden metrics can change, and only by leaving a trial out of this place: a
   * trial held for a hidden reason is otherwise shown like any other. Absent when none is.
   */
  leader?: string;
  notebook: Note[];
  /** Agents whose last call failed on an outage: they speak first in this call. */
  retryAgents?: string[];
  budgetLeft: {
    trials?: number;
    iterations?: number;
    dollars?: number;
    computeSeconds?: number;
    wallSeconds?: number;
  };
  strategy: StrategyConfig;
  /**
   * Present on a code experiment: hypotheses may carry edits to their parent's source. The
   * strategy activity reads the interface and the sources (by the trials' `sourceHash`) itself;
   * `runId` is the campaign's MLflow run that stores them.
   */
  code?: { runId?: string };
}

/**
 * What became of a proposal: it ran (or waits to run), was a duplicate, was sent back to its
 * author for repair (the repair reply's proposals are counted on their own), or was dropped.
 * Every proposal a strategy receives ends in exactly one fate, so sent = run + duplicate +
 * repaired + dropped.
 */
export const ProposalFate = z.enum(['run', 'duplicate', 'repaired', 'dropped']);
export type ProposalFate = z.infer<typeof ProposalFate>;

/** A proposal the strategy received but does not return, with why. */
export interface DroppedProposal {
  title: string;
  /** In a person's words. */
  reason: string;
  /** @default 'dropped' */
  fate?: Exclude<ProposalFate, 'run'>;
  /** A short stable code for counting: invalid, unknown_parent, over_quota, duplicate, ... */
  cause?: string;
  /** Who proposed it (agent name). */
  author?: string;
}

export interface StrategyResult {
  proposals: HypothesisProposal[];
  /** Proposals the strategy received and did not return: duplicates, sent back for repair, dropped. */
  dropped: DroppedProposal[];
  /** Findings the strategy wants in the shared notebook. */
  notes: Omit<Note, 'at'>[];
  /** LLM spend of this call, in US dollars. */
  dollars: number;
  usage?: {
    inputTokens: number;
    outputTokens: number;
    cacheReadTokens: number;
    cacheWriteTokens: number;
  };
  /** Which author name to record on the proposals (agent name, "optuna:tpe", "random"). */
  authors: string[];
  /** Set when the strategy cannot go on (bad key, invalid request): the campaign stops with it. */
  fatalError?: string;
  /**
   * Agents whose calls failed on overload, rate limits or the network after the SDK's retries:
   * the workflow asks them again in a later round, with growing backoff.
   */
  unavailable?: { agents: string[]; reason: string };
  /** Reported usage beyond what was sent plus max_tokens: charged, and the campaign stops. */
  usageAnomaly?: string;
  /** Nothing proposed because no call fits in the dollars left: the campaign winds down. */
  budgetExhausted?: string;
  /** About the model (deprecated, unchecked id): the workflow notes each once per campaign. */
  warnings?: string[];
}

export const MetricName = Name;

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');

/** A pattern for a metric name and its spellings: heldout_acc, heldout-acc, "heldout acc", heldoutAcc. */
function namePattern(name: string): string {
  const parts = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[\s_.-]+/)
    .filter((p) => p.length > 0)
    .map(escapeRe);
  const body = parts.join('[\\s_.-]*');
  // Short names (say "acc") are matched as whole words only, or they would eat visible names.
  return name.length >= 6 ? body : `(?<![A-Za-z0-9_])${body}(?![A-Za-z0-9_])`;
}

/** One pattern for all of `names` in any usual spelling (case-insensitive); null for none. */
export function hiddenNamesPattern(names: readonly string[]): RegExp | null {
  const parts = names.filter((n) => n.length > 0).map(namePattern);
  return parts.length > 0 ? new RegExp(parts.join('|'), 'gi') : null;
}

/** What replaces the part of a line that named a hidden metric. */
export const LEFT_OUT = '[left out: it named a held-out metric]';

/**
 * Free text (a failure reason, a note, a title) without what it says about hidden metrics: on
 * each line that names one, the clause holding the name and everything after it on that line
 * are left out, so a value quoted next to the name goes with it. Depends on the names only,
 * never on values, so the same text is cut the same way whatever the hidden values are.
 */
export function withoutHiddenMentions(text: string, pattern: RegExp | null): string {
  if (!pattern) return text;
  return text
    .split('\n')
    .map((line) => {
      pattern.lastIndex = 0;
      const m = pattern.exec(line);
      pattern.lastIndex = 0;
      if (!m) return line;
      const before = line.slice(0, m.index);
      const start =
        Math.max(...[';', ':', '(', '[', '{', ','].map((c) => before.lastIndexOf(c))) + 1;
      const head = line.slice(0, start).trimEnd();
      return head ? `${head} ${LEFT_OUT}` : LEFT_OUT;
    })
    .join('\n');
}

/**
 * Removes hidden metrics from everything in a view: their values from the trials, their names
 * from the metric list, and what free text (titles, failure reasons, notes) says about them.
 * The workflow builds views this way, and every strategy activity applies it again.
 */
export function stripHidden(view: StrategyView, hidden: readonly string[]): StrategyView {
  if (hidden.length === 0) return view;
  const hide = new Set(hidden);
  const pattern = hiddenNamesPattern(hidden);
  const cut = (s: string) => withoutHiddenMentions(s, pattern);
  const keep = (m: Record<string, number>) =>
    Object.fromEntries(Object.entries(m).filter(([k]) => !hide.has(k)));
  return {
    ...view,
    visibleMetrics: view.visibleMetrics.filter((m) => !hide.has(m.name)),
    history: view.history.map((t) => ({
      ...t,
      title: cut(t.title),
      metrics: keep(t.metrics),
      ...(t.failureReason !== undefined ? { failureReason: cut(t.failureReason) } : {}),
    })),
    notebook: view.notebook.map((n) => ({ ...n, text: cut(n.text) })),
  };
}
