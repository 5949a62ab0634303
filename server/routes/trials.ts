/**
 * Trials and lineage. Two sources, one shape (TrialRecord / LineageNode), `source` says which:
 *   - `workflow`: the campaign's workflow while it answers (live, ahead of MLflow, refreshed
 *     incrementally: see live-trials.ts);
 *   - `mlflow`: the permanent record, for campaigns whose workflow is gone, runs written straight
 *     into MLflow, and finished campaigns once their record is in memory (lineage.ts).
 * Which one answers is server/reader.ts's decision.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  bestOfStatus,
  CampaignIdParam,
  ErrorBody,
  Lineage,
  TrialDetail,
  TrialIdParam,
  TrialsPage,
  TrialsQuery,
  toLineageNode,
  type TrialRecord,
} from '../../api/schemas.js';
import { runLink, workflowLink, type AppContext } from '../context.js';
import { lineagePath } from '../lineage.js';
import { readTrials, withHiddenMarks, type TrialSource as Source } from '../reader.js';
import { visibilityResolver, type HiddenRedactor } from '../hidden.js';
import { redactorFor } from '../hidden-values.js';

const CampaignParams = z.object({ campaignId: CampaignIdParam });
const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 503: ErrorBody };

/** What the caller may not see of the campaign's hidden values (null: everything is theirs to see). */
export async function redactorOf(
  ctx: AppContext,
  req: FastifyRequest,
  s: Source,
): Promise<HiddenRedactor | null> {
  const role = req.principal?.role;
  if (role === 'pi') return null;
  const resolver = visibilityResolver(ctx.service);
  const v =
    s.kind === 'mlflow'
      ? await resolver.ofRecords(s.r, s.running)
      : await resolver.ofStatus(s.live.status);
  const problemId = s.kind === 'mlflow' ? s.r.location.problemId : s.live.status.problemId;
  return redactorFor(ctx, role, v, problemId, req.log);
}

function recordsOf(s: Source): { records: TrialRecord[]; byId: Map<string, TrialRecord> } {
  return s.kind === 'mlflow' ? s.r : s.live;
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
      const source = await readTrials(ctx, campaignId, req.log);
      const redactor = await redactorOf(ctx, req, source);
      const all = kind
        ? recordsOf(source).records.filter((t) => t.kind === kind)
        : recordsOf(source).records;
      const trials = all.slice(offset, offset + limit).map((t) => withHiddenMarks(source, t));
      return {
        campaignId,
        offset,
        limit,
        source: source.kind,
        total: all.length,
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
          'One trial: record, lineage to the root, per-seed results, links to MLflow and Temporal',
        params: CampaignParams.extend({ trialId: TrialIdParam }),
        response: { 200: TrialDetail, ...errors },
      },
    },
    async (req, reply) => {
      const { campaignId, trialId } = req.params;
      const source = await readTrials(ctx, campaignId, req.log);
      const { byId } = recordsOf(source);
      const found = byId.get(trialId);
      if (!found)
        return reply.code(404).send({
          error: 'NotFound',
          message: `trial ${trialId} not found in campaign ${campaignId}`,
        });
      const trial = withHiddenMarks(source, found);
      const lineage = lineagePath(byId, trialId).map((id) => toLineageNode(byId.get(id)!));
      const experimentId =
        source.kind === 'mlflow'
          ? source.r.location.experimentId
          : source.live.status.mlflowExperimentId;
      const runId = trial.mlflowRunId;
      // Per-seed results live only in the trial.json artifact, for live trials too once recorded.
      const artifact =
        runId && trial.status !== 'running'
          ? await ctx.lineage.trialArtifact(runId)
          : { summary: null, seeds: [] };
      const detail: TrialDetail = {
        campaignId,
        trial,
        summary:
          source.kind === 'workflow'
            ? ((await ctx.live.summary(source.live, trialId)) ?? artifact.summary)
            : artifact.summary,
        seeds: artifact.seeds,
        lineage,
        links: {
          mlflowRun: runId && experimentId ? runLink(ctx, experimentId, runId) : null,
          temporalWorkflow: workflowLink(ctx, campaignId, req.principal?.role),
        },
      };
      const redactor = await redactorOf(ctx, req, source);
      return redactor ? redactor.redact(detail) : detail;
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
      const s = await readTrials(ctx, campaignId, req.log);
      const entry = s.kind === 'mlflow' ? s.r : s.live;
      const redactor = await redactorOf(ctx, req, s);
      // Serialized once per cache entry: re-encoding 10,000 nodes per request is most of the cost.
      const hit = redactor ? redactedSerialized.get(entry) : undefined;
      let json = redactor
        ? hit?.values === redactor.values
          ? hit.json
          : undefined
        : serialized.get(entry);
      if (json === undefined) {
        const body: Lineage =
          s.kind === 'mlflow'
            ? {
                campaignId,
                problemId: s.r.location.problemId,
                finished: s.r.finished,
                source: 'mlflow',
                total: s.r.nodes.length,
                nodes: s.r.nodes,
                best: s.r.best,
              }
            : {
                campaignId,
                problemId: s.live.status.problemId,
                finished: s.live.status.phase === 'finished',
                source: 'workflow',
                total: s.live.nodes.length,
                nodes: s.live.nodes,
                best: bestOfStatus(s.live.status.best),
              };
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
