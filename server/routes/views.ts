/**
 * The analysis views over a campaign's recorded trials, read through reader.ts like every other
 * trial route and redacted for the caller before anything is computed from them:
 *   - `GET /campaigns/:id/table`: the trial table, sorted and filtered, as JSON or CSV;
 *   - `GET /campaigns/:id/compare-trials?ids=a,b`: trials side by side (parameters, metrics, each
 *     seed's metrics, and for code trials the diff between their sources);
 *   - `GET /campaigns/:id/importance`: parameter importance of PGR by Optuna's evaluators, computed
 *     by the Python service (python/optuna_service.py) the Optuna strategy uses.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ErrorBody, type TrialRecord } from '../../api/schemas.js';
import {
  CompareTrialsQuery,
  Importance,
  ImportanceQuery,
  TrialComparison,
  TrialTable,
  TrialTableQuery,
  ViewsParams,
  type TableCell,
} from '../../api/views.js';
import {
  OptunaService,
  OptunaServiceError,
  type ImportanceReply,
  type OptunaHistoryEntry,
} from '../../stack/optuna-service.js';
import { diffSnapshots } from '../../domain/code.js';
import type { Param } from '../../domain/schemas.js';
import type { AppContext } from '../context.js';
import { ServiceError } from '../errors.js';
import type { CampaignSource } from '../campaign-source.js';
import { openCampaign } from '../reader.js';
import { campaignSources, snapshotOf } from '../snapshots.js';
import { compareRows, filterRows, parseFilter, sortRows, toCsv, trialTable } from '../views.js';
import { redactorOf } from './trials.js';

const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 503: ErrorBody };

/** Every trial of the campaign with its hidden-metric marks, in index order. */
const marked = (s: CampaignSource): TrialRecord[] => s.records.map((t) => s.trial(t.id) ?? t);

/**
 * The history Optuna's evaluators read: search trials with their PGR (higher is better, the
 * same scale whatever the objective's direction); failed ones as failures, pruned ones as pruned,
 * cancelled ones left out.
 */
export function importanceHistory(records: readonly TrialRecord[]): OptunaHistoryEntry[] {
  const out: OptunaHistoryEntry[] = [];
  for (const t of records) {
    if (t.kind !== 'search' || t.status === 'cancelled' || t.status === 'running') continue;
    const value = t.pgr && Number.isFinite(t.pgr.mean) ? t.pgr.mean : null;
    const ok = t.status === 'succeeded' && value !== null;
    out.push({
      id: t.id,
      params: t.params,
      value: ok ? value : null,
      // A trial a cascade stage stopped is Optuna's pruned, not a failure.
      state: ok ? 'complete' : t.status === 'pruned' ? 'pruned' : 'fail',
      feasible: t.feasible,
    });
  }
  return out;
}

/** Why an importance list is empty, in words; null when it is not. */
export function importanceNote(reply: ImportanceReply, space: readonly Param[]): string | null {
  if (Object.keys(reply.importances).length > 0) return null;
  if (reply.trials < 3)
    return `needs at least 3 succeeded search trials with a PGR; ${reply.trials} so far`;
  return space.length === 0
    ? 'the problem has no parameters'
    : 'no parameter varied across the succeeded trials';
}

export interface ViewRoutesOptions {
  /** The Python service importance is asked of (tests pass one; else one is started on first use). */
  optuna?: Pick<OptunaService, 'importance' | 'close'>;
}

export const viewRoutes: FastifyPluginAsyncZod<ViewRoutesOptions> = async (app, opts) => {
  const ctx: AppContext = app.gaplab;
  let optuna = opts.optuna;
  const ownService = !optuna;
  app.addHook('onClose', async () => {
    if (ownService) await optuna?.close();
  });
  /** Importance by campaign, evaluator and the trials it was computed from (a record never changes). */
  const importanceCache = new Map<string, Importance>();

  const redacted = async (req: Parameters<typeof redactorOf>[1], s: CampaignSource) => {
    const redactor = await redactorOf(ctx, req, s);
    const records = marked(s);
    return redactor ? redactor.redact(records) : records;
  };

  app.get(
    '/campaigns/:campaignId/table',
    {
      schema: {
        tags: ['trials'],
        summary:
          "The campaign's trials as a table: one column per field, parameter and metric; sorted, filtered, as JSON or CSV",
        params: ViewsParams,
        querystring: TrialTableQuery,
        response: { 200: TrialTable, ...errors },
      },
    },
    async (req, reply) => {
      const { campaignId } = req.params;
      const { sort, filter, q, offset, limit, format } = req.query;
      const source = await openCampaign(ctx, campaignId, req.log);
      const records = await redacted(req, source);
      const { columns, rows } = trialTable(records);
      const clauses = filter ? parseFilter(columns, filter) : [];
      const matched = sortRows(columns, filterRows(rows, clauses, q), sort);
      const page = matched.slice(offset, offset + limit);
      if (format === 'csv') {
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${campaignId}-trials.csv"`)
          .serializer((payload) => payload as string)
          .send(toCsv(columns, page) as never);
      }
      const withheld = [...new Set(records.flatMap((t) => t.withheld ?? []))].sort();
      return {
        campaignId,
        source: source.kind,
        total: rows.length,
        matched: matched.length,
        sort,
        columns,
        rows: page,
        ...(withheld.length ? { withheld } : {}),
      };
    },
  );

  app.get(
    '/campaigns/:campaignId/compare-trials',
    {
      schema: {
        tags: ['trials'],
        summary:
          'Selected trials side by side: parameters, metric means, per-seed metrics, code diffs',
        params: ViewsParams,
        querystring: CompareTrialsQuery,
        response: { 200: TrialComparison, ...errors },
      },
    },
    async (req) => {
      const { campaignId } = req.params;
      const { ids } = req.query;
      const source = await openCampaign(ctx, campaignId, req.log);
      const byId = byIdOf(source);
      const missing = ids.filter((id) => !byId.has(id));
      if (missing.length > 0)
        throw new ServiceError(
          'NotFound',
          `trial${missing.length > 1 ? 's' : ''} ${missing.join(', ')} not found in campaign ${campaignId}`,
        );
      const picked = ids.map((id) => source.trial(id) ?? byId.get(id)!);
      const seedsOf = await Promise.all(
        picked.map(async (t) =>
          t.mlflowRunId && t.status !== 'running'
            ? (await ctx.lineage.trialArtifact(t.mlflowRunId)).seeds
            : [],
        ),
      );
      const codeDiffs: Record<string, string> = {};
      if (picked.some((t) => t.sourceHash)) {
        const where = await campaignSources(ctx, source);
        const snap = (t: TrialRecord) =>
          t.sourceHash ? snapshotOf(ctx, where, t.sourceHash) : Promise.resolve(where.initial);
        const first = await snap(picked[0]!);
        if (first) {
          for (const t of picked.slice(1)) {
            const other = await snap(t);
            if (other) codeDiffs[t.id] = diffSnapshots(first, other);
          }
        }
      }
      const seeds = [...new Set(seedsOf.flat().map((x) => x.seed))].sort((a, b) => a - b);
      const body: TrialComparison = {
        campaignId,
        source: source.kind,
        trials: picked.map((trial, i) => ({ trial, seeds: seedsOf[i]! })),
        params: compareRows(picked.map((t) => t.params)),
        metrics: compareRows(picked.map((t) => t.metrics as Record<string, TableCell>)),
        seeds,
        codeDiffs,
      };
      const redactor = await redactorOf(ctx, req, source);
      if (!redactor) return body;
      // Rows are rebuilt from the redacted trials: a withheld metric leaves the table too.
      const trials = redactor.redact(body.trials);
      return {
        ...body,
        trials,
        params: compareRows(trials.map((t) => t.trial.params)),
        metrics: compareRows(trials.map((t) => t.trial.metrics as Record<string, TableCell>)),
        codeDiffs: redactor.redact(codeDiffs),
      };
    },
  );

  app.get(
    '/campaigns/:campaignId/importance',
    {
      schema: {
        tags: ['trials'],
        summary:
          "Parameter importance of PGR over the campaign's search trials (Optuna's fANOVA or PED-ANOVA)",
        params: ViewsParams,
        querystring: ImportanceQuery,
        response: { 200: Importance, ...errors },
      },
    },
    async (req) => {
      const { campaignId } = req.params;
      const { evaluator } = req.query;
      const source = await openCampaign(ctx, campaignId, req.log);
      // PGR and parameters are never hidden; the redaction still runs so that a view never
      // reads more than the caller could.
      const records = await redacted(req, source);
      const history = importanceHistory(records);
      // A trial's PGR may change after it finished (a flag reviewed, a reference re-measured).
      const key = `${campaignId}:${evaluator}:${history.map((h) => `${h.id}=${h.value}`).join(';')}`;
      const hit = importanceCache.get(key);
      if (hit) return hit;
      const problemId = source.problemId;
      const problem = problemId ? await ctx.service.getProblem(problemId) : null;
      if (!problem)
        throw new ServiceError(
          'NotFound',
          `the problem of campaign ${campaignId} is not known: its search space is needed`,
        );
      const space = problem.spec.space;
      optuna ??= new OptunaService({ onLog: (line) => req.log.debug({ line }, 'optuna service') });
      let reply: ImportanceReply;
      try {
        reply = await optuna.importance({ space, direction: 'maximize', history, evaluator });
      } catch (err) {
        if (err instanceof OptunaServiceError)
          throw new ServiceError(
            err.kind === 'bad_request' ? 'InvalidInput' : 'Unavailable',
            `parameter importance: ${err.message}`,
          );
        throw err;
      }
      const body: Importance = {
        campaignId,
        evaluator,
        target: 'pgr',
        trials: reply.trials,
        importances: Object.entries(reply.importances)
          .map(([param, importance]) => ({ param, importance }))
          .sort((a, b) => b.importance - a.importance || a.param.localeCompare(b.param)),
        note: importanceNote(reply, space),
        ms: reply.ms,
      };
      if (importanceCache.size > 256) importanceCache.clear();
      importanceCache.set(key, body);
      return body;
    },
  );
};

function byIdOf(source: CampaignSource): ReadonlyMap<string, TrialRecord> {
  return new Map(source.records.map((t) => [t.id, t]));
}
