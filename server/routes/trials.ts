/**
 * Trials and lineage, read from MLflow (the permanent record), so they answer for finished
 * campaigns whose workflow is gone and for runs written straight into MLflow. When MLflow has no
 * record of the campaign yet (or is down), the running workflow answers instead; `source` says
 * which did.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MlflowError } from '../../mlflow-ts-client/index.js';
import { CampaignIdParam, ErrorBody, Lineage, TrialDetail, TrialIdParam, TrialsPage, TrialsQuery, recordOfSummary, toLineageNode } from '../api-types.js';
import type { TrialSummary } from '../../workflows/types.js';
import { runLink, workflowLink } from '../context.js';
import { ServiceError } from '../errors.js';

const CampaignParams = z.object({ campaignId: CampaignIdParam });
const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 503: ErrorBody };

/** MLflow's answer, or `undefined` when MLflow cannot answer right now (the workflow may). */
async function fromMlflow<T>(read: () => Promise<T>): Promise<{ value: T } | { down: MlflowError }> {
  try {
    return { value: await read() };
  } catch (err) {
    if (err instanceof MlflowError && (err.retryable || err.status === undefined)) return { down: err };
    throw err;
  }
}

/** The workflow's answer; when it is unknown too, MLflow's outage is the better error to report. */
async function fromWorkflow<T>(read: () => Promise<T>, mlflowDown: MlflowError | undefined): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (mlflowDown && err instanceof ServiceError && err.code === 'NotFound') throw mlflowDown;
    throw err;
  }
}

export const trialRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.gaplab;
  const { service, lineage } = ctx;

  app.get(
    '/campaigns/:campaignId/trials',
    {
      schema: {
        tags: ['trials'],
        summary: "A page of the campaign's trials in index order (from MLflow)",
        params: CampaignParams,
        querystring: TrialsQuery,
        response: { 200: TrialsPage, ...errors },
      },
    },
    async (req) => {
      const { campaignId } = req.params;
      const { offset, limit, kind } = req.query;
      const res = await fromMlflow(() => lineage.trials(campaignId, { offset, limit, kind }));
      if ('value' in res && res.value) return { campaignId, offset, limit, source: 'mlflow' as const, ...res.value };
      const page = await fromWorkflow(() => service.trials(campaignId, { offset, limit, ...(kind ? { kind } : {}) }), 'down' in res ? res.down : undefined);
      return { campaignId, offset, limit, source: 'workflow' as const, total: page.total, trials: page.trials.map((t) => recordOfSummary(t)) };
    },
  );

  app.get(
    '/campaigns/:campaignId/trials/:trialId',
    {
      schema: {
        tags: ['trials'],
        summary: 'One trial: record, lineage to the root, per-seed results, links to MLflow and Temporal',
        params: CampaignParams.extend({ trialId: TrialIdParam }),
        response: { 200: TrialDetail, ...errors },
      },
    },
    async (req) => {
      const { campaignId, trialId } = req.params;
      const temporalWorkflow = workflowLink(ctx, campaignId);
      const res = await fromMlflow(() => lineage.trial(campaignId, trialId));
      if ('value' in res && res.value) {
        const { records, trial, lineage: path, summary, seeds } = res.value;
        return {
          campaignId,
          trial,
          summary,
          seeds,
          lineage: path,
          links: { mlflowRun: trial.mlflowRunId ? runLink(ctx, records.location.experimentId, trial.mlflowRunId) : null, temporalWorkflow },
        };
      }
      const down = 'down' in res ? res.down : undefined;
      const found = await fromWorkflow(() => service.trial(campaignId, trialId), down);
      const status = await service.status(campaignId).catch(() => null);
      const runId = found.trial.mlflowRunId;
      return {
        campaignId,
        trial: recordOfSummary(found.trial),
        summary: found.trial,
        seeds: [],
        lineage: found.lineage.map((t: TrialSummary) => toLineageNode(recordOfSummary(t))),
        links: { mlflowRun: runId && status?.mlflowExperimentId ? runLink(ctx, status.mlflowExperimentId, runId) : null, temporalWorkflow },
      };
    },
  );

  app.get(
    '/campaigns/:campaignId/lineage',
    {
      schema: {
        tags: ['trials'],
        summary: "The campaign's whole lineage tree as compact nodes (from MLflow; fast at 10,000 trials)",
        params: CampaignParams,
        response: { 200: Lineage, ...errors },
      },
    },
    async (req) => {
      const { campaignId } = req.params;
      const res = await fromMlflow(() => lineage.records(campaignId));
      if ('value' in res && res.value) {
        const r = res.value;
        return { campaignId, problemId: r.location.problemId, finished: r.finished, source: 'mlflow' as const, total: r.nodes.length, nodes: r.nodes };
      }
      const down = 'down' in res ? res.down : undefined;
      const trials = await fromWorkflow(async () => {
        const all: TrialSummary[] = [];
        // The workflow's trials query pages by at most 1000.
        for (let offset = 0; ; offset += 1000) {
          const page = await service.trials(campaignId, { offset, limit: 1000 });
          all.push(...page.trials);
          if (page.trials.length === 0 || all.length >= page.total) break;
        }
        return all;
      }, down);
      const status = await service.status(campaignId).catch(() => null);
      const nodes = trials.map((t) => toLineageNode(recordOfSummary(t))).sort((a, b) => a.index - b.index);
      return { campaignId, problemId: status?.problemId ?? null, finished: status?.phase === 'finished', source: 'workflow' as const, total: nodes.length, nodes };
    },
  );
};
