/**
 * Plain data shared by the campaign workflow, its activities, the server and the UI. Pure: no
 * Temporal imports, so the server and the UI can import it too.
 */
import type {
  Actor,
  Budgets,
  CriteriaVersion,
  Estimate,
  Flag,
  Hypothesis,
  HypothesisProposal,
  ProblemSpec,
  Trial,
  TrustState,
} from '../domain/schemas.js';
import type { Verdict } from '../domain/scoring.js';
import type { Note, StrategyConfig } from '../domain/strategy.js';
import type { BudgetLedger, StagnationState, StopReason } from '../domain/budget.js';
import type { ProposalAuditState, ProposalCounts, StrategyOutage } from './proposal-audit.js';
import type { FailureSummary } from '../domain/failures.js';

/** What the workflow needs to know of the registered experiment (resolved by the starter). */
export interface ExperimentInfo {
  name: string;
  description: string;
  metrics: { name: string; description: string }[];
  /** Task queue experiment runs go to. */
  taskQueue: string;
  timeoutSeconds: number;
}

export interface CampaignTiming {
  /**
   * Seeds' time limits adapt: after a few successful seeds, a multiple of their durations, never
   * above the experiment's limit (domain/failures.ts adaptiveTimeoutSeconds). @default true
   */
  adaptiveTimeouts?: boolean;
  /** Heartbeat timeout of experiment runs: how soon a dead worker's work moves elsewhere. @default 30 */
  heartbeatTimeoutSeconds?: number;
  /** Continue-as-new once the history has this many events. @default 8000 */
  historyEventLimit?: number;
  /** First wait before asking a strategy again after an outage (doubles per round, at most 10 min). @default 30 */
  strategyRetrySeconds?: number;
  /** Rounds in a row lost to an outage before the campaign stops (strategy_unavailable). @default 6 */
  strategyRetryRounds?: number;
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
  /** State carried over continue-as-new; absent on the first run. */
  carried?: CarriedState;
}

export type CampaignPhase =
  'starting' | 'measuring' | 'running' | 'paused' | 'verifying' | 'finished';

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

export interface TrialCounts {
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  flagged: number;
}

export interface PendingApproval {
  hypothesis: Hypothesis;
  submittedAt: string;
  /** ms since epoch (workflow time) after which the criteria's onTimeout applies. */
  deadlineMs: number;
}

export interface AuditEntry {
  at: string;
  actor: Actor;
  action: string;
  detail?: string;
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
  stopRequest?: { actor: Actor; reason: string; cancelRunning: boolean };
}

export interface CampaignStatus {
  campaignId: string;
  problemId: string;
  strategy: StrategyConfig['name'];
  criteriaVersion: number;
  phase: CampaignPhase;
  paused: boolean;
  iteration: number;
  trialsDone: number;
  trialsRunning: number;
  budgets: Budgets;
  ledger: BudgetLedger;
  remaining: Record<string, number | null>;
  best: { trialId: string; title: string; pgr: Estimate } | null;
  /** Search trials waiting for a PI's review (open flags), most recent first, at most 50. */
  underReview?: UnderReview[];
  baselineScore: number | null;
  optimumScore: number | null;
  targetPgr: number;
  pendingApprovals: number;
  /** What became of the strategy's proposals so far (sent = queued + run + duplicate + repaired + dropped). */
  proposals?: ProposalCounts;
  stopReason: StopReason | null;
  runs: number;
  mlflowParentRunId?: string;
  mlflowExperimentId?: string;
}

/** A trial held back by review flags: listed with the reason, never ranked. */
export interface UnderReview {
  trialId: string;
  title: string;
  trust: TrustState;
  /** Open (or, when excluded, confirmed) flags: kind and message. */
  flags: { kind: Flag['kind']; message: string }[];
}

export interface VerificationResult {
  trialId: string;
  title: string;
  visiblePgr: Estimate | null;
  /** PGR on fresh seeds, objective, paired with the baseline re-run on the same seeds. */
  freshPgr: Estimate | null;
  /**
   * PGR-equivalent of each hidden metric on the fresh seeds: (hidden - baseline's hidden on the
   * same seed) / (optimum - baseline) per seed, so a split's constant offset cancels.
   */
  hiddenPgr: Record<string, Estimate | null>;
  verificationTrialId: string;
  /** The verification failed (same as verdict === 'failed_verification'). */
  gapFlag: boolean;
  verdict?: Exclude<Verdict, 'not_verified'> | undefined;
  /** Why it failed; empty when verified. */
  reasons?: string[] | undefined;
  /** Why verification ran: the target was reached, or the end-of-campaign check of the leaders. */
  trigger?: 'target' | 'final' | undefined;
}

/** The report's one verdict: the reported best's own verification. */
export interface ReportVerdict {
  trialId: string | null;
  verdict: Verdict;
  visiblePgr: Estimate | null;
  freshPgr: Estimate | null;
  hiddenPgr: Record<string, Estimate | null>;
  reasons: string[];
  /** One line for headlines: the same in markdown, the CLI, the demo and the UI. */
  headline: string;
}

export interface CampaignReport {
  campaignId: string;
  problem: { id: string; title: string; question: string };
  criteriaVersion: number;
  strategy: StrategyConfig;
  stopReason: StopReason;
  /** Why it stopped, in words (absent in reports written before it). */
  stopDetail?: string | undefined;
  startedAt: string;
  finishedAt: string;
  budgets: Budgets;
  ledger: BudgetLedger;
  baselineScore: number | null;
  optimumScore: number | null;
  targetPgr: number;
  trials: { total: number; succeeded: number; failed: number; cancelled: number; flagged: number };
  best:
    | (Pick<TrialSummary, 'id' | 'title' | 'params' | 'pgr' | 'objective' | 'author'> & {
        lineage: { id: string; title: string; pgr: number | null }[];
      })
    | null;
  /** Best PGR lower bound after each search trial, in order. */
  pgrOverTrials: { index: number; pgr: number | null; bestCiLow: number | null }[];
  verification: VerificationResult[];
  /** The reported best's own verification and its one word (absent in reports written before it). */
  verdict?: ReportVerdict | undefined;
  /** Search trials under review or excluded by a PI, with their flags. */
  underReview?: UnderReview[] | undefined;
  /** The reported best's own verified PGR (hidden metric when present, else fresh-seed objective); null when not verified. */
  verifiedPgr: number | null;
  notebook: Note[];
  dropped: { title: string; reason: string; at: string }[];
  /**
   * Every proposal strategies made and its fate: exact counts, and the most recent with their
   * reasons (absent in reports written before it).
   */
  proposals?: ProposalAuditState | undefined;
  /** Compute spent on failed trials and the regions where failures repeat (absent in older reports). */
  failures?: FailureSummary | undefined;
}

export type { Actor, HypothesisProposal, Budgets };
