/**
 * The HTTP API's request and response schemas (zod) and their types: the contract between the
 * server and the UI. The routes validate and serialize with these schemas, and the UI imports
 * them instead of copying them. Pure (zod and the domain schemas only): safe in the browser.
 */
import { z } from 'zod';
import { StopReason } from '../domain/budget.js';
import {
  Actor,
  Budgets,
  ConstraintVerdict,
  CriteriaVersion,
  EvaluationCriteria,
  FlagKind,
  HypothesisProposal,
  LineageNode,
  MaybeNumber,
  ProblemSpec,
  RecordedEstimate,
  SeedResult,
  Slug,
  SourceHash,
  Trial,
  TrialKind,
  TrialStatus,
  TrustState,
  type Estimate,
} from '../domain/schemas.js';
import { trustState } from '../domain/trust.js';
import { WebhookSettings } from '../domain/notify.js';
import { Note, StrategyConfig, StrategyName } from '../domain/strategy.js';
import { SourceSnapshot } from '../domain/code.js';
import {
  AuditEntry,
  CampaignPhase,
  CampaignReport as DomainCampaignReport,
  CampaignStatus as DomainCampaignStatus,
  ExperimentInfo,
  PendingApproval,
  ReportVerdict,
  UnderReview,
  VerificationResult as DomainVerificationResult,
} from '../domain/campaign.js';
import { ACTIONS, ROLES, type Action } from './permissions.js';

/**
 * Hidden metrics whose values are withheld from the caller: they are absent from `metrics` (and
 * `hiddenPgr`) and the UI shows "hidden". While a campaign runs, only PIs see hidden values
 * unless its criteria say `hiddenMetricsVisibility: everyone` (see server/hidden.ts).
 */
export const Withheld = z.array(z.string()).optional();

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export const ErrorIssue = z.object({
  /** Dotted field path, e.g. `budgets.maxTrials` or `criteria.optimum.value`; `(root)` for the whole input. */
  path: z.string(),
  /** Which part of the request the path is in. */
  in: z.enum(['body', 'querystring', 'params', 'headers']).optional(),
  message: z.string(),
});
export type ErrorIssue = z.infer<typeof ErrorIssue>;

/** Every error response: `error` is a stable code (InvalidInput, NotFound, Forbidden, ...). */
export const ErrorBody = z.object({
  error: z.string(),
  message: z.string(),
  issues: z.array(ErrorIssue).optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

export const Health = z.object({ status: z.literal('ok'), uptimeSeconds: z.number() });
export type Health = z.infer<typeof Health>;

export const Ready = z.object({ ready: z.boolean(), temporal: z.boolean(), mlflow: z.boolean() });
export type Ready = z.infer<typeof Ready>;

export const AuthMode = z.enum(['tokens']);

export const Me = z.object({
  name: z.string(),
  role: z.enum(ROLES),
  /** Actions this person may take (see api/permissions.ts). */
  can: z.array(z.enum(ACTIONS as [Action, ...Action[]])),
  auth: AuthMode,
});
export type Me = z.infer<typeof Me>;

export const ApiConfig = z.object({
  /** Temporal Web UI base, e.g. http://127.0.0.1:8233; null when unknown or not for the caller's role (permissions.ts LINKED_TOOLS). */
  temporalUi: z.string().nullable(),
  /** MLflow UI base; null when not for the caller's role (permissions.ts LINKED_TOOLS). */
  mlflowUi: z.string().nullable(),
  namespace: z.string(),
  auth: AuthMode,
  version: z.string(),
});
export type ApiConfig = z.infer<typeof ApiConfig>;

export const ExperimentSummary = z.object({
  name: z.string(),
  description: z.string(),
  metrics: z.array(
    z.object({
      name: z.string(),
      description: z.string(),
      direction: z.enum(['maximize', 'minimize']).optional(),
    }),
  ),
});
export type ExperimentSummary = z.infer<typeof ExperimentSummary>;

export const Ok = z.object({ ok: z.literal(true) });

// ---------------------------------------------------------------------------------------------
// Problems
// ---------------------------------------------------------------------------------------------

export const CampaignRef = z.object({
  campaignId: z.string(),
  strategy: StrategyName,
  criteriaVersion: z.number().int(),
  startedBy: Actor,
  startedAt: z.string(),
  label: z.string().optional(),
});
export type CampaignRef = z.infer<typeof CampaignRef>;

export const ProblemState = z.object({
  spec: ProblemSpec,
  experiment: ExperimentInfo,
  createdBy: Actor,
  createdAt: z.string(),
  criteria: z.array(CriteriaVersion),
  campaigns: z.array(CampaignRef),
  audit: z.array(AuditEntry),
});
export type ProblemState = z.infer<typeof ProblemState>;

export { CriteriaVersion };
export { AuditEntry, CampaignPhase, ExperimentInfo, PendingApproval, ReportVerdict, UnderReview };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Body of `POST /problems/:id/criteria`: `{ criteria, reason? }`, or the criteria document on its
 * own (as in a criteria.yaml file).
 */
export const SetCriteriaBody = z.preprocess(
  (b) => (isPlainObject(b) && !('criteria' in b) ? { criteria: b } : b),
  z.object({ criteria: EvaluationCriteria, reason: z.string().max(2000).optional() }).strict(),
);

// ---------------------------------------------------------------------------------------------
// Campaigns
// ---------------------------------------------------------------------------------------------

export const CampaignIdParam = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\s/]+$/, 'no spaces or slashes');
export const TrialIdParam = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\s/]+$/, 'no spaces or slashes');

export const StartCampaignBody = z
  .object({
    problemId: Slug,
    criteriaVersion: z.number().int().min(1).optional(),
    strategy: StrategyConfig,
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .optional(),
    label: z.string().min(1).max(200).optional(),
    /** Start paused: the references are measured, nothing else runs until a resume. */
    paused: z.boolean().optional(),
    /**
     * A webhook told when the campaign needs a person and when it ends, in Slack's
     * incoming-webhook format (domain/notify.ts). `piOnly` (PIs only) lets its messages carry
     * what only PIs see while the campaign runs.
     */
    notify: WebhookSettings.optional(),
  })
  .strict();

export const CampaignsQuery = z.object({
  problemId: Slug.optional(),
  strategy: StrategyName.optional(),
});

export const CampaignListItem = z.object({
  campaignId: z.string(),
  problemId: z.string(),
  strategy: z.string(),
  criteriaVersion: z.number(),
  startedAt: z.string(),
  startedBy: Actor,
  label: z.string().optional(),
  /** Temporal execution status: RUNNING, COMPLETED, FAILED, TERMINATED, ... */
  status: z.string(),
});
export type CampaignListItem = z.infer<typeof CampaignListItem>;

/** The campaign's status as the workflow reports it (the proposal counts are in the report). */
export const CampaignStatus = DomainCampaignStatus.omit({ proposals: true });
export type CampaignStatus = z.infer<typeof CampaignStatus>;

/**
 * A trial as the running campaign keeps it (trial detail, the trial.json artifact): the domain's
 * `Trial` as JSON carries it. Non-finite metric means and seed scores are null; `hypothesisId` and
 * `trust` are absent in records written before they were kept; hidden values may be withheld.
 */
export const TrialSummary = Trial.extend({
  hypothesisId: Trial.shape.hypothesisId.exactOptional(),
  trust: Trial.shape.trust.exactOptional(),
  /** Means of every metric; hidden ones only for those who may see them (agents never do). */
  metrics: z.record(z.string(), MaybeNumber),
  withheld: Withheld,
});
export type TrialSummary = z.infer<typeof TrialSummary>;

export const StopBody = z
  .object({
    reason: z.string().max(2000).optional(),
    cancelRunning: z.boolean().optional(),
    /** Verify the best on fresh seeds before the campaign ends. @default false */
    verify: z.boolean().optional(),
  })
  .strict();
export const ReasonBody = z.object({ reason: z.string().max(2000).optional() }).strict();
/** Budgets to change; absent ones stay as they are (so no defaults here, unlike Budgets). */
export const BudgetsPatch = z
  .object({ ...Budgets.shape, concurrency: Budgets.shape.concurrency.unwrap() })
  .partial()
  .strict();
export const BudgetsBody = z
  .object({ budgets: BudgetsPatch, reason: z.string().max(2000).optional() })
  .strict();
export const DecideBody = z
  .object({ decision: z.enum(['approve', 'reject']), reason: z.string().max(2000).optional() })
  .strict();
export const InjectBody = HypothesisProposal.strict();
export const NoteBody = z
  .object({ text: z.string().trim().min(1).max(5000), trialId: TrialIdParam.optional() })
  .strict();
export const ClearFlagBody = z
  .object({ reason: z.string().trim().min(1, 'say why the flag is cleared').max(2000) })
  .strict();
export const ConfirmFlagBody = z
  .object({ reason: z.string().trim().min(1, 'say why the flag is confirmed').max(2000) })
  .strict();
export { FlagKind };

export const InjectResult = z.object({ hypothesisId: z.string() });
export const StartCampaignResult = z.object({ campaignId: z.string() });

export { Note, Budgets };

/** A verification result; hidden-metric PGRs may be withheld from the caller. */
export const VerificationResult = DomainVerificationResult.extend({ withheld: Withheld });

/** The campaign's report (domain/campaign.ts), its verification results as the caller may see them. */
export const CampaignReport = DomainCampaignReport.extend({
  verification: z.array(VerificationResult),
});
export type CampaignReport = z.infer<typeof CampaignReport>;

export const ReportQuery = z.object({ format: z.enum(['json', 'markdown']).default('json') });

// ---------------------------------------------------------------------------------------------
// Trials and lineage (read from MLflow, the permanent record)
// ---------------------------------------------------------------------------------------------

export { TrialStatus };

/**
 * A trial as lists, pages and the event stream serve it, from the workflow or the MLflow record:
 * the domain's `Trial`, picked down and extended for readers.
 * - `params` are the typed values (numbers stay numbers, booleans booleans), never strings.
 * - `feasible`: every constraint held (records written before it was recorded say true).
 * - `constraints`: each constraint's verdict as the trial was scored; absent when not recorded
 *   (records and running campaigns from before verdicts were kept).
 * - `status` is `running` while the record is being written.
 * - `pgr` is an Estimate as recorded (null bounds when not finite; `stderr` and `n` absent in
 *   older records).
 * - Fields a record may lack are null rather than absent: `computeSeconds`, `failureReason`,
 *   `mlflowRunId`, `startedAt`, `finishedAt`; `expectedEffect` is `''` when none was given.
 * - `author` is the author's name and kind; `flags` the kinds of every flag raised (cleared and
 *   confirmed ones too: `trust` says what they leave; the trial detail has each review); `hiddenMetrics` the hidden metrics
 *   of the criteria the trial was scored under.
 */
export const TrialRecord = Trial.pick({
  id: true,
  index: true,
  kind: true,
  parentTrialId: true,
  title: true,
  rationale: true,
  feasible: true,
  constraints: true,
  /** Status `pruned`: the cascade stage that stopped it and that stage's score. */
  pruned: true,
}).extend({
  expectedEffect: z.string(),
  author: z.object({ name: z.string(), kind: z.string() }),
  status: TrialStatus,
  /**
   * Typed parameter values (keys as recorded): the domain's `ParamValue` types without its length
   * limit, since a record may hold what another writer put in MLflow.
   */
  params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  /** Metric means (hidden ones only for those who may see them), without per-seed values. */
  metrics: z.record(z.string(), MaybeNumber),
  withheld: Withheld,
  pgr: RecordedEstimate.nullable(),
  flags: z.array(z.string()),
  /**
   * Whether the trial may rank: `eligible`, `under_review` (a flag waits for a PI) or `excluded`
   * (a PI confirmed one), as the campaign last held it. Records written before it was recorded
   * read `under_review` when they carry any flag.
   */
  trust: TrustState,
  computeSeconds: MaybeNumber,
  failureReason: z.string().nullable(),
  hiddenMetrics: z.array(z.string()),
  mlflowRunId: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** Code trials: the content hash of the source that ran (`sources/<hash>.json` in MLflow). */
  sourceHash: Trial.shape.sourceHash,
  /**
   * Code trials: the unified diff from the parent trial's source (empty when only parameters
   * changed; cut past DIFF_TAG_CHARS, the whole one is the run's `diff.patch`).
   */
  diff: z.string().exactOptional(),
});
export type TrialRecord = z.infer<typeof TrialRecord>;

export const TrialsQuery = z.object({
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  kind: TrialKind.optional(),
});

export const DataSource = z.enum(['mlflow', 'workflow']);

export const TrialsPage = z.object({
  campaignId: z.string(),
  total: z.number().int(),
  offset: z.number().int(),
  limit: z.number().int(),
  /** Where the trials came from: MLflow, or the running workflow when MLflow has no record yet. */
  source: DataSource,
  trials: z.array(TrialRecord),
});
export type TrialsPage = z.infer<typeof TrialsPage>;

/**
 * A campaign's best trial and its PGR: the campaign's own (its status while it runs, its report
 * once it ended), never ranked again by a reader.
 */
export const CampaignBest = z.object({ trialId: z.string(), pgr: RecordedEstimate });
export type CampaignBest = z.infer<typeof CampaignBest>;

/** The campaign best of a status's `best` (bounds that are not finite become null). */
export function bestOfStatus(
  best: { trialId: string; pgr: z.input<typeof Estimate> } | null,
): CampaignBest | null {
  if (!best) return null;
  const p = best.pgr;
  return {
    trialId: best.trialId,
    pgr: {
      mean: p.mean,
      stderr: finiteOrNull(p.stderr),
      n: p.n,
      ciLow: finiteOrNull(p.ciLow),
      ciHigh: finiteOrNull(p.ciHigh),
    },
  };
}

/** One node of a campaign's lineage tree: compact, for drawing 10,000 of them (domain/trial.ts). */
export { LineageNode };

export const Lineage = z.object({
  campaignId: z.string(),
  problemId: z.string().nullable(),
  /** The campaign's record is complete (its MLflow parent run has ended). */
  finished: z.boolean(),
  source: DataSource,
  total: z.number().int(),
  nodes: z.array(LineageNode),
  /** The campaign's own best trial and its PGR (the status's, the report's), as every screen names it. */
  best: CampaignBest.nullable(),
});
export type Lineage = z.infer<typeof Lineage>;

/**
 * A seed's result as stored in the trial.json artifact: the domain's `SeedResult` as JSON carries
 * it (non-finite numbers are null), with hidden values possibly withheld.
 */
export const SeedRecord = SeedResult.extend({
  seed: z.number(),
  metrics: z.record(z.string(), MaybeNumber),
  withheld: Withheld,
  durationSeconds: MaybeNumber,
});
export type SeedRecord = z.infer<typeof SeedRecord>;

/**
 * A code trial's whole diff from its parent's source (`GET .../trials/:trialId/diff`): the trial
 * run's `diff.patch` once recorded, else recomputed from the campaign's stored snapshots.
 */
export const TrialDiff = z.object({
  campaignId: z.string(),
  trialId: z.string(),
  sourceHash: SourceHash.nullable(),
  parentSourceHash: SourceHash.nullable(),
  /** The unified diff, whole (empty when only parameters changed or the trial has no source). */
  diff: z.string(),
  /** Where it was read: the run's `diff.patch`, the stored snapshots, or nowhere (no source). */
  from: z.enum(['artifact', 'snapshots', 'none']),
});
export type TrialDiff = z.infer<typeof TrialDiff>;

/** One seed's learning curve of one metric, as recorded in MLflow's metric history. */
export const CurveSeries = z.object({
  metric: z.string(),
  /** Which of the trial's seeds (its position in the trial's seed list). */
  seedIndex: z.number().int().nonnegative(),
  /** `[step, value]` in step order. */
  points: z.array(z.tuple([z.number(), z.number()])),
});
export type CurveSeries = z.infer<typeof CurveSeries>;

/**
 * A trial's learning curves (`GET .../trials/:trialId/curves`): what its seeds reported by step
 * (experiments/README.md, "Learning curves"), read from MLflow's metric history once the trial
 * is recorded. Curves of hidden metrics only for those who may see hidden values (`withheld`
 * names the rest).
 */
export const TrialCurves = z.object({
  campaignId: z.string(),
  trialId: z.string(),
  /** False while the trial runs or waits for its MLflow record: no curve can be read yet. */
  recorded: z.boolean(),
  curves: z.array(CurveSeries),
  withheld: z.array(z.string()),
});
export type TrialCurves = z.infer<typeof TrialCurves>;

/** `initial` (the experiment's starting source, what the baseline runs) or a snapshot's hash. */
export const SourceRefParam = z.union([z.literal('initial'), SourceHash]);

/** A source snapshot by hash (`GET /campaigns/:campaignId/sources/:ref`): every editable file. */
export const SourceView = z.object({
  campaignId: z.string(),
  hash: SourceHash,
  /** The experiment's starting source. */
  initial: z.boolean(),
  files: SourceSnapshot,
});
export type SourceView = z.infer<typeof SourceView>;

/**
 * Each constraint's verdict on a trial, as the trial page shows it: `recorded` when the campaign
 * kept them as it scored the trial; otherwise (records from before verdicts were kept) judged
 * again from the criteria and the baseline's recorded means, by the same rule.
 */
export const TrialConstraints = z.object({
  recorded: z.boolean(),
  verdicts: z.array(ConstraintVerdict),
});
export type TrialConstraints = z.infer<typeof TrialConstraints>;

/**
 * Everything the trial page shows about one trial, in one answer: the record and the full trial,
 * per-seed results, the lineage, links, the constraint verdicts, the parent's parameters and the
 * campaign facts the page needs.
 */
export const TrialDetail = z.object({
  campaignId: z.string(),
  trial: TrialRecord,
  /** The full trial from the trial.json artifact (null while it is being written). */
  summary: TrialSummary.nullable(),
  seeds: z.array(SeedRecord),
  /** From the root (the baseline) down to this trial. */
  lineage: z.array(LineageNode),
  links: z.object({ mlflowRun: z.string().nullable(), temporalWorkflow: z.string().nullable() }),
  /** The campaign: its problem, whether it has ended, and its criteria's objective metric. */
  campaign: z.object({
    problemId: z.string().nullable(),
    ended: z.boolean(),
    criteriaVersion: z.number().int().nullable(),
    /** Null when the criteria cannot be read now. */
    objective: z.string().nullable(),
  }),
  /** The parent trial's parameters (null: a root, or a parent the campaign does not hold). */
  parentParams: TrialRecord.shape.params.nullable(),
  /** Null when the verdicts were not recorded and the criteria cannot be read to judge them. */
  constraints: TrialConstraints.nullable(),
  /**
   * The seeds' learning curves (as `GET .../curves` serves them; empty until the trial is
   * recorded, or when its experiment reports none).
   */
  curves: z.array(CurveSeries),
});
export type TrialDetail = z.infer<typeof TrialDetail>;

export const ComparePoint = z.object({
  /** 1-based position among the campaign's search trials in index order. */
  n: z.number().int(),
  trialId: z.string(),
  /** Seconds from the campaign's start to this trial's end. */
  seconds: MaybeNumber,
  pgr: MaybeNumber,
  /** Best PGR lower bound so far. */
  bestCiLow: MaybeNumber,
  /** Best PGR mean so far. */
  bestMean: MaybeNumber,
});

export const CompareCampaign = z.object({
  campaignId: z.string(),
  strategy: z.string(),
  label: z.string().nullable(),
  startedBy: z.string().nullable(),
  criteriaVersion: z.number().nullable(),
  /** MLflow status of the campaign's parent run (RUNNING, FINISHED, FAILED, KILLED). */
  status: z.string(),
  stopReason: z.string().nullable(),
  startedAt: z.string().nullable(),
  trials: z.number().int(),
  /** The campaign's own best (its report's once it ended, its status's while it runs). */
  best: z
    .object({ trialId: z.string(), mean: z.number(), ciLow: MaybeNumber, ciHigh: MaybeNumber })
    .nullable(),
  /** Best search trial by PGR mean. */
  bestMean: z.object({ trialId: z.string(), mean: z.number() }).nullable(),
  /** The campaign's verdict (its report's), null until it has ended. */
  verdict: ReportVerdict.nullable(),
  series: z.array(ComparePoint),
});
export type CompareCampaign = z.infer<typeof CompareCampaign>;

export const Compare = z.object({ problemId: z.string(), campaigns: z.array(CompareCampaign) });
export type Compare = z.infer<typeof Compare>;

// ---------------------------------------------------------------------------------------------
// Event stream (GET /campaigns/:id/events): `event: <name>` + `data: <JSON>`
// ---------------------------------------------------------------------------------------------

export const SseEvents = {
  /** The campaign's status whenever it changes. */
  status: CampaignStatus,
  /** A trial that finished since the last event; `id:` is the count of trials seen. */
  trial: TrialRecord,
  /** The campaign finished: the stream closes after this. */
  end: z.object({ stopReason: StopReason.nullable() }),
  /** The stream cannot go on (unknown campaign, Temporal unreachable). */
  error: ErrorBody,
} as const;

// ---------------------------------------------------------------------------------------------
// Pure helpers shared with the UI
// ---------------------------------------------------------------------------------------------

/** The lineage node of a trial record. */
export function toLineageNode(t: TrialRecord): LineageNode {
  return {
    id: t.id,
    parentTrialId: t.parentTrialId,
    title: t.title,
    author: t.author.name,
    authorKind: t.author.kind,
    status: t.status,
    pgr: t.pgr?.mean ?? null,
    ciLow: t.pgr?.ciLow ?? null,
    ciHigh: t.pgr?.ciHigh ?? null,
    flags: t.flags,
    trust: t.trust,
    kind: t.kind,
    index: t.index,
    ...(t.sourceHash ? { sourceHash: t.sourceHash } : {}),
    ...(t.pruned ? { pruned: t.pruned } : {}),
  };
}

/** Metric values must be numbers or null in JSON: NaN and Infinity become null. */
const finiteOrNull = (v: number | null | undefined): number | null =>
  typeof v === 'number' && Number.isFinite(v) ? v : null;

/** The record of a trial the workflow still holds in memory (before or without MLflow). */
export function recordOfSummary(
  t: z.input<typeof TrialSummary>,
  hiddenMetrics: readonly string[] = [],
): TrialRecord {
  return {
    id: t.id,
    index: t.index,
    kind: t.kind,
    parentTrialId: t.parentTrialId,
    title: t.title,
    rationale: t.rationale,
    expectedEffect: t.expectedEffect ?? '',
    author: { name: t.author.name, kind: t.author.kind },
    status: t.status,
    params: { ...t.params },
    feasible: t.feasible,
    ...(t.constraints ? { constraints: t.constraints.map((v) => ({ ...v })) } : {}),
    metrics: Object.fromEntries(Object.entries(t.metrics).map(([k, v]) => [k, finiteOrNull(v)])),
    pgr: t.pgr
      ? {
          mean: t.pgr.mean,
          stderr: finiteOrNull(t.pgr.stderr),
          n: t.pgr.n,
          ciLow: finiteOrNull(t.pgr.ciLow),
          ciHigh: finiteOrNull(t.pgr.ciHigh),
        }
      : null,
    flags: t.flags.map((f) => f.kind),
    trust: t.trust ?? trustState(t.flags),
    computeSeconds: finiteOrNull(t.computeSeconds),
    failureReason: t.failureReason ?? null,
    ...(t.pruned ? { pruned: { ...t.pruned } } : {}),
    hiddenMetrics: [...hiddenMetrics],
    mlflowRunId: t.mlflowRunId ?? null,
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    // The diff is read from MLflow once the trial is recorded; the live record has the hash.
    ...(t.sourceHash ? { sourceHash: t.sourceHash } : {}),
  };
}
