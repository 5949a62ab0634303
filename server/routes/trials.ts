/**
 * Trials and lineage, read through one interface (campaign-source.ts) from either of its two
 * sources, the running workflow or the MLflow record; `source` tells clients which. Which one
 * answers is server/reader.ts's decision: nothing here depends on it.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  CampaignIdParam,
  ErrorBody,
  Lineage,
  type CurveSeries,
  TrialCurves,
  TrialDetail,
  TrialIdParam,
  TrialsPage,
  TrialsQuery,
  type TrialConstraints,
  type TrialRecord,
  type TrialSummary,
} from '../../api/schemas.js';
import { constraintVerdicts } from '../../domain/constraints.js';
import type { EvaluationCriteria } from '../../domain/schemas.js';
import { isRecorded, type CampaignSource } from '../campaign-source.js';
import { runLink, workflowLink, type AppContext } from '../context.js';
import { openCampaign } from '../reader.js';
import { visibilityResolver, type HiddenRedactor } from '../hidden.js';
import { redactorFor } from '../hidden-values.js';

const CampaignParams = z.object({ campaignId: CampaignIdParam });
const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 503: ErrorBody };

/** What the caller may not see of the campaign's hidden values (null: everything is theirs to see). */
export async function redactorOf(
  ctx: AppContext,
  req: FastifyRequest,
  s: CampaignSource,
): Promise<HiddenRedactor | null> {
  const role = req.principal?.role;
  if (role === 'pi') return null;
  return redactorFor(ctx, role, await s.visibility(), s.problemId, req.log);
}

/** The 404 body of a trial the campaign does not have. */
const trialNotFound = (campaignId: string, trialId: string) => ({
  error: 'NotFound' as const,
  message: `trial ${trialId} not found in campaign ${campaignId}`,
});

/**
 * A recorded trial's learning curves from MLflow's metric history; hidden metrics' (recorded on
 * the trial's hidden run only) for callers without a redactor. Empty before the record exists.
 */
async function curvesOf(
  ctx: AppContext,
  trial: TrialRecord,
  redactor: HiddenRedactor | null,
): Promise<CurveSeries[]> {
  if (!isRecorded(trial)) return [];
  const curves = await ctx.lineage.curves(trial.mlflowRunId, redactor === null);
  return redactor ? curves.filter((c) => !redactor.names.includes(c.metric)) : curves;
}

/**
 * The trial's constraint verdicts: as recorded when it was scored; for records from before they
 * were, judged again by the domain's rule from the criteria and the baseline's recorded means
 * (the trial's own when it is the baseline). Null when neither is possible.
 */
function constraintsOf(
  trial: TrialRecord,
  summary: TrialSummary | null,
  criteria: EvaluationCriteria | null,
  baseline: TrialRecord | null,
): TrialConstraints | null {
  const recorded = trial.constraints ?? summary?.constraints;
  if (recorded) return { recorded: true, verdicts: recorded };
  if (!criteria) return null;
  const metrics = { ...trial.metrics, ...summary?.metrics };
  const base = trial.id === 'baseline' ? metrics : baseline?.metrics;
  return { recorded: false, verdicts: constraintVerdicts(criteria.constraints, metrics, base) };
}

export const trialRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.gaplab;
  /** Lineage responses by cache entry (entries are replaced, never changed, when trials arrive). */
  const serialized = new WeakMap<object, string>();
  /**
   * The same for callers from whom hidden values are withheld, with the values it was redacted of
   * (the hidden names of an entry never change; the problem's values grow).
   */
  const redactedSerialized = new WeakMap<object, { values: object; json: string }>();

  app.get(
    '/campaigns/:campaignId/trials',
    {
      schema: {
        tags: ['trials'],
        summary: "A page of the campaign's trials in index order",
        params: CampaignParams,
        querystring: TrialsQuery,
        response: { 200: TrialsPage, ...errors },
      },
    },
    async (req) => {
      const { campaignId } = req.params;
      const { offset, limit, kind } = req.query;
      const source = await openCampaign(ctx, campaignId, req.log);
      const redactor = await redactorOf(ctx, req, source);
      const { total, trials } = source.trials({ offset, limit, kind });
      return {
        campaignId,
        offset,
        limit,
        source: source.kind,
        total,
        trials: redactor ? redactor.redact(trials) : trials,
      };
    },
  );

  app.get(
    '/campaigns/:campaignId/trials/:trialId',
    {
      schema: {
        tags: ['trials'],
        summary:
          "One trial, all the trial page shows: record, lineage to the root, per-seed results, links to MLflow and Temporal, constraint verdicts, the parent's parameters",
        params: CampaignParams.extend({ trialId: TrialIdParam }),
        response: { 200: TrialDetail, ...errors },
      },
    },
    async (req, reply) => {
      const { campaignId, trialId } = req.params;
      const source = await openCampaign(ctx, campaignId, req.log);
      const trial = source.trial(trialId);
      if (!trial) return reply.code(404).send(trialNotFound(campaignId, trialId));
      const experimentId = source.experimentId;
      const runId = trial.mlflowRunId;
      const version = source.criteriaVersion;
      // Per-seed results live only in the trial.json artifact, for live trials too once recorded.
      const [{ summary, seeds }, criteria] = await Promise.all([
        source.detail(trial),
        source.problemId && version !== null
          ? visibilityResolver(ctx.service).criteriaOf(source.problemId, version)
          : null,
      ]);
      const parent = trial.parentTrialId ? source.record(trial.parentTrialId) : null;
      const redactor = await redactorOf(ctx, req, source);
      const detail: TrialDetail = {
        campaignId,
        trial,
        summary,
        seeds,
        lineage: source.lineagePath(trialId),
        links: {
          mlflowRun:
            runId && experimentId ? runLink(ctx, experimentId, runId, req.principal?.role) : null,
          temporalWorkflow: workflowLink(ctx, campaignId, req.principal?.role),
        },
        campaign: {
          problemId: source.problemId,
          ended: source.ended,
          criteriaVersion: version,
          objective: criteria?.metric ?? null,
        },
        parentParams: parent?.params ?? null,
        constraints: constraintsOf(trial, summary, criteria, source.record('baseline')),
        // The page's other facts do not wait on curves MLflow cannot serve now (GET .../curves says why).
        curves: await curvesOf(ctx, trial, redactor).catch((err: unknown) => {
          req.log.warn({ err, trialId }, 'learning curves not read');
          return [];
        }),
      };
      return redactor ? redactor.redact(detail) : detail;
    },
  );

  app.get(
    '/campaigns/:campaignId/trials/:trialId/curves',
    {
      schema: {
        tags: ['trials'],
        summary:
          "A trial's learning curves: each seed's metrics by step, from MLflow's metric history once the trial is recorded (hidden metrics' curves only for those who may see them)",
        params: CampaignParams.extend({ trialId: TrialIdParam }),
        response: { 200: TrialCurves, ...errors },
      },
    },
    async (req, reply) => {
      const { campaignId, trialId } = req.params;
      const source = await openCampaign(ctx, campaignId, req.log);
      const trial = source.trial(trialId);
      if (!trial) return reply.code(404).send(trialNotFound(campaignId, trialId));
      const redactor = await redactorOf(ctx, req, source);
      return {
        campaignId,
        trialId,
        recorded: isRecorded(trial),
        curves: await curvesOf(ctx, trial, redactor),
        withheld: redactor ? trial.hiddenMetrics : [],
      };
    },
  );

  app.get(
    '/campaigns/:campaignId/lineage',
    {
      schema: {
        tags: ['trials'],
        summary:
          "The campaign's whole lineage tree as compact nodes in index order (fast at 10,000 trials)",
        params: CampaignParams,
        response: { 200: Lineage, ...errors },
      },
    },
    async (req, reply) => {
      const { campaignId } = req.params;
      const s = await openCampaign(ctx, campaignId, req.log);
      const entry = s.key;
      const redactor = await redactorOf(ctx, req, s);
      // Serialized once per cache entry: re-encoding 10,000 nodes per request is most of the cost.
      const hit = redactor ? redactedSerialized.get(entry) : undefined;
      let json = redactor
        ? hit?.values === redactor.values
          ? hit.json
          : undefined
        : serialized.get(entry);
      if (json === undefined) {
        const body = s.lineage();
        json = JSON.stringify(
          z.encode(Lineage, redactor ? { ...body, nodes: redactor.nodes(body.nodes) } : body),
        );
        if (redactor) redactedSerialized.set(entry, { values: redactor.values, json });
        else serialized.set(entry, json);
      }
      return reply
        .type('application/json; charset=utf-8')
        .serializer((payload) => payload as string)
        .send(json as never);
    },
  );
};
