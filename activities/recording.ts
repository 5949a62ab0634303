/**
 * MLflow as the permanent record: an experiment per problem, a parent run per campaign, a nested
 * run per trial with lineage tags. Every call is idempotent, so Temporal's retries (which wait
 * out an MLflow outage) never leave a second run for the same campaign or trial.
 */
import { Context } from '@temporalio/activity';
import type { MlflowClient } from '../mlflow-ts-client/index.js';
import type { Actor, CriteriaVersion, ProblemSpec } from '../domain/schemas.js';
import type { StrategyConfig } from '../domain/strategy.js';
import type { CampaignReport } from '../domain/campaign.js';
import { renderReportMarkdown } from '../domain/report.js';
import { diffSnapshots } from '../domain/code.js';
import { harnessSecret } from '../experiments/lib/secret.js';
import { SourceNotFoundError, SourceStore } from './sources.js';
import { createMlflowAccess } from './mlflow-access.js';
import {
  encodeSnapshot,
  encodeTrial,
  encodeHiddenState,
  encodeTrialUpdate,
  type TrialStateSource,
  RECORDS_SNAPSHOT,
  type TrialToEncode,
} from '../records/trial-codec.js';
import { experimentName, hiddenExperimentName, TAG, tagFilter } from '../records/names.js';

export interface RecordingDeps {
  mlflow: MlflowClient;
}

export interface RecordCampaignStartInput {
  campaignId: string;
  problem: ProblemSpec;
  criteria: CriteriaVersion;
  strategy: StrategyConfig;
  startedBy: Actor;
  seed: number;
}

export interface RecordTrialInput extends TrialToEncode {
  experimentId: string;
  parentRunId: string;
}

/** Several trials of one campaign recorded in one activity (the trials that finished together). */
export interface RecordTrialsInput extends Omit<RecordTrialInput, 'trial' | 'seeds'> {
  items: Pick<RecordTrialInput, 'trial' | 'seeds'>[];
}

/** MLflow writes in flight at once for one batch of trial records (workflows/campaign/recorder.ts RECORD_BATCH.parallel). */
export const RECORD_PARALLEL = 4;

/**
 * Trials whose flags, trust or PGR changed after they were recorded, to be written over their
 * runs; `at` (the workflow's time, ms) orders these values after earlier ones.
 */
export interface RecordTrialUpdatesInput {
  at: number;
  /** The campaign's hidden metrics: flag texts about them stay out of the trial runs. */
  hiddenMetrics: readonly string[];
  items: { runId: string; trial: TrialStateSource & { id: string } }[];
}

/** Texts for a campaign's run: full notes and rationales, entries evicted from workflow state. */
export interface RecordTextsInput {
  runId: string;
  texts: { path: string; text: string }[];
}

/** Where a finished campaign's records snapshot goes (see RECORDS_SNAPSHOT). */
export interface RecordRecordsSnapshotInput {
  campaignId: string;
  experimentId: string;
  parentRunId: string;
}

export interface RecordCampaignEndInput {
  campaignId: string;
  parentRunId: string;
  report: CampaignReport;
}

export function createRecordingActivities({ mlflow }: RecordingDeps) {
  const sources = new SourceStore({ mlflow });
  const access = createMlflowAccess(mlflow);

  /**
   * A code trial's snapshot and its diff from the parent's, read from the campaign's stored
   * sources. A snapshot that cannot be found leaves the trial recorded without them, saying so.
   */
  async function trialSource(
    input: RecordTrialInput,
  ): Promise<{ source?: { files: Record<string, string>; diff: string } }> {
    const { sourceHash, parentSourceHash } = input.trial;
    if (!sourceHash) return {};
    try {
      const files = await sources.get(sourceHash, input.parentRunId);
      const parent =
        parentSourceHash && parentSourceHash !== sourceHash
          ? await sources.get(parentSourceHash, input.parentRunId)
          : files;
      return { source: { files, diff: diffSnapshots(parent, files) } };
    } catch (err) {
      if (!(err instanceof SourceNotFoundError)) throw err;
      return { source: { files: {}, diff: `(source not recorded: ${err.message})` } };
    }
  }

  /** Runs tagged key=value, oldest first; duplicates from a racing retry are deleted. */
  async function findUnique(
    experimentId: string,
    key: string,
    value: string,
  ): Promise<string | undefined> {
    const runs = await mlflow.searchAllRuns({
      experimentIds: [experimentId],
      filter: tagFilter(key, value),
      orderBy: ['attributes.start_time ASC'],
    });
    const sorted = runs.sort(
      (a, b) =>
        (a.info.startTime ?? 0) - (b.info.startTime ?? 0) ||
        a.info.runId.localeCompare(b.info.runId),
    );
    for (const extra of sorted.slice(1)) await mlflow.deleteRun(extra.info.runId);
    return sorted[0]?.info.runId;
  }

  /** The activity's attempt number; 1 outside an activity. */
  const attempt = () => {
    try {
      return Context.current().info.attempt;
    } catch {
      return 1;
    }
  };

  /** One trial's run: created (or found, on a retry), its data and artifacts, then closed. */
  async function recordTrial(input: RecordTrialInput): Promise<{ runId: string }> {
    const run = encodeTrial({
      ...input,
      ...(await trialSource(input)),
      harnessKeyId: harnessSecret().keyId,
    });
    // The hidden values first, in the campaign's hidden experiment (PI-only until its end): the
    // trial's run, readable by every role, then names the run that holds them.
    const hiddenRunId = run.hidden
      ? await recordHidden(input, run.key, run.hidden, run)
      : undefined;
    const { runId, fresh } = await getOrCreateRun(
      input.experimentId,
      TAG.trialKey,
      run.key,
      async () => {
        const created = await mlflow.createRun({
          experimentId: input.experimentId,
          parentRunId: input.parentRunId,
          runName: run.runName,
          startTime: run.startTime,
          tags: run.identityTags,
        });
        return created.info.runId;
      },
    );
    if (!fresh) {
      const { info } = await mlflow.getRun(runId);
      if (info.status === 'FINISHED' || info.status === 'FAILED' || info.status === 'KILLED')
        return { runId };
    }
    // The data and the artifacts go at once (the artifacts bypass MLflow's database); the run
    // is closed only when all are in, so a closed run is a complete one.
    await Promise.all([
      mlflow.logBatch(runId, {
        metrics: run.metrics,
        params: run.params,
        tags: { ...run.tags, ...(hiddenRunId ? { [TAG.hiddenRunId]: hiddenRunId } : {}) },
      }),
      ...run.artifacts.map((a) => mlflow.uploadArtifact(runId, a.path, a.content, a.contentType)),
    ]);
    await mlflow.updateRun(runId, { status: run.status, endTime: run.endTime });
    return { runId };
  }

  /** A trial's hidden run: created (or found, on a retry), its metrics and artifacts, then closed. */
  async function recordHidden(
    input: RecordTrialInput,
    key: string,
    hidden: NonNullable<ReturnType<typeof encodeTrial>['hidden']>,
    run: ReturnType<typeof encodeTrial>,
  ): Promise<string> {
    const experimentId = await access.hiddenExperiment(input.campaignId, input.problemId);
    const { runId, fresh } = await getOrCreateRun(experimentId, TAG.trialKey, key, async () => {
      const created = await mlflow.createRun({
        experimentId,
        runName: run.runName,
        startTime: run.startTime,
        tags: hidden.identityTags,
      });
      return created.info.runId;
    });
    if (!fresh) {
      const { info } = await mlflow.getRun(runId);
      if (info.status === 'FINISHED' || info.status === 'FAILED' || info.status === 'KILLED')
        return runId;
    }
    await Promise.all([
      mlflow.logBatch(runId, { metrics: hidden.metrics, tags: hidden.tags }),
      ...hidden.artifacts.map((a) =>
        mlflow.uploadArtifact(runId, a.path, a.content, a.contentType),
      ),
    ]);
    await mlflow.updateRun(runId, { status: run.status, endTime: run.endTime });
    return runId;
  }

  /** Campaign runs and the run their texts go to (a hidden run's id never changes). */
  const textRuns = new Map<string, string>();

  /**
   * The campaign's run in its hidden experiment (kind `hidden-campaign`), created once: found by
   * its key on every call, since the campaign's start may run again (a retry, continue-as-new).
   */
  async function hiddenCampaignRun(campaignId: string, problemId: string): Promise<string> {
    const experimentId = await access.hiddenExperiment(campaignId, problemId);
    const key = `${campaignId}/campaign`;
    const found = await findUnique(experimentId, TAG.trialKey, key);
    if (found) return found;
    await mlflow.createRun({
      experimentId,
      runName: `${campaignId} texts`,
      tags: {
        [TAG.kind]: 'hidden-campaign',
        [TAG.trialKey]: key,
        [TAG.campaignId]: campaignId,
        [TAG.problemId]: problemId,
      },
    });
    // Two attempts racing may both have created one: keep the oldest.
    return (await findUnique(experimentId, TAG.trialKey, key))!;
  }

  async function getOrCreateRun(
    experimentId: string,
    key: string,
    value: string,
    create: () => Promise<string>,
  ): Promise<{ runId: string; fresh: boolean }> {
    // A first attempt cannot have left a run behind: create straight away (two MLflow calls
    // fewer per trial). A retry looks for what an earlier attempt created.
    if (attempt() === 1) return { runId: await create(), fresh: true };
    const existing = await findUnique(experimentId, key, value);
    if (existing) return { runId: existing, fresh: false };
    await create();
    // Two attempts racing (a retry after a timeout) may both have created one: keep the oldest.
    return { runId: (await findUnique(experimentId, key, value))!, fresh: false };
  }

  return {
    async recordCampaignStart(
      input: RecordCampaignStartInput,
    ): Promise<{ experimentId: string; runId: string }> {
      const experimentId = await mlflow.getOrCreateExperiment(experimentName(input.problem.id), {
        tags: { [TAG.problemId]: input.problem.id, 'mlflow.note.content': input.problem.question },
      });
      // Who reads what (activities/mlflow-access.ts): every role the problem's records, the PI
      // role the campaign's hidden experiment.
      await access.shareProblemExperiment(experimentId);
      if (input.criteria.criteria.hiddenMetrics.length > 0)
        await access.hiddenExperiment(
          input.campaignId,
          input.problem.id,
          input.criteria.criteria.hiddenMetricsVisibility,
        );
      const { runId } = await getOrCreateRun(
        experimentId,
        TAG.campaignId,
        input.campaignId,
        async () => {
          const run = await mlflow.createRun({
            experimentId,
            runName: input.campaignId,
            tags: {
              [TAG.kind]: 'campaign',
              [TAG.campaignId]: input.campaignId,
              [TAG.problemId]: input.problem.id,
              [TAG.strategy]: input.strategy.name,
              [TAG.criteriaVersion]: String(input.criteria.version),
              [TAG.startedBy]: `${input.startedBy.name} (${input.startedBy.role})`,
              [TAG.hiddenMetrics]: input.criteria.criteria.hiddenMetrics.join(','),
            },
          });
          return run.info.runId;
        },
      );
      // People's texts (notes, audit entries: a PI's may quote hidden values) go to a run of the
      // campaign's hidden experiment, which the parent run names (recordTexts).
      if (input.criteria.criteria.hiddenMetrics.length > 0) {
        const hiddenRunId = await hiddenCampaignRun(input.campaignId, input.problem.id);
        await mlflow.logBatch(runId, { tags: { [TAG.hiddenRunId]: hiddenRunId } });
      }
      // The params and the three documents go at once (artifacts bypass MLflow's database).
      const json = (path: string, value: unknown) =>
        mlflow.uploadArtifact(runId, path, JSON.stringify(value, null, 2), 'application/json');
      await Promise.all([
        mlflow.logBatch(runId, {
          params: {
            strategy: input.strategy.name,
            criteria_version: input.criteria.version,
            seed: input.seed,
            objective: input.criteria.criteria.metric,
            direction: input.criteria.criteria.direction,
            seeds_per_trial: input.criteria.criteria.seedsPerTrial,
            target_pgr: input.criteria.criteria.targetPgr,
          },
        }),
        json('problem.json', input.problem),
        json('criteria.json', input.criteria),
        json('strategy.json', input.strategy),
      ]);
      return { experimentId, runId };
    },

    recordTrial,

    /**
     * Records several trials (each exactly as recordTrial does, so a retry finds what an earlier
     * attempt wrote), RECORD_PARALLEL at a time. Returns the runs in the order of `items`.
     */
    async recordTrials(input: RecordTrialsInput): Promise<{ runIds: string[] }> {
      const { items, ...common } = input;
      const runIds: string[] = new Array<string>(items.length);
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < items.length) {
          const i = next++;
          runIds[i] = (await recordTrial({ ...common, ...items[i]! })).runId;
        }
      };
      await Promise.all(Array.from({ length: Math.min(RECORD_PARALLEL, items.length) }, lane));
      return { runIds };
    },

    /**
     * Writes each trial's current state over its run (records/trial-codec.ts `encodeTrialUpdate`),
     * RECORD_PARALLEL at a time. Idempotent: a retry writes the same tags and the same latest
     * metric values again.
     */
    async recordTrialUpdates(input: RecordTrialUpdatesInput): Promise<{ updated: number }> {
      let next = 0;
      const lane = async (): Promise<void> => {
        while (next < input.items.length) {
          const { runId, trial } = input.items[next++]!;
          await mlflow.logBatch(runId, encodeTrialUpdate(trial, input.at, input.hiddenMetrics));
          if (input.hiddenMetrics.length === 0) continue;
          // The texts withheld from the trial's run go to its hidden run.
          const hiddenRunId = (await mlflow.getRun(runId)).data.tags[TAG.hiddenRunId];
          if (hiddenRunId) await mlflow.logBatch(hiddenRunId, { tags: encodeHiddenState(trial) });
        }
      };
      await Promise.all(
        Array.from({ length: Math.min(RECORD_PARALLEL, input.items.length) }, lane),
      );
      return { updated: input.items.length };
    },

    /**
     * Writes each text as an artifact of the campaign's run, or of its hidden run when the
     * campaign has hidden metrics (the texts are notes, audit details and evicted entries: free
     * text a PI may quote hidden values in, so only those who may read hidden values get them).
     * Idempotent: a retry overwrites the same paths.
     */
    async recordTexts(input: RecordTextsInput): Promise<void> {
      let runId = textRuns.get(input.runId);
      if (runId === undefined) {
        const { data } = await mlflow.getRun(input.runId);
        runId = data.tags[TAG.hiddenRunId] ?? input.runId;
        textRuns.set(input.runId, runId);
      }
      for (const t of input.texts)
        await mlflow.uploadArtifact(
          runId,
          t.path,
          t.text,
          t.path.endsWith('.json') ? 'application/json' : 'text/plain; charset=utf-8',
        );
    },

    async recordCampaignEnd(input: RecordCampaignEndInput): Promise<void> {
      const r = input.report;
      const metrics: { key: string; value: number }[] = [
        { key: 'trials', value: r.trials.total },
        { key: 'dollars', value: r.ledger.dollars },
        { key: 'compute_seconds', value: r.ledger.computeSeconds },
      ];
      if (r.best?.pgr)
        metrics.push(
          { key: 'best_pgr', value: r.best.pgr.mean },
          { key: 'best_pgr_ci_low', value: r.best.pgr.ciLow },
        );
      if (r.verifiedPgr !== null) metrics.push({ key: 'verified_pgr', value: r.verifiedPgr });
      // The report, its rendering and the summary go at once; the run is closed when all are in.
      await Promise.all([
        mlflow.uploadArtifact(
          input.parentRunId,
          'report.json',
          JSON.stringify(r, null, 2),
          'application/json',
        ),
        mlflow.uploadArtifact(
          input.parentRunId,
          'report.md',
          renderReportMarkdown(r),
          'text/markdown',
        ),
        mlflow.logBatch(input.parentRunId, {
          metrics,
          tags: {
            [TAG.stopReason]: r.stopReason,
            // Empty when it had none: readers then know the campaign named no best.
            [TAG.bestTrialId]: r.best?.id ?? '',
          },
        }),
      ]);
      // The roles' rules after the end: the hidden values open to whom the criteria say.
      await access.releaseHidden(input.campaignId);
      await mlflow.updateRun(input.parentRunId, {
        status: r.stopReason === 'error' ? 'FAILED' : 'FINISHED',
        endTime: Date.parse(r.finishedAt),
      });
    },

    /**
     * Writes the campaign's records snapshot on its parent run, once every trial and the
     * campaign's end are recorded: readers then load the campaign with one download instead of a
     * search of all its runs. Run by the workflow the campaign starts as it ends
     * (workflows/records-snapshot.ts), which the campaign does not wait for; campaigns started
     * before that ran it as their last step. Idempotent: a retry writes the same document again.
     */
    async recordRecordsSnapshot(input: RecordRecordsSnapshotInput): Promise<{ trials: number }> {
      const runs = await mlflow.searchAllRuns({
        experimentIds: [input.experimentId],
        filter: `${tagFilter(TAG.campaignId, input.campaignId)} and ${tagFilter(TAG.kind, 'trial')}`,
        // Large pages: a campaign of 10,000 trials in two requests, well inside the 2-minute limit.
        maxResults: 5000,
      });
      // The hidden values go into the snapshot (on the campaign's run, which every role reads)
      // only once the hidden experiment is open to every role.
      const hidden = await mlflow.getExperimentByName(hiddenExperimentName(input.campaignId));
      const hiddenRuns =
        hidden?.tags[TAG.hiddenReleased] === 'true'
          ? await mlflow.searchAllRuns({
              experimentIds: [hidden.experimentId],
              filter: tagFilter(TAG.campaignId, input.campaignId),
              maxResults: 5000,
            })
          : [];
      const doc = encodeSnapshot(input.campaignId, runs, hiddenRuns);
      await mlflow.uploadArtifact(
        input.parentRunId,
        RECORDS_SNAPSHOT,
        JSON.stringify(doc),
        'application/json',
      );
      return { trials: doc.records.length };
    },
  };
}
