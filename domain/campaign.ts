/**
 * A campaign as the workflow reports it, each shape declared once: its status, the audit trail,
 * pending approvals, trials under review, verification results, the report and its verdict. The
 * workflow's types (workflows/types.ts) are `z.infer` of these; the HTTP API (api/schemas.ts)
 * uses them as they are or extends them (e.g. with `withheld` hidden-metric marks).
 *
 * Optional fields: `.exactOptional()` where a value is either absent or set, `.optional()` where
 * older reports may carry an explicit `undefined` (JSON drops it either way).
 *
 * Pure: zod and the domain only.
 */
import { z } from 'zod';
import { BudgetLedger, StopReason } from './budget.js';
import { FailureSummary } from './failures.js';
import { ProposalAuditState, ProposalCounts } from './proposal-audit.js';
import { Budgets } from './schemas.js';
import { Note, StrategyConfig, StrategyName } from './strategy.js';
import { Actor } from './atoms.js';
import { Estimate, FlagKind, Hypothesis, Trial, TrustState } from './trial.js';
import { VerdictChecks, VerdictWord } from './verdict.js';

export const CampaignPhase = z.enum([
  'starting',
  'measuring',
  'running',
  'paused',
  'verifying',
  'finished',
]);
export type CampaignPhase = z.infer<typeof CampaignPhase>;

/** One entry of a campaign's or a problem's audit trail: who did what, when. */
export const AuditEntry = z.object({
  at: z.string(),
  actor: Actor,
  action: z.string(),
  detail: z.string().exactOptional(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

/** What the workflow needs to know of the registered experiment (resolved by the starter). */
export const ExperimentInfo = z.object({
  name: z.string(),
  description: z.string(),
  metrics: z.array(z.object({ name: z.string(), description: z.string() })),
  /** Task queue experiment runs go to. */
  taskQueue: z.string(),
  timeoutSeconds: z.number(),
  /** A code experiment (experiments/code.ts): hypotheses may carry edits to its source. */
  code: z.boolean().exactOptional(),
});
export type ExperimentInfo = z.infer<typeof ExperimentInfo>;

/** A hypothesis waiting for a PI's decision. */
export const PendingApproval = z.object({
  hypothesis: Hypothesis,
  submittedAt: z.string(),
  /** ms since epoch (workflow time) after which the criteria's onTimeout applies. */
  deadlineMs: z.number(),
});
export type PendingApproval = z.infer<typeof PendingApproval>;

/** A search trial held back by review flags: listed with the reason, never ranked. */
export const UnderReview = z.object({
  trialId: z.string(),
  title: z.string(),
  trust: TrustState,
  /** Open (or, when excluded, confirmed) flags: kind and message. */
  flags: z.array(z.object({ kind: FlagKind, message: z.string() })),
});
export type UnderReview = z.infer<typeof UnderReview>;

/** Search-trial outcomes, counted as they finish. */
export const TrialCounts = z.object({
  total: z.number(),
  succeeded: z.number(),
  failed: z.number(),
  cancelled: z.number(),
  /** Stopped by a cascade stage (absent in states written before). */
  pruned: z.number().exactOptional(),
  flagged: z.number(),
});
export type TrialCounts = z.infer<typeof TrialCounts>;

export const CampaignStatus = z.object({
  campaignId: z.string(),
  problemId: z.string(),
  strategy: StrategyName,
  criteriaVersion: z.number().int(),
  phase: CampaignPhase,
  paused: z.boolean(),
  iteration: z.number(),
  trialsDone: z.number(),
  trialsRunning: z.number(),
  budgets: Budgets,
  ledger: BudgetLedger,
  remaining: z.record(z.string(), z.number().nullable()),
  best: z.object({ trialId: z.string(), title: z.string(), pgr: Estimate }).nullable(),
  /** Search trials waiting for a PI's review (open flags), most recent first, at most 50. */
  underReview: z.array(UnderReview).exactOptional(),
  baselineScore: z.number().nullable(),
  optimumScore: z.number().nullable(),
  targetPgr: z.number(),
  pendingApprovals: z.number(),
  /** What became of the strategy's proposals so far (sent = queued + run + duplicate + repaired + dropped). */
  proposals: ProposalCounts.exactOptional(),
  stopReason: StopReason.nullable(),
  /**
   * What the campaign waits for now, in words ("3 running trials", "verification of t0012 on 5
   * fresh seeds", "MLflow to write 2 trial records"); absent once it finished.
   */
  waitingFor: z.string().max(300).exactOptional(),
  runs: z.number(),
  mlflowParentRunId: z.string().exactOptional(),
  mlflowExperimentId: z.string().exactOptional(),
  /** When the campaign finished, epoch milliseconds (its report's `finishedAt`); absent while it runs. */
  endedAtMs: z.number().exactOptional(),
});
export type CampaignStatus = z.infer<typeof CampaignStatus>;

/** A leader re-run on fresh seeds, and what that says of its PGR. */
export const VerificationResult = z.object({
  trialId: z.string(),
  title: z.string(),
  visiblePgr: Estimate.nullable(),
  /** PGR on fresh seeds, objective, paired with the baseline re-run on the same seeds. */
  freshPgr: Estimate.nullable(),
  /**
   * PGR-equivalent of each hidden metric on the fresh seeds: (hidden - baseline's hidden on the
   * same seed) / (optimum - baseline) per seed, so a split's constant offset cancels.
   */
  hiddenPgr: z.record(z.string(), Estimate.nullable()),
  verificationTrialId: z.string(),
  /** The verification failed (same as verdict === 'failed_verification'). */
  gapFlag: z.boolean(),
  /** The verdict's word (domain/verdict.ts `judgeVerification`); label it with `verdictLabel`. */
  verdict: VerdictWord.optional(),
  /** Held up, real improvement, met the target, seed-insensitive, the seeds' account. */
  checks: VerdictChecks.optional(),
  /** Why it is not verified (or is below target); empty when verified. */
  reasons: z.array(z.string()).optional(),
  /** Why verification ran: the target was reached, or the end-of-campaign check of the leaders. */
  trigger: z.enum(['target', 'final']).optional(),
});
export type VerificationResult = z.infer<typeof VerificationResult>;

/**
 * The report's one verdict: the reported best's own verification. Every screen shows it with
 * `verdictLabel` (domain/verdict.ts) and its numbers with `formatEstimate` (domain/format.ts).
 */
export const ReportVerdict = z.object({
  trialId: z.string().nullable(),
  verdict: VerdictWord,
  /** What the verification showed, each part on its own (absent in reports written before). */
  checks: VerdictChecks.nullable().optional(),
  /** The verdict in words (`verdictLabel(..).text`), e.g. "verified, below target". */
  label: z.string().optional(),
  /** What the words mean (`verdictLabel(..).meaning`). */
  meaning: z.string().optional(),
  visiblePgr: Estimate.nullable(),
  freshPgr: Estimate.nullable(),
  hiddenPgr: z.record(z.string(), Estimate.nullable()),
  reasons: z.array(z.string()),
  /** One line for headlines: the same in markdown, the CLI, the demo and the UI. */
  headline: z.string(),
});
export type ReportVerdict = z.infer<typeof ReportVerdict>;

/** A proposal that never became a trial, and why. */
export const DroppedIdea = z.object({ title: z.string(), reason: z.string(), at: z.string() });

export const CampaignReport = z.object({
  campaignId: z.string(),
  problem: z.object({ id: z.string(), title: z.string(), question: z.string() }),
  criteriaVersion: z.number().int(),
  strategy: StrategyConfig,
  stopReason: StopReason,
  /** Why it stopped, in words (absent in reports written before it). */
  stopDetail: z.string().optional(),
  startedAt: z.string(),
  finishedAt: z.string(),
  budgets: Budgets,
  ledger: BudgetLedger,
  baselineScore: z.number().nullable(),
  optimumScore: z.number().nullable(),
  targetPgr: z.number(),
  trials: TrialCounts,
  /** The reported best trial and its lineage from the baseline. */
  best: Trial.pick({
    id: true,
    title: true,
    params: true,
    pgr: true,
    objective: true,
    author: true,
  })
    .extend({
      lineage: z.array(z.object({ id: z.string(), title: z.string(), pgr: z.number().nullable() })),
    })
    .nullable(),
  /** Best PGR lower bound after each search trial, in order. */
  pgrOverTrials: z.array(
    z.object({ index: z.number(), pgr: z.number().nullable(), bestCiLow: z.number().nullable() }),
  ),
  verification: z.array(VerificationResult),
  /** The reported best's own verification and its one word (absent in reports written before it). */
  verdict: ReportVerdict.optional(),
  /** Search trials under review or excluded by a PI, with their flags. */
  underReview: z.array(UnderReview).optional(),
  /** The reported best's own verified PGR (hidden metric when present, else fresh-seed objective); null when not verified. */
  verifiedPgr: z.number().nullable(),
  notebook: z.array(Note),
  dropped: z.array(DroppedIdea),
  /**
   * Every proposal strategies made and its fate: exact counts, and the most recent with their
   * reasons (absent in reports written before it).
   */
  proposals: ProposalAuditState.optional(),
  /** Compute spent on failed trials and the regions where failures repeat (absent in older reports). */
  failures: FailureSummary.optional(),
});
export type CampaignReport = z.infer<typeof CampaignReport>;
