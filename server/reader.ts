/**
 * The one place that decides whether a campaign is read from its workflow or from MLflow
 * (`openCampaign`, the factory of campaign-source.ts's two sources). Routes, the event stream and
 * the hidden-value book ask here instead of deciding on their own.
 *
 * The rule: a running campaign is read from its workflow (live, ahead of MLflow, whose recording
 * is asynchronous; see live-trials.ts). A closed one is read from MLflow, the permanent record
 * (lineage.ts): a query on a closed workflow makes a worker replay its whole history (seconds
 * for a big campaign), and MLflow answers after the workflow is gone. When MLflow has no record
 * (campaigns run without MLflow) the workflow answers all the same.
 *
 * Reads never write: a finished campaign's records snapshot is written by a workflow the
 * campaign starts when it ends and does not wait for (workflows/records-snapshot.ts, which runs
 * activities/recording.ts `recordRecordsSnapshot`); until it is there, the runs are searched.
 */
import type { CampaignReport } from '../api/schemas.js';
import { remainingOrNull } from '../domain/budget.js';
import type { CampaignSource } from './campaign-source.js';
import type { AppContext } from './context.js';
import { ServiceError } from './errors.js';
import { visibilityResolver } from './hidden.js';
import { MlflowSource, type CampaignRecords } from './lineage.js';
import { WorkflowSource } from './live-trials.js';

type ReaderContext = Pick<AppContext, 'service' | 'lineage' | 'live'>;

interface DebugLog {
  debug: (o: object, m: string) => void;
}

const isNotFound = (err: unknown) => err instanceof ServiceError && err.code === 'NotFound';

/**
 * Whether the campaign's workflow runs: `true`, `false`, or `undefined` when Temporal cannot say
 * (the service has no cheap check). Not found counts as not running.
 */
async function isRunning(
  ctx: ReaderContext,
  campaignId: string,
  log?: DebugLog,
): Promise<{ running: boolean | undefined; described: boolean }> {
  if (ctx.live.has(campaignId)) return { running: true, described: true };
  try {
    const running = await ctx.service.isRunning?.(campaignId);
    return { running, described: running !== undefined };
  } catch (err) {
    // Not found: no workflow to ask. A describe that fails otherwise (a deadline missed on a
    // loaded machine, Temporal unreachable) tells nothing: the workflow is still asked first, as
    // a running campaign's record in MLflow lags behind it.
    if (isNotFound(err)) return { running: false, described: false };
    log?.debug({ err }, 'describing the campaign failed');
    return { running: undefined, described: false };
  }
}

/**
 * The campaign to read: from MLflow once it has closed (or its record is in memory), else from
 * its workflow.
 * @throws ServiceError NotFound when neither the workflow nor MLflow knows the campaign
 */
export async function openCampaign(
  ctx: ReaderContext,
  campaignId: string,
  log: DebugLog,
): Promise<CampaignSource> {
  const resolver = visibilityResolver(ctx.service);
  const fromMlflow = (r: CampaignRecords, running?: boolean) =>
    new MlflowSource(
      r,
      { reader: ctx.lineage, visibility: (rec, run) => resolver.ofRecords(rec, run) },
      running,
    );
  const cached = ctx.lineage.cached(campaignId);
  // A cached record has ended: the campaign is over.
  if (cached) return fromMlflow(cached, cached.finished ? false : undefined);
  const fromWorkflow = async (): Promise<CampaignSource> => {
    const live = await ctx.live.get(campaignId);
    // A finished campaign warms the MLflow cache in the background, so later reads come from
    // the record without a slow first search.
    if (live.status.phase === 'finished') {
      void ctx.lineage
        .records(campaignId, live.status.problemId)
        .catch((err: unknown) => log.debug({ err }, 'warming the MLflow lineage cache failed'));
    }
    const { hiddenMetrics } = await resolver.ofStatus(live.status);
    return new WorkflowSource(
      live,
      {
        liveTrials: ctx.live,
        artifacts: ctx.lineage,
        visibility: (status) => resolver.ofStatus(status),
      },
      hiddenMetrics,
    );
  };
  const { running, described } = await isRunning(ctx, campaignId, log);
  let workflowError: unknown;
  if (running !== false) {
    try {
      return await fromWorkflow();
    } catch (err) {
      workflowError = err;
    }
  }
  // When MLflow is down too, its error (503) explains more than the workflow's "not found".
  const r = await ctx.lineage.records(campaignId);
  // Without a workflow to ask, whether the campaign has ended is the record's to say.
  if (r) return fromMlflow(r, described ? running : undefined);
  if (workflowError !== undefined) throw workflowError;
  // Closed, and MLflow has no record (campaigns run without MLflow): the workflow still knows.
  return fromWorkflow();
}

/**
 * The campaign's final report, and whether its workflow has closed; null while it runs.
 * @throws ServiceError NotFound when neither the workflow nor MLflow knows the campaign
 */
export async function readReport(
  ctx: ReaderContext,
  campaignId: string,
): Promise<{ report: CampaignReport | null; closed: boolean }> {
  // A closed campaign's report is in MLflow (report.json): reading it there spares a worker
  // the replay a query on a closed workflow costs, and works after the workflow is gone.
  const closed =
    (await ctx.service.isRunning?.(campaignId).then(
      (running) => !running,
      () => true,
    )) ?? false;
  let report: CampaignReport | null = closed
    ? await ctx.lineage.report(campaignId).catch(() => null)
    : null;
  if (!report) {
    try {
      report = await ctx.service.report(campaignId);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      report = await ctx.lineage.report(campaignId);
      if (!report) throw err;
    }
  }
  return { report, closed };
}

/**
 * A closed campaign's report and records from MLflow, or null when the campaign runs (or Temporal
 * cannot say) or MLflow lacks either: then the workflow is to be asked.
 */
export async function readClosed(
  ctx: ReaderContext,
  campaignId: string,
): Promise<{ report: CampaignReport; records: CampaignRecords } | null> {
  // A describe that fails but for NotFound (a deadline missed on a loaded machine) tells nothing.
  const running = ctx.live.has(campaignId)
    ? true
    : await ctx.service.isRunning?.(campaignId).catch((err: unknown) => {
        if (isNotFound(err)) throw err;
        return undefined;
      });
  if (running !== false) return null;
  const report = await ctx.lineage.report(campaignId).catch(() => null);
  const records = report ? await ctx.lineage.records(campaignId).catch(() => null) : null;
  return report && records ? { report, records } : null;
}

type Status = Awaited<ReturnType<ReaderContext['service']['status']>>;

/**
 * A campaign's status: a running one's from its workflow (live), a closed one's from its
 * report in MLflow, which holds everything the status says once the campaign has ended (a query
 * on a closed workflow makes a worker replay its history). `runs` (how often it continued as
 * new) is not recorded: a status read from the record says 0. Falls back to the workflow when
 * Temporal cannot say whether it runs or MLflow has no report (campaigns run without MLflow).
 */
export async function readStatus(ctx: ReaderContext, campaignId: string): Promise<Status> {
  const running = ctx.live.has(campaignId)
    ? true
    : await ctx.service.isRunning?.(campaignId).catch(() => undefined);
  if (running === false) {
    const report = await ctx.lineage.report(campaignId).catch(() => null);
    if (report) {
      const location = await ctx.lineage.locate(campaignId).catch(() => null);
      return statusFromReport(report, location);
    }
  }
  return ctx.service.status(campaignId);
}

/** The status a finished campaign's workflow would answer, from its final report. */
export function statusFromReport(
  report: CampaignReport,
  location: { experimentId: string; parentRunId: string } | null,
): Status {
  const best = report.best;
  return {
    campaignId: report.campaignId,
    problemId: report.problem.id,
    strategy: report.strategy.name,
    criteriaVersion: report.criteriaVersion,
    phase: 'finished',
    paused: false,
    iteration: report.ledger.iterations,
    trialsDone: report.ledger.trialsFinished,
    trialsRunning: 0,
    budgets: report.budgets,
    ledger: report.ledger,
    remaining: remainingOrNull(report.budgets, report.ledger, Date.parse(report.finishedAt)),
    best: best?.pgr ? { trialId: best.id, title: best.title, pgr: best.pgr } : null,
    underReview: report.underReview ?? [],
    baselineScore: report.baselineScore,
    optimumScore: report.optimumScore,
    targetPgr: report.targetPgr,
    pendingApprovals: 0,
    ...(report.proposals ? { proposals: report.proposals.counts } : {}),
    stopReason: report.stopReason,
    runs: 0,
    ...(location
      ? { mlflowParentRunId: location.parentRunId, mlflowExperimentId: location.experimentId }
      : {}),
    endedAtMs: Date.parse(report.finishedAt),
  };
}
