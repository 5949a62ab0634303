/** Campaigns: start, list, status, human control (pause, stop, budgets, approvals, injection, notes, flags) and reports. */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { renderReportMarkdown } from '../../domain/report.js';
import {
  AuditEntry,
  Budgets,
  BudgetsBody,
  CampaignIdParam,
  CampaignListItem,
  CampaignReport,
  CampaignsQuery,
  CampaignStatus,
  ClearFlagBody,
  ConfirmFlagBody,
  DecideBody,
  ErrorBody,
  FlagKind,
  InjectBody,
  InjectResult,
  Note,
  NoteBody,
  Ok,
  PendingApproval,
  ReasonBody,
  ReportQuery,
  StartCampaignBody,
  StartCampaignResult,
  StopBody,
  TrialIdParam,
  TrialSummary,
} from '../../api/schemas.js';
import { actorOf } from '../context.js';
import { ServiceError } from '../errors.js';
import { campaignRedactor, problemRedactor } from '../hidden-values.js';
import { readReport, readStatus } from '../reader.js';

const CampaignParams = z.object({ campaignId: CampaignIdParam });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const ok = { ok: true as const };

export const campaignRoutes: FastifyPluginAsyncZod = async (app) => {
  const { service } = app.gaplab;

  /** What a read returns, without the hidden values the caller may not see yet. */
  const redacted = async <T>(req: FastifyRequest, campaignId: string, read: Promise<T>) => {
    const [value, redactor] = await Promise.all([
      read,
      campaignRedactor(app.gaplab, req.principal?.role, campaignId),
    ]);
    return redactor ? redactor.redact(value) : value;
  };

  app.post(
    '/campaigns',
    {
      config: { action: 'startCampaign' },
      schema: {
        tags: ['campaigns'],
        summary: 'Start a campaign on a problem with a strategy',
        description:
          'Uses the latest criteria version unless `criteriaVersion` is given. With `paused`, the references are measured but nothing is proposed or started until a resume, so people can queue their ideas first. With `notify`, a webhook (Slack incoming-webhook format) is told when the campaign needs a person and when it ends: https, or http to this machine unless the server allows http (GAPLAB_WEBHOOK_ALLOW_HTTP); `piOnly` (PIs only) lets its messages carry what only PIs see while the campaign runs.',
        body: StartCampaignBody,
        response: { 201: StartCampaignResult, ...errors },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const res = await service.startCampaign(actorOf(req), {
        problemId: b.problemId,
        strategy: b.strategy,
        ...(b.criteriaVersion !== undefined ? { criteriaVersion: b.criteriaVersion } : {}),
        ...(b.seed !== undefined ? { seed: b.seed } : {}),
        ...(b.label !== undefined ? { label: b.label } : {}),
        ...(b.paused ? { paused: true } : {}),
        ...(b.notify
          ? {
              notify: b.notify,
              uiUrl: app.gaplab.config.publicUrl ?? `${req.protocol}://${req.host}`,
            }
          : {}),
      });
      return reply.code(201).send(res);
    },
  );

  app.get(
    '/campaigns',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Campaigns, newest first',
        querystring: CampaignsQuery,
        response: { 200: z.array(CampaignListItem), ...errors },
      },
    },
    async (req) => {
      const items = await service.listCampaigns({
        ...(req.query.problemId ? { problemId: req.query.problemId } : {}),
        ...(req.query.strategy ? { strategy: req.query.strategy } : {}),
      });
      // Labels are free text: while a problem has a running campaign, they lose its hidden values.
      const role = req.principal?.role;
      if (role === 'pi') return items;
      const live = new Set(items.filter((i) => i.status === 'RUNNING').map((i) => i.problemId));
      const redactors = new Map(
        await Promise.all(
          [...live].map(
            async (id) =>
              [
                id,
                await problemRedactor(app.gaplab, role, await service.getProblem(id), req.log),
              ] as const,
          ),
        ),
      );
      return items.map((i) => {
        const r = redactors.get(i.problemId);
        return r && i.label !== undefined ? { ...i, label: r.text(i.label) } : i;
      });
    },
  );

  app.get(
    '/campaigns/:campaignId',
    {
      schema: {
        tags: ['campaigns'],
        summary:
          'Live status: phase, budgets used and left, best trial (a closed campaign: from its record)',
        params: CampaignParams,
        response: { 200: CampaignStatus, ...errors },
      },
    },
    async (req) => {
      const status = await readStatus(app.gaplab, req.params.campaignId);
      const redactor = await campaignRedactor(
        app.gaplab,
        req.principal?.role,
        req.params.campaignId,
        status,
      );
      return redactor ? redactor.redact(status) : status;
    },
  );

  app.post(
    '/campaigns/:campaignId/pause',
    {
      config: { action: 'pause' },
      schema: {
        tags: ['control'],
        summary: 'Pause: no new trials start; running ones finish',
        params: CampaignParams,
        body: ReasonBody.nullish(),
        response: { 200: Ok, ...errors },
      },
    },
    async (req) => {
      await service.pause(actorOf(req), req.params.campaignId, req.body?.reason);
      return ok;
    },
  );

  app.post(
    '/campaigns/:campaignId/resume',
    {
      config: { action: 'resume' },
      schema: {
        tags: ['control'],
        summary: 'Resume a paused campaign',
        params: CampaignParams,
        body: ReasonBody.nullish(),
        response: { 200: Ok, ...errors },
      },
    },
    async (req) => {
      await service.resume(actorOf(req), req.params.campaignId, req.body?.reason);
      return ok;
    },
  );

  app.post(
    '/campaigns/:campaignId/stop',
    {
      config: { action: 'stop' },
      schema: {
        tags: ['control'],
        summary:
          'Stop the campaign (PI) in any phase; what runs (reference measurement, trials, the verification in progress) is cancelled unless cancelRunning is false, then it finishes and counts. The final verification of the best is skipped unless verify is true.',
        params: CampaignParams,
        body: StopBody.nullish(),
        response: { 200: Ok, ...errors },
      },
    },
    async (req) => {
      const b = req.body ?? {};
      await service.stop(actorOf(req), req.params.campaignId, {
        ...(b.reason !== undefined ? { reason: b.reason } : {}),
        ...(b.cancelRunning !== undefined ? { cancelRunning: b.cancelRunning } : {}),
        ...(b.verify ? { verify: true } : {}),
      });
      return ok;
    },
  );

  app.patch(
    '/campaigns/:campaignId/budgets',
    {
      config: { action: 'changeBudgets' },
      schema: {
        tags: ['control'],
        summary: 'Change budgets (PI); only the given ones change',
        params: CampaignParams,
        body: BudgetsBody,
        response: { 200: Budgets, ...errors },
      },
    },
    async (req) =>
      service.changeBudgets(actorOf(req), req.params.campaignId, req.body.budgets, req.body.reason),
  );

  app.get(
    '/campaigns/:campaignId/approvals',
    {
      schema: {
        tags: ['control'],
        summary: 'Hypotheses waiting for a PI decision',
        params: CampaignParams,
        response: { 200: z.array(PendingApproval), ...errors },
      },
    },
    async (req) => redacted(req, req.params.campaignId, service.pending(req.params.campaignId)),
  );

  app.post(
    '/campaigns/:campaignId/approvals/:hypothesisId',
    {
      config: { action: 'decide' },
      schema: {
        tags: ['control'],
        summary: 'Approve or reject a pending hypothesis (PI); 409 when already decided',
        params: CampaignParams.extend({ hypothesisId: TrialIdParam }),
        body: DecideBody,
        response: { 200: Ok, ...errors },
      },
    },
    async (req) => {
      await service.decide(
        actorOf(req),
        req.params.campaignId,
        req.params.hypothesisId,
        req.body.decision,
        req.body.reason,
      );
      return ok;
    },
  );

  app.post(
    '/campaigns/:campaignId/hypotheses',
    {
      config: { action: 'inject' },
      schema: {
        tags: ['control'],
        summary: 'Inject a hypothesis of your own (always allowed; runs next)',
        params: CampaignParams,
        body: InjectBody,
        response: { 201: InjectResult, ...errors },
      },
    },
    async (req, reply) =>
      reply.code(201).send(await service.inject(actorOf(req), req.params.campaignId, req.body)),
  );

  app.get(
    '/campaigns/:campaignId/notes',
    {
      schema: {
        tags: ['campaigns'],
        summary: "The campaign's shared notebook",
        params: CampaignParams,
        response: { 200: z.array(Note), ...errors },
      },
    },
    async (req) => redacted(req, req.params.campaignId, service.notebook(req.params.campaignId)),
  );

  app.post(
    '/campaigns/:campaignId/notes',
    {
      config: { action: 'addNote' },
      schema: {
        tags: ['campaigns'],
        summary: 'Add a note (optionally about a trial)',
        params: CampaignParams,
        body: NoteBody,
        response: { 201: Ok, ...errors },
      },
    },
    async (req, reply) => {
      await service.addNote(actorOf(req), req.params.campaignId, req.body.text, req.body.trialId);
      return reply.code(201).send(ok);
    },
  );

  app.post(
    '/campaigns/:campaignId/trials/:trialId/flags/:flag/clear',
    {
      config: { action: 'clearFlag' },
      schema: {
        tags: ['control'],
        summary: 'Clear a review flag after checking the trial (PI)',
        params: CampaignParams.extend({ trialId: TrialIdParam, flag: FlagKind }),
        body: ClearFlagBody,
        response: { 200: Ok, ...errors },
      },
    },
    async (req) => {
      await service.clearFlag(
        actorOf(req),
        req.params.campaignId,
        req.params.trialId,
        req.params.flag,
        req.body.reason,
      );
      return ok;
    },
  );

  app.post(
    '/campaigns/:campaignId/trials/:trialId/flags/:flag/confirm',
    {
      config: { action: 'confirmFlag' },
      schema: {
        tags: ['control'],
        summary: 'Confirm a review flag: the trial is excluded for good (PI)',
        params: CampaignParams.extend({ trialId: TrialIdParam, flag: FlagKind }),
        body: ConfirmFlagBody,
        response: { 200: Ok, ...errors },
      },
    },
    async (req) => {
      await service.confirmFlag(
        actorOf(req),
        req.params.campaignId,
        req.params.trialId,
        req.params.flag,
        req.body.reason,
      );
      return ok;
    },
  );

  app.get(
    '/campaigns/:campaignId/leaderboard',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Best search trials by PGR lower bound',
        params: CampaignParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(10) }),
        response: { 200: z.array(TrialSummary), ...errors },
      },
    },
    async (req) =>
      redacted(
        req,
        req.params.campaignId,
        service.leaderboard(req.params.campaignId, req.query.limit),
      ),
  );

  app.get(
    '/campaigns/:campaignId/audit',
    {
      schema: {
        tags: ['campaigns'],
        summary: 'Who did what, when',
        params: CampaignParams,
        response: { 200: z.array(AuditEntry), ...errors },
      },
    },
    async (req) => redacted(req, req.params.campaignId, service.audit(req.params.campaignId)),
  );

  app.get(
    '/campaigns/:campaignId/report',
    {
      schema: {
        tags: ['campaigns'],
        summary:
          'Final report (JSON, or markdown with ?format=markdown); 409 while the campaign runs',
        params: CampaignParams,
        querystring: ReportQuery,
        response: {
          200: {
            description: 'The report',
            content: {
              'application/json': { schema: CampaignReport },
              'text/markdown': { schema: z.string() },
            },
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      const { campaignId } = req.params;
      const read = await readReport(app.gaplab, campaignId);
      const closed = read.closed;
      let report = read.report;
      if (!report)
        throw new ServiceError(
          'Conflict',
          `campaign ${campaignId} has not finished: its report is written when it ends`,
        );
      // A report is written when the campaign ends; should one be read before its workflow has
      // closed, it is treated as the running campaign's.
      if (!closed) {
        const redactor = await campaignRedactor(app.gaplab, req.principal?.role, campaignId).catch(
          (err: unknown) => {
            if (err instanceof ServiceError && err.code === 'NotFound') return null;
            throw err;
          },
        );
        if (redactor) report = redactor.redact(report);
      }
      if (req.query.format === 'markdown')
        return reply.type('text/markdown; charset=utf-8').send(renderReportMarkdown(report));
      return reply.type('application/json; charset=utf-8').send(report);
    },
  );
};
