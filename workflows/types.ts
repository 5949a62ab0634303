/**
 * Plain data shared by the campaign workflow, its activities, the server and the UI. Pure: no
 * Temporal imports, so the server and the UI can import it too.
 */
import type {
  Actor,
  Budgets,
  CriteriaVersion,
  Hypothesis,
  HypothesisProposal,
  ProblemSpec,
  Trial,
} from '../domain/schemas.js';
import type { CampaignWebhook } from '../domain/notify.js';
import type { Note, StrategyConfig } from '../domain/strategy.js';
import type { BudgetLedger, StagnationState, StopReason } from '../domain/budget.js';
import type { ProposalAuditState, StrategyOutage } from './campaign/state/proposal-audit.js';
// The campaign's reported shapes are declared once, as zod schemas in domain/campaign.ts.
import type {
  AuditEntry,
  CampaignPhase,
  CampaignReport,
  CampaignStatus,
  ExperimentInfo,
  PendingApproval,
  ReportVerdict,
  TrialCounts,
  UnderReview,
  VerificationResult,
} from '../domain/campaign.js';
export type {
  AuditEntry,
  CampaignPhase,
  CampaignReport,
  CampaignStatus,
  ExperimentInfo,
  PendingApproval,
  ReportVerdict,
  TrialCounts,
  UnderReview,
  VerificationResult,
};

export interface CampaignTiming {
  /**
   * Seeds' time limits adapt: after a few successful seeds, a multiple of their durations, never
   * above the experiment's limit (domain/failures.ts adaptiveTimeoutSeconds). @default true
   */
  adaptiveTimeouts?: boolean;
  /**
   * Measure the references (baseline, optimum) before any search trial starts, whatever the
   * strategy. By default an unmoderated model-free strategy (random search, Optuna's random
   * sampler), whose proposals do not depend on results, starts its search in the slots the
   * measurement leaves free, and its trials are scored once the references are known; should
   * the references fail or make PGR meaningless, the campaign stops as it would have, with the
   * compute of the trials that ran beside them spent. @default false
   */
  referencesFirst?: boolean;
  /** Heartbeat timeout of experiment runs: how soon a dead worker's work moves elsewhere. @default 30 */
  heartbeatTimeoutSeconds?: number;
  /** Continue-as-new once the history has this many events. @default 8000 */
  historyEventLimit?: number;
  /**
   * Finished trials waiting for MLflow beyond which no new search trial starts
   * (campaign/recorder.ts RECORD_BACKLOG). @default 500
   */
  recordBacklog?: number;
  /** First wait before asking a strategy again after an outage (doubles per round, at most 10 min). @default 30 */
  strategyRetrySeconds?: number;
  /** Rounds in a row lost to an outage before the campaign stops (strategy_unavailable). @default 6 */
  strategyRetryRounds?: number;
  /** Time limit of one attempt of a strategy call (its LLM requests included). @default 900 */
  strategyCallSeconds?: number;
  /**
   * How long a seed waits for a worker polling its queue before the campaign fails with "no
   * worker polls queue X for N s". @default 1800
   */
  scheduleToStartSeconds?: number;
}

export interface CampaignInput {
  campaignId: string;
  problem: ProblemSpec;
  criteria: CriteriaVersion;
  strategy: StrategyConfig;
  experiment: ExperimentInfo;
  /** Base seed: trials' seeds and the strategy's randomness derive from it. */
  seed: number;
  startedBy: Actor;
  /** Record runs in MLflow. @default true */
  mlflow?: boolean;
  /** Index the campaign with the Gaplab* search attributes (they must be registered). @default false */
  indexed?: boolean;
  timing?: CampaignTiming;
  /**
   * Start paused: the references are measured, but the search proposes and starts nothing until
   * someone resumes it (people can queue their ideas first). @default false
   */
  startPaused?: boolean;
  /**
   * The campaign's webhook (domain/notify.ts): told when the campaign needs a person and when it
   * ends, by an activity (campaign/notifier.ts). Absent: no notifications.
   */
  notify?: CampaignWebhook;
  /** State carried over continue-as-new; absent on the first run. */
  carried?: CarriedState;
}

/**
 * One trial as the campaign keeps it in memory (the full record lives in MLflow): the domain's
 * one trial shape (domain/trial.ts), never redeclared here.
 */
export type TrialSummary = Trial;

/** Failure totals over a whole campaign, and the durations of its most recent successful seeds. */
export interface FailureLedger {
  /** Compute-seconds of failed search trials. */
  computeSeconds: number;
  /** Compute-seconds of every finished search trial. */
  totalComputeSeconds: number;
  timedOutTrials: number;
  /** Durations of the most recent successful seeds, oldest first (bounded). */
  seedDurations: number[];
}

export interface ReferenceResult {
  /** Objective mean (and error when measured). */
  score: { mean: number; stderr?: number; n?: number };
  /** Means of every metric when measured. */
  metrics: Record<string, number>;
  trialId?: string;
  /** Seeds of the measurement and every metric on each (null: no finite value), for pairing. */
  bySeed?: { seeds: number[]; values: Record<string, (number | null)[]> };
}

export interface CarriedState {
  runs: number;
  startedAtMs: number;
  phase: CampaignPhase;
  paused: boolean;
  budgets: Budgets;
  ledger: BudgetLedger;
  iteration: number;
  nextTrialIndex: number;
  trials: TrialSummary[];
  /** `freshBaseline`: the baseline re-run on the verification seeds (pairs fresh and hidden PGR). */
  references: {
    baseline?: ReferenceResult;
    optimum?: ReferenceResult;
    freshBaseline?: ReferenceResult;
  };
  /**
   * The verification seeds, drawn in secret by a worker when the first verification started
   * (activities/seeds.ts); every verification and the baseline's re-run use them.
   */
  verificationSeeds?: number[];
  /**
   * How search and reference seeds derive from the campaign seed: `hashed` (uniform 31-bit
   * values, state/references.ts `derivedSeed`) for campaigns started since HASHED_SEEDS_PATCH,
   * else consecutive integers.
   */
  seedScheme?: 'hashed' | 'consecutive';
  notebook: Note[];
  audit: AuditEntry[];
  pending: PendingApproval[];
  queue: Hypothesis[];
  stagnation: StagnationState;
  /** Set once the campaign decided to stop. */
  stopReason?: StopReason;
  stopDetail?: string;
  verification: VerificationResult[];
  dropped: { title: string; reason: string; at: string }[];
  emptyProposalRounds: number;
  /** Hypothesis id to the PI decision taken on it. */
  decisions: Record<string, 'approve' | 'reject'>;
  hypothesisCounter: number;
  /** Search-trial outcomes, counted as they finish (trials themselves are compacted). */
  counts: TrialCounts;
  /** [index, PGR mean, PGR lower bound] per finished search trial; nulls when not eligible for best. */
  pgrSeries: [number, number | null, number | null][];
  /** Fingerprints of the configurations of trials compacted out of memory (duplicate checks). */
  archivedConfigs: string[];
  lastCallDollars: number;
  /** What failures cost and how long successful seeds take (adaptive timeouts, the report). */
  failures?: FailureLedger;
  /** Every strategy proposal's fate: exact counts, the most recent with reasons. */
  proposals?: ProposalAuditState;
  /** Strategy calls failing on an outage (overload, rate limits): when to ask again. */
  outage?: StrategyOutage;
  /** Model warnings already noted (once per campaign). */
  warned?: string[];
  mlflowParentRunId?: string;
  mlflowExperimentId?: string;
  /**
   * What the webhook was already told waits for a person (campaign/notifier.ts): hypothesis and
   * trial ids (the most recent 200 of each) and whether the current pause was announced.
   */
  notified?: { approvals: string[]; reviews: string[]; paused: boolean };
  /** `verify`: the PI asked for the final verification of the best after the stop. */
  stopRequest?: { actor: Actor; reason: string; cancelRunning: boolean; verify?: boolean };
}

export type { Actor, HypothesisProposal, Budgets };
