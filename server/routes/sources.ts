/**
 * Code trials' sources, for people reading and proposing code (viewer permission): a trial's
 * whole diff from its parent, and a snapshot by content hash. Snapshots live as
 * `sources/<hash>.json` on the campaign's MLflow parent run (activities/sources.ts); the
 * experiment's starting source is served from the registry, since it is stored only once an edit
 * has been resolved against it. Works while the campaign runs and once it is read back from MLflow.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  CampaignIdParam,
  ErrorBody,
  SourceRefParam,
  SourceView,
  TrialDiff,
  TrialIdParam,
} from '../../api/schemas.js';
import { diffSnapshots, hashSnapshot, type SourceSnapshot } from '../../domain/code.js';
import { ServiceError } from '../errors.js';
import { isRecorded } from '../campaign-source.js';
import { openCampaign } from '../reader.js';
import { campaignSources, snapshotOf } from '../snapshots.js';
import { redactorOf } from './trials.js';

const CampaignParams = z.object({ campaignId: CampaignIdParam });
const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 503: ErrorBody };

export const sourceRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.gaplab;

  app.get(
    '/campaigns/:campaignId/trials/:trialId/diff',
    {
      schema: {
        tags: ['trials'],
        summary: "A code trial's whole unified diff from its parent trial's source",
        params: CampaignParams.extend({ trialId: TrialIdParam }),
        response: { 200: TrialDiff, ...errors },
      },
    },
    async (req): Promise<TrialDiff> => {
      const { campaignId, trialId } = req.params;
      const s = await openCampaign(ctx, campaignId, req.log);
      // A diff is free text: a comment or a constant in it may carry a hidden value.
      const redactor = await redactorOf(ctx, req, s);
      const shown = (d: TrialDiff): TrialDiff =>
        redactor ? { ...d, diff: redactor.text(d.diff) } : d;
      const trial = s.trial(trialId);
      if (!trial)
        throw new ServiceError('NotFound', `trial ${trialId} not found in campaign ${campaignId}`);
      const base = { campaignId, trialId, sourceHash: trial.sourceHash ?? null };
      if (!trial.sourceHash) return { ...base, parentSourceHash: null, diff: '', from: 'none' };
      const summary = await s.summary(trial);
      const parentSourceHash = summary?.parentSourceHash ?? null;
      if (isRecorded(trial)) {
        const patch = await ctx.lineage.artifactText(trial.mlflowRunId, 'diff.patch');
        if (patch !== null)
          return shown({ ...base, parentSourceHash, diff: patch, from: 'artifact' });
      }
      const where = await campaignSources(ctx, s);
      const child = await snapshotOf(ctx, where, trial.sourceHash);
      const parent =
        parentSourceHash === null || parentSourceHash === trial.sourceHash
          ? child
          : await snapshotOf(ctx, where, parentSourceHash);
      if (!child || !parent)
        throw new ServiceError(
          'NotFound',
          `source ${(child ? parentSourceHash : trial.sourceHash)?.slice(0, 12)} of trial ${trialId} is not stored yet`,
        );
      return shown({
        ...base,
        parentSourceHash,
        diff: diffSnapshots(parent, child),
        from: 'snapshots',
      });
    },
  );

  app.get(
    '/campaigns/:campaignId/sources/:ref',
    {
      schema: {
        tags: ['trials'],
        summary:
          "A source snapshot by content hash, or `initial`: the experiment's starting source (what the baseline runs)",
        params: CampaignParams.extend({ ref: SourceRefParam }),
        response: { 200: SourceView, ...errors },
      },
    },
    async (req) => {
      const { campaignId, ref } = req.params;
      const s = await openCampaign(ctx, campaignId, req.log);
      const where = await campaignSources(ctx, s);
      // Source files are free text: a comment or a constant in them may carry a hidden value.
      const redactor = await redactorOf(ctx, req, s);
      const shown = (files: SourceSnapshot): SourceSnapshot =>
        redactor
          ? Object.fromEntries(Object.entries(files).map(([f, text]) => [f, redactor.text(text)]))
          : files;
      if (ref === 'initial') {
        if (!where.initial)
          throw new ServiceError(
            'NotFound',
            `campaign ${campaignId} does not run a code experiment: it has no source`,
          );
        return {
          campaignId,
          hash: hashSnapshot(where.initial),
          initial: true,
          files: shown(where.initial),
        };
      }
      const files = await snapshotOf(ctx, where, ref);
      if (!files)
        throw new ServiceError('NotFound', `source ${ref} not found in campaign ${campaignId}`);
      return {
        campaignId,
        hash: ref,
        initial: where.initial !== null && hashSnapshot(where.initial) === ref,
        files: shown(files),
      };
    },
  );
};
