/** Problems (researcher specs), their versioned criteria (PI) and the per-problem comparison. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { TAG } from '../../records/names.js';
import { ProblemSpec, Slug } from '../../domain/schemas.js';
import {
  bestOfStatus,
  Compare,
  CriteriaVersion,
  ErrorBody,
  ProblemState,
  SetCriteriaBody,
} from '../../api/schemas.js';
import { actorOf } from '../context.js';
import { ServiceError } from '../errors.js';
import { visibilityResolver } from '../hidden.js';
import { problemRedactor, redactorFor, redactProblem } from '../hidden-values.js';
import { compareSeries } from '../lineage.js';

const ProblemParams = z.object({ problemId: Slug });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };

export const problemRoutes: FastifyPluginAsyncZod = async (app) => {
  const { service, lineage } = app.gaplab;

  app.post(
    '/problems',
    {
      config: { action: 'submitProblem' },
      schema: {
        tags: ['problems'],
        summary: 'Submit a problem spec (JSON or application/yaml)',
        consumes: ['application/json', 'application/yaml'],
        body: ProblemSpec,
        response: { 201: ProblemState, ...errors },
      },
    },
    async (req, reply) => reply.code(201).send(await service.submitProblem(actorOf(req), req.body)),
  );

  app.get(
    '/problems',
    {
      schema: {
        tags: ['problems'],
        summary: 'Every open problem',
        response: { 200: z.array(ProblemState) },
      },
    },
    async (req) => {
      const problems = await service.listProblems();
      if (req.principal?.role === 'pi') return problems;
      // Audit details and criteria reasons are free text: see GET /problems/:problemId.
      return Promise.all(
        problems.map(async (p) => {
          const r = await problemRedactor(app.gaplab, req.principal?.role, p, req.log);
          return r ? redactProblem(r, p) : p;
        }),
      );
    },
  );

  app.get(
    '/problems/:problemId',
    {
      schema: {
        tags: ['problems'],
        summary: 'One problem: spec, criteria versions, campaigns, audit',
        params: ProblemParams,
        response: { 200: ProblemState, ...errors },
      },
    },
    async (req) => {
      const p = await service.getProblem(req.params.problemId);
      // The audit and criteria reasons are free text: while a campaign of the problem runs, they
      // lose every hidden value of the problem's campaigns for those it withholds them from.
      const r = await problemRedactor(app.gaplab, req.principal?.role, p, req.log);
      return r ? redactProblem(r, p) : p;
    },
  );

  app.post(
    '/problems/:problemId/criteria',
    {
      config: { action: 'setCriteria' },
      schema: {
        tags: ['problems'],
        summary: 'Set a new version of the evaluation criteria (PI; JSON or application/yaml)',
        description: 'Body: `{ criteria, reason? }`, or the criteria document on its own.',
        consumes: ['application/json', 'application/yaml'],
        params: ProblemParams,
        body: SetCriteriaBody,
        response: { 201: CriteriaVersion, ...errors },
      },
    },
    async (req, reply) => {
      const { criteria, reason } = req.body;
      return reply
        .code(201)
        .send(await service.setCriteria(actorOf(req), req.params.problemId, criteria, reason));
    },
  );

  app.get(
    '/problems/:problemId/criteria',
    {
      schema: {
        tags: ['problems'],
        summary: 'Every criteria version, oldest first',
        params: ProblemParams,
        response: { 200: z.array(CriteriaVersion), ...errors },
      },
    },
    async (req) => {
      const p = await service.getProblem(req.params.problemId);
      const r = await problemRedactor(app.gaplab, req.principal?.role, p, req.log);
      return r ? redactProblem(r, p).criteria : p.criteria;
    },
  );

  app.get(
    '/problems/:problemId/compare',
    {
      schema: {
        tags: ['problems'],
        summary:
          "The problem's campaigns side by side: best PGR and its progress over trials and time (from MLflow)",
        params: ProblemParams,
        response: { 200: Compare, ...errors },
      },
    },
    async (req) => {
      const { problemId } = req.params;
      const [recorded, problem] = await Promise.all([
        lineage.campaignsOf(problemId),
        service.getProblem(problemId).catch((err: unknown) => {
          if (err instanceof ServiceError && err.code === 'NotFound') return null;
          throw err;
        }),
      ]);
      if (!recorded && !problem)
        throw new ServiceError('NotFound', `problem ${problemId} not found`);
      const refs = new Map((problem?.campaigns ?? []).map((c) => [c.campaignId, c]));
      const role = req.principal?.role;
      const resolver = visibilityResolver(service);
      const campaigns = await Promise.all(
        (recorded ?? []).map(async (r) => {
          const redactor =
            role === 'pi'
              ? null
              : await redactorFor(
                  app.gaplab,
                  role,
                  await resolver.ofRecords(r),
                  problemId,
                  req.log,
                );
          const ref = refs.get(r.location.campaignId);
          const tags = r.parent.data.tags;
          const { best: recorded, bestMean, series, trials } = compareSeries(r);
          // A campaign that runs names its best in its status (ahead of its records); one that
          // ended, in its report, which also holds its verdict.
          const [status, report] = await Promise.all([
            r.finished ? null : service.status(r.location.campaignId).catch(() => null),
            r.finished ? lineage.report(r.location.campaignId).catch(() => null) : null,
          ]);
          const live = status ? bestOfStatus(status.best) : undefined;
          const best =
            live === undefined
              ? recorded
              : live && {
                  trialId: live.trialId,
                  mean: live.pgr.mean,
                  ciLow: live.pgr.ciLow,
                  ciHigh: live.pgr.ciHigh,
                };
          const version = Number(tags[TAG.criteriaVersion]);
          const entry = {
            campaignId: r.location.campaignId,
            strategy: tags[TAG.strategy] ?? ref?.strategy ?? '',
            label: ref?.label ?? null,
            startedBy: ref
              ? `${ref.startedBy.name} (${ref.startedBy.role})`
              : (tags[TAG.startedBy] ?? null),
            criteriaVersion:
              Number.isFinite(version) && version > 0 ? version : (ref?.criteriaVersion ?? null),
            status: r.parent.info.status,
            stopReason: tags[TAG.stopReason] ?? null,
            startedAt: r.parent.info.startTime
              ? new Date(r.parent.info.startTime).toISOString()
              : null,
            trials,
            best,
            bestMean,
            verdict: report?.verdict ?? null,
            series,
          };
          return redactor ? redactor.redact(entry) : entry;
        }),
      );
      return { problemId, campaigns };
    },
  );
};
