/**
 * A trial and its parts, each declared once: the hypothesis it runs, a seed's result, an
 * estimate, a review flag, the trial itself and its node in the lineage tree. Every other shape
 * of these ideas derives from here: the workflow's `TrialSummary` is `z.infer<typeof Trial>`, the
 * runner's and the activity's seed results are views of `SeedResult`, and the HTTP API's
 * `TrialRecord`, `SeedRecord` and `LineageNode` (api/schemas.ts) pick from and extend these.
 *
 * One name per idea: the parent is `parentTrialId` everywhere (proposal, hypothesis, trial,
 * record, lineage node), PGR is an `Estimate`, parameter values are typed (`ParamValue`).
 *
 * Pure: zod only, safe in workflow code and in the browser.
 */
import { z } from 'zod';
import { Curves } from './curves.js';
import { Actor, Config } from './atoms.js';
import { SourceEdits } from './code.js';

/** A number that may be missing: JSON and MLflow turn NaN and Infinity into null. */
export const MaybeNumber = z.number().nullable();

// ---------------------------------------------------------------------------------------------
// Hypotheses
// ---------------------------------------------------------------------------------------------

export const Author = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('agent'),
    name: z.string().min(1).max(128),
    model: z.string().max(128).optional(),
  }),
  z.object({ kind: z.literal('strategy'), name: z.string().min(1).max(128) }),
  z.object({ kind: z.literal('human'), name: z.string().min(1).max(128) }),
  z.object({ kind: z.literal('system'), name: z.string().min(1).max(128) }),
]);
export type Author = z.infer<typeof Author>;

/** What a strategy or a person proposes: changes relative to a parent trial (or the baseline). */
export const HypothesisProposal = z.object({
  title: z.string().min(1).max(200),
  rationale: z.string().max(5000).default(''),
  /**
   * Trial id this idea builds on; `null` means the baseline configuration (the id of the baseline
   * reference trial, `baseline`, is accepted too and means the same).
   */
  parentTrialId: z.string().max(200).nullable().default(null),
  /** Parameter values to change relative to the parent's configuration. */
  changes: Config,
  expectedEffect: z.string().max(2000).default(''),
  /**
   * Code experiments only: edits to the parent trial's source (the baseline's is the
   * experiment's initial source). They resolve to a content-addressed snapshot before the idea
   * is queued; proposed on any other experiment they are refused.
   */
  edits: SourceEdits.exactOptional(),
});
export type HypothesisProposal = z.infer<typeof HypothesisProposal>;
export type HypothesisProposalInput = z.input<typeof HypothesisProposal>;

/** A SHA-256 content hash of a source snapshot (domain/code.ts hashSnapshot). */
export const SourceHash = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest');

/**
 * The source a code trial runs, by hash only (snapshots live in MLflow and the workers' caches,
 * never in workflow state): `sourceHash` is what runs, `parentSourceHash` what the edits applied
 * to. Both absent: the experiment's initial source.
 */
const SourceRef = z.object({
  sourceHash: SourceHash.exactOptional(),
  parentSourceHash: SourceHash.exactOptional(),
});

export const Hypothesis = HypothesisProposal.omit({ edits: true }).extend({
  id: z.string().min(1).max(200),
  /** The full configuration that runs: parent configuration + changes, conditional params resolved. */
  params: Config,
  ...SourceRef.shape,
  author: Author,
  createdAt: z.string(),
});
export type Hypothesis = z.infer<typeof Hypothesis>;

// ---------------------------------------------------------------------------------------------
// Outcomes, seeds, estimates, flags
// ---------------------------------------------------------------------------------------------

/**
 * How a finished trial or seed ended. `pruned`: the experiment stopped it early at a stage of its
 * cascade (a score below that stage's threshold, e.g. OpenEvolve's `evaluate_stage1`); it ran,
 * is neither a failure nor a result to rank, and keeps that stage's metrics (see {@link Pruned}).
 */
export const TrialOutcome = z.enum(['succeeded', 'failed', 'cancelled', 'pruned']);
export type TrialOutcome = z.infer<typeof TrialOutcome>;

/**
 * Where a cascade stopped a seed or a trial: the stage (1 = the first) and the score the stage
 * judged (null when the experiment gave none). A trial is pruned at the earliest stage any of its
 * seeds was, with the mean of those seeds' scores.
 */
export const Pruned = z.object({
  stage: z.number().int().positive(),
  score: z.number().nullable(),
});
export type Pruned = z.infer<typeof Pruned>;

/** A trial's status as readers see it: its outcome, or `running` while its record is being written. */
export const TrialStatus = z.enum([...TrialOutcome.options, 'running']);
export type TrialStatus = z.infer<typeof TrialStatus>;

/**
 * `search` trials test hypotheses; `reference` trials measure the baseline and optimum;
 * `verification` trials re-run a leader on fresh seeds.
 */
export const TrialKind = z.enum(['search', 'reference', 'verification']);
export type TrialKind = z.infer<typeof TrialKind>;

/**
 * What one seed of a trial produced. The runner's result (`SeedRun`), the activity's
 * (`ExperimentSeedResult`) and the API's `SeedRecord` are views of this one shape.
 */
export const SeedResult = z.object({
  seed: z.number().int(),
  status: TrialOutcome,
  metrics: z.record(z.string(), z.number()),
  durationSeconds: z.number().nonnegative(),
  /** Why the seed failed or was cancelled. */
  error: z.string().exactOptional(),
  /** Status `pruned`: the cascade stage that stopped it. */
  pruned: Pruned.exactOptional(),
  /** The last lines of stdout and stderr (bounded). */
  logTail: z.string().exactOptional(),
  /** MLflow artifact path of the full logs, when uploaded. */
  logArtifact: z.string().exactOptional(),
  /**
   * Learning curves the seed reported by step (domain/curves.ts, bounded): recorded to MLflow as
   * metric history, never kept in the campaign's state.
   */
  curves: Curves.exactOptional(),
});
export type SeedResult = z.infer<typeof SeedResult>;

/** Where a command experiment's full output is, on the worker that ran the seed. */
const SeedOutputFiles = z.object({
  /** Full stdout, kept in the seed's output folder (command experiments). */
  stdoutPath: z.string().exactOptional(),
  stderrPath: z.string().exactOptional(),
});

/**
 * A seed's result as a runner returns it (experiments/runner.ts): before the activity adds the
 * seed number and uploads the logs, plus where the full output is on the worker.
 */
export const SeedRun = SeedResult.omit({ seed: true, logArtifact: true }).extend(
  SeedOutputFiles.shape,
);
export type SeedRun = z.infer<typeof SeedRun>;

/** A seed's result as the experiment activity returns it to the workflow. */
export const ExperimentSeedResult = SeedResult.extend(SeedOutputFiles.shape);
export type ExperimentSeedResult = z.infer<typeof ExperimentSeedResult>;

/**
 * A mean with its uncertainty: the objective, every aggregate and PGR are Estimates (never a
 * bare number or a triple; a compact view such as a lineage node may flatten one, and says so).
 */
export const Estimate = z.object({
  mean: z.number(),
  stderr: z.number(),
  n: z.number().int(),
  ciLow: z.number(),
  ciHigh: z.number(),
});
export type Estimate = z.infer<typeof Estimate>;

/**
 * An Estimate as JSON and the MLflow record keep it: non-finite bounds are null, and `stderr`
 * and `n` are absent from records written before they were recorded.
 */
export const RecordedEstimate = Estimate.extend({
  stderr: MaybeNumber.optional(),
  n: z.number().int().optional(),
  ciLow: MaybeNumber,
  ciHigh: MaybeNumber,
});
export type RecordedEstimate = z.infer<typeof RecordedEstimate>;

/**
 * One constraint judged on a trial's metric mean (domain/constraints.ts): `value` is the mean
 * (null: not reported), `limit` what it was held to (0 when a relative constraint's baseline was
 * unknown; the description says so). `withheld`: the metric is hidden and this reader may not see
 * its values yet, so `value` is null, `limit` 0 and the description names only the metric.
 */
export const ConstraintVerdict = z.object({
  description: z.string(),
  metric: z.string(),
  value: z.number().nullable(),
  limit: z.number(),
  ok: z.boolean(),
  withheld: z.literal(true).exactOptional(),
});
export type ConstraintVerdict = z.infer<typeof ConstraintVerdict>;

export const FlagKind = z.enum([
  'pgr_above_one',
  'hidden_gap',
  'non_finite',
  'high_variance',
  'verification_gap',
  /** Some seeds failed while others succeeded: the estimate rests on the seeds that survived. */
  'failed_seeds',
]);
export type FlagKind = z.infer<typeof FlagKind>;
/** A PI's decision on a review flag, with who, when and why (also in the audit trail). */
export const FlagDecision = z.object({
  actor: Actor,
  reason: z.string().max(2000),
  at: z.string(),
});
export const Flag = z.object({
  kind: FlagKind,
  message: z.string().max(2000),
  /** A PI checked the trial and found the flag harmless: it no longer holds the trial back. */
  cleared: FlagDecision.optional(),
  /** A PI confirmed the problem: the trial is excluded for good. */
  confirmed: FlagDecision.optional(),
});
export type Flag = z.infer<typeof Flag>;

/**
 * Whether a trial may be the best, stop the campaign at its target and be offered to strategies
 * as a parent: `eligible` (no open flag), `under_review` (a flag waits for a PI) or `excluded`
 * (a PI confirmed a flag). Derived from the flags by `trustState` (domain/scoring.ts).
 */
export const TrustState = z.enum(['eligible', 'under_review', 'excluded']);
export type TrustState = z.infer<typeof TrustState>;

// ---------------------------------------------------------------------------------------------
// The trial
// ---------------------------------------------------------------------------------------------

/**
 * One trial: a hypothesis run on N seeds and scored. This is the shape the campaign keeps
 * (`TrialSummary` in workflows/types.ts is `z.infer<typeof Trial>`), the shape the MLflow codec
 * encodes and decodes, and the one the API's `TrialRecord` derives from.
 *
 * Choices, once for all views:
 * - `parentTrialId` names the trial whose configuration this one changed: a search trial built
 *   on the baseline names the baseline reference trial (`baseline`), so a lineage path always
 *   ends at the baseline; reference trials have `null` (they are roots). A proposal's
 *   `parentTrialId: null` means "the baseline" and becomes `baseline` when its trial starts.
 * - `params` are typed values (`Config`), absent when a conditional parameter is off.
 * - `objective` and `pgr` are Estimates; `metrics` are means of every metric, hidden ones included
 *   (never sent to a strategy).
 */
export const Trial = z.object({
  id: z.string(),
  /** Order within the campaign: references first, then search and verification trials in start order. */
  index: z.number().int(),
  /** The hypothesis this trial ran. */
  hypothesisId: z.string(),
  kind: TrialKind,
  /** For reference and verification trials: what they measure or verify. */
  label: z.string().exactOptional(),
  parentTrialId: z.string().nullable(),
  title: z.string(),
  rationale: z.string(),
  /** What the author expected to happen (absent when they said nothing). */
  expectedEffect: z.string().exactOptional(),
  author: Author,
  /** The full configuration that ran (typed values). */
  params: Config,
  /** The values changed relative to the parent's configuration. */
  changes: Config,
  ...SourceRef.shape,
  seeds: z.array(z.number().int()),
  /** The time limit each seed ran with, in seconds (search trials; adaptive). */
  timeoutSeconds: z.number().exactOptional(),
  status: TrialOutcome,
  /** Means of every metric, hidden ones included (never sent to a strategy). */
  metrics: z.record(z.string(), z.number()),
  objective: Estimate.nullable(),
  pgr: Estimate.nullable(),
  /** Succeeded, and every constraint holds (domain/constraints.ts, with its rounding allowance). */
  feasible: z.boolean(),
  /**
   * Each constraint's verdict as the trial was scored (domain/scoring.ts `scoreTrial`), in the
   * criteria's order. Absent: not recorded (trials scored before verdicts were kept).
   */
  constraints: z.array(ConstraintVerdict).exactOptional(),
  flags: z.array(Flag),
  /** From the flags (domain/trust.ts): only `eligible` trials may be best or stop at the target. */
  trust: TrustState,
  /** The objective on each seed, in `seeds` order (null: no finite value); PGR is re-derived from it. */
  seedScores: z.array(z.number().nullable()).exactOptional(),
  computeSeconds: z.number().nonnegative(),
  failureReason: z.string().exactOptional(),
  /** Status `pruned`: the earliest cascade stage that stopped one of its seeds. */
  pruned: Pruned.exactOptional(),
  mlflowRunId: z.string().exactOptional(),
  startedAt: z.string(),
  finishedAt: z.string(),
});
export type Trial = z.infer<typeof Trial>;

// ---------------------------------------------------------------------------------------------
// Lineage
// ---------------------------------------------------------------------------------------------

/**
 * One node of a campaign's lineage tree: a trial picked down to what drawing 10,000 of them
 * needs. The author is flattened to two strings and PGR to its mean and bounds (null when not
 * finite) so the whole tree stays small; the full Estimate is on the trial.
 */
export const LineageNode = Trial.pick({
  id: true,
  index: true,
  kind: true,
  parentTrialId: true,
  title: true,
  /** Code trials: the source that ran (a child with another hash than its parent changed the code). */
  sourceHash: true,
  /** Status `pruned`: where the cascade stopped it. */
  pruned: true,
}).extend({
  author: z.string(),
  authorKind: z.string(),
  status: TrialStatus,
  pgr: MaybeNumber,
  ciLow: MaybeNumber,
  ciHigh: MaybeNumber,
  /** Kinds of the review flags raised on the trial. */
  flags: z.array(z.string()),
  /** What the flags leave (see TrustState): only an `eligible` trial may be the best. */
  trust: TrustState,
});
export type LineageNode = z.infer<typeof LineageNode>;
