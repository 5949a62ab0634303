/**
 * An in-memory MLflow for the API's unit tests: the runs recording.ts writes for a campaign, and a
 * client that answers searches, run and artifact reads from them (and can be switched off).
 */
import {
  MlflowError,
  type Metric,
  type Run,
  type SearchRunsOptions,
  type SearchRunsPage,
} from '../../mlflow-ts-client/index.js';
import { TAG, experimentName } from '../../records/names.js';
import type { LineageMlflow } from '../../server/lineage.js';

/** The runs recording.ts writes for a campaign with `n` search trials (plus the baseline). */
export function campaignRuns(opts: {
  experimentId: string;
  problemId: string;
  campaignId: string;
  trials: number;
  finished?: boolean;
  startTime?: number;
}): Run[] {
  const t0 = opts.startTime ?? 1_767_225_600_000;
  const parentId = `${opts.campaignId}-parent`;
  const runs: Run[] = [
    {
      info: {
        runId: parentId,
        experimentId: opts.experimentId,
        runName: opts.campaignId,
        userId: '',
        status: opts.finished === false ? 'RUNNING' : 'FINISHED',
        startTime: t0,
        endTime: t0 + 1000 * (opts.trials + 1),
        artifactUri: '',
        lifecycleStage: 'active',
      },
      data: {
        metrics: {},
        params: {},
        tags: {
          [TAG.kind]: 'campaign',
          [TAG.campaignId]: opts.campaignId,
          [TAG.problemId]: opts.problemId,
          [TAG.strategy]: 'random',
          [TAG.criteriaVersion]: '1',
          [TAG.startedBy]: 'Rae Researcher (researcher)',
          ...(opts.finished === false ? {} : { [TAG.stopReason]: 'max_trials' }),
        },
      },
    },
  ];
  for (let i = 0; i <= opts.trials; i++) {
    const id = i === 0 ? 'baseline' : `t${String(i).padStart(4, '0')}`;
    const parent =
      i === 0 ? '' : i < 3 ? 'baseline' : `t${String(Math.floor(i / 2)).padStart(4, '0')}`;
    const pgr = i === 0 ? 0 : (i % 10) / 10;
    runs.push({
      info: {
        runId: `${opts.campaignId}-run-${i}`,
        experimentId: opts.experimentId,
        runName: `${id} idea ${i}`,
        userId: '',
        status: i % 7 === 6 ? 'FAILED' : 'FINISHED',
        startTime: t0 + 1000 * i,
        endTime: t0 + 1000 * (i + 1),
        artifactUri: '',
        lifecycleStage: 'active',
      },
      data: {
        metrics:
          i % 7 === 6
            ? { compute_seconds: 1 }
            : {
                score: pgr * 10,
                pgr,
                pgr_ci_low: pgr - 0.05,
                pgr_ci_high: pgr + 0.05,
                compute_seconds: 1,
                'seed/score': pgr * 10,
                objective_stderr: 0.1,
              },
        params: { x: String(i), gaplab_seeds: '1,2' },
        tags: {
          [TAG.kind]: 'trial',
          [TAG.trialKey]: `${opts.campaignId}/${id}`,
          [TAG.campaignId]: opts.campaignId,
          [TAG.problemId]: opts.problemId,
          [TAG.trialId]: id,
          [TAG.trialKind]: i === 0 ? 'reference' : 'search',
          [TAG.parentTrialId]: parent,
          [TAG.title]: i === 0 ? 'Baseline' : `idea ${i}`,
          [TAG.rationale]: 'because',
          [TAG.author]: i === 0 ? 'gaplab' : 'random',
          [TAG.authorKind]: i === 0 ? 'system' : 'strategy',
          [TAG.status]: i % 7 === 6 ? 'failed' : 'succeeded',
          [TAG.flags]: i === 2 ? 'high_variance' : '',
          [TAG.hiddenMetrics]: 'heldout_score',
          ...(i % 7 === 6 ? { [TAG.failureReason]: 'boom' } : {}),
        },
      },
    });
  }
  return runs;
}

/** A fake MLflow: experiments and runs in memory; filters of `tags.\`k\` = 'v'` clauses joined by `and`. */
export class FakeMlflow implements LineageMlflow {
  readonly trackingUri = 'http://mlflow.test';
  readonly experiments = new Map<string, string>();
  readonly runs: Run[] = [];
  readonly artifacts = new Map<string, string>();
  searches = 0;
  uploads = 0;
  up = true;

  addCampaign(problemId: string, campaignId: string, trials: number, finished = true): void {
    const name = experimentName(problemId);
    if (!this.experiments.has(name)) this.experiments.set(name, String(this.experiments.size + 1));
    this.runs.push(
      ...campaignRuns({
        experimentId: this.experiments.get(name)!,
        problemId,
        campaignId,
        trials,
        finished,
      }),
    );
  }

  /** No metric history is kept: learning curves read empty. */
  getMetricHistory(): Promise<Metric[]> {
    this.down();
    return Promise.resolve([]);
  }

  private down(): void {
    if (!this.up) {
      throw new MlflowError('connect ECONNREFUSED', {
        errorCode: 'NETWORK_ERROR',
        endpoint: 'fake',
        retryable: true,
      });
    }
  }

  async searchRuns(o: SearchRunsOptions): Promise<SearchRunsPage> {
    this.searches += 1;
    this.down();
    const clauses = (o.filter ?? '')
      .split(/\s+and\s+/)
      .filter(Boolean)
      .map((c) => {
        const m = /^tags\.`([^`]+)` = '((?:[^'\\]|\\.)*)'$/.exec(c.trim());
        if (!m) throw new Error(`fake MLflow cannot parse filter clause: ${c}`);
        return [m[1]!, m[2]!.replace(/\\(.)/g, '$1')] as const;
      });
    const matching = this.runs.filter(
      (r) =>
        o.experimentIds.includes(r.info.experimentId) &&
        clauses.every(([k, v]) => r.data.tags[k] === v),
    );
    const offset = o.pageToken ? Number(o.pageToken) : 0;
    const size = o.maxResults ?? 1000;
    const page = matching.slice(offset, offset + size);
    return {
      runs: page,
      nextPageToken: offset + size < matching.length ? String(offset + size) : undefined,
    };
  }
  async getExperimentByName(name: string) {
    this.down();
    const id = this.experiments.get(name);
    return id ? { experimentId: id } : null;
  }
  async getRun(runId: string): Promise<Run> {
    this.down();
    const run = this.runs.find((r) => r.info.runId === runId);
    if (!run)
      throw new MlflowError(`run ${runId} not found`, {
        errorCode: 'RESOURCE_DOES_NOT_EXIST',
        status: 404,
        endpoint: 'fake',
        retryable: false,
      });
    return run;
  }
  async uploadArtifact(runId: string, path: string, content: string): Promise<void> {
    this.down();
    this.uploads += 1;
    this.artifacts.set(`${runId}/${path}`, content);
  }
  async downloadArtifactText(runId: string, path: string): Promise<string> {
    this.down();
    const a = this.artifacts.get(`${runId}/${path}`);
    if (a === undefined) throw new Error('RESOURCE_DOES_NOT_EXIST');
    return a;
  }
  async health() {
    return this.up;
  }
  listExperiments = async () => {
    this.down();
    return [...this.experiments].map(([name, experimentId]) => ({ name, experimentId }));
  };
}
