/**
 * Every name gaplab gives a thing in MLflow: the tag keys of its runs and experiments, the
 * experiments' names, artifact paths and search filters. Writers (activities/recording.ts, the
 * source store) and readers (the server, the CLI, the benchmarks, the tests) import them from
 * here, so a name is spelled once. Pure and dependency-free, like MLflow's own
 * mlflow/utils/mlflow_tags.py.
 */

export const TAG = {
  kind: 'gaplab.kind',
  campaignId: 'gaplab.campaignId',
  problemId: 'gaplab.problemId',
  trialKey: 'gaplab.trialKey',
  trialId: 'gaplab.trialId',
  trialKind: 'gaplab.trialKind',
  /** The trial's position in its campaign's single sequence (references first). */
  index: 'gaplab.index',
  parentTrialId: 'gaplab.parentTrialId',
  title: 'gaplab.hypothesis.title',
  rationale: 'gaplab.hypothesis.rationale',
  expectedEffect: 'gaplab.hypothesis.expectedEffect',
  author: 'gaplab.author',
  authorKind: 'gaplab.authorKind',
  status: 'gaplab.status',
  /** `true` when every constraint held, `false` otherwise. */
  feasible: 'gaplab.feasible',
  /**
   * JSON ConstraintVerdict[] (chunked): each constraint's verdict as the trial was scored. On a
   * trial run, verdicts on hidden metrics are withheld (domain/constraints.ts withheldVerdict);
   * the hidden run has them whole. Absent on runs written before verdicts were recorded.
   */
  constraints: 'gaplab.constraints',
  failureReason: 'gaplab.failureReason',
  /** Status `pruned`: the cascade stage that stopped the trial (1 = the first). */
  prunedStage: 'gaplab.pruned.stage',
  /** Status `pruned`: the stage's score (absent when the experiment gave none). */
  prunedScore: 'gaplab.pruned.score',
  flags: 'gaplab.flags',
  hiddenMetrics: 'gaplab.hiddenMetrics',
  /** JSON `{ "number": [names], "boolean": [names] }`; parameters not listed are strings. */
  paramTypes: 'gaplab.paramTypes',
  /** Version of the trial encoding; absent on runs written before this module (format 1). */
  format: 'gaplab.format',
  strategy: 'gaplab.strategy',
  criteriaVersion: 'gaplab.criteriaVersion',
  stopReason: 'gaplab.stopReason',
  /** On a finished campaign's run: the report's best trial (absent when it had none). */
  bestTrialId: 'gaplab.bestTrialId',
  startedBy: 'gaplab.startedBy',
  /** Code trials: the content hash of the source that ran, and of its parent's. */
  sourceHash: 'gaplab.sourceHash',
  parentSourceHash: 'gaplab.parentSourceHash',
  /** Code trials: the diff from the parent's source (chunked; cut past DIFF_TAG_CHARS). */
  diff: 'gaplab.diff',
  /**
   * Key id (experiments/lib/secret.ts) of the harness secret of the deployment that recorded the
   * trial: code experiments' data depend on it, so results under different ids are not comparable.
   */
  harnessKeyId: 'gaplab.harnessKeyId',
  /**
   * On a trial run: the run holding its hidden values, in the campaign's hidden experiment. On a
   * campaign run: the hidden run (kind `hidden-campaign`) its texts go to (notes, audit entries).
   */
  hiddenRunId: 'gaplab.hiddenRunId',
  /** On a hidden experiment: the criteria's `hiddenMetricsVisibility`. */
  hiddenVisibility: 'gaplab.hiddenMetricsVisibility',
  /** On a hidden experiment: `true` once every role may read it (the campaign has ended). */
  hiddenReleased: 'gaplab.hiddenReleased',
  /** The trial's trust state (`eligible`, `under_review`, `excluded`), kept current. */
  trust: 'gaplab.trust',
  /**
   * JSON TrialState (trial-codec.ts; chunked): what may change after the trial finished (its
   * flags with their reviews, trust and PGR), as the campaign last held it.
   */
  state: 'gaplab.state',
} as const;

/** A problem's MLflow experiment: every role reads it, and it holds no hidden value. */
export const experimentName = (problemId: string) => `gaplab/${problemId}`;

/**
 * Where a campaign's hidden values live: an MLflow experiment of its own, readable by the PI
 * role's MLflow user only until the campaign ends (MLflow's permissions are per experiment;
 * activities/mlflow-access.ts grants them). It holds a run per trial (kind `hidden-trial`, the
 * trial's key) with the hidden metrics' means and per-seed values, the whole `trial.json` and
 * the seeds' logs; the trial's own run holds everything else. Named outside `gaplab/` so that
 * listings of problems never meet it.
 */
export const hiddenExperimentName = (campaignId: string) => `gaplab-hidden/${campaignId}`;

/** Artifact path of a source snapshot on the campaign's parent run. */
export const sourceArtifactPath = (hash: string): string => `sources/${hash}.json`;

/** Quotes a value for an MLflow search filter. */
export const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** The MLflow search filter clause `tag = value`. */
export const tagFilter = (key: string, value: string) => `tags.\`${key}\` = ${quote(value)}`;
