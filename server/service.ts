/**
 * The service layer: what the HTTP API, the CLI and the demo do to problems and campaigns,
 * over the Temporal client. Input is parsed here (zod), roles are checked here, and Temporal
 * errors come out as ServiceErrors with an HTTP status.
 */
import { randomBytes } from 'node:crypto';
import {
  ServiceError as TemporalRpcError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { formatPath } from '../domain/errors.js';
import type {
  Actor,
  Budgets,
  CriteriaVersion,
  HypothesisProposalInput,
} from '../domain/schemas.js';
import { Budgets as BudgetsSchema, ProblemSpec } from '../domain/schemas.js';
import { checkSpecConfigs } from '../domain/space.js';
import { WebhookSettings, webhookUrlProblem, type CampaignWebhook } from '../domain/notify.js';
import { StrategyConfig, type StrategyConfigInput } from '../domain/strategy.js';
import { specParamIssues } from '../experiments/params.js';
import type { ExperimentRegistry } from '../experiments/registry.js';
import {
  addNoteUpdate,
  auditQuery,
  campaignWorkflow,
  changeBudgetsUpdate,
  clearFlagUpdate,
  confirmFlagUpdate,
  decideUpdate,
  injectHypothesisUpdate,
  leaderboardQuery,
  notebookQuery,
  pauseUpdate,
  pendingQuery,
  reportQuery,
  resumeUpdate,
  statusQuery,
  stopUpdate,
  trialsQuery,
  type TrialsPageOptions,
} from '../workflows/campaign/campaign.js';
import {
  problemQuery,
  problemWorkflow,
  problemWorkflowId,
  registerCampaignUpdate,
  setCriteriaUpdate,
  type CampaignRef,
  type ProblemState,
} from '../workflows/problem.js';
import type {
  CampaignInput,
  CampaignReport,
  CampaignStatus,
  CampaignTiming,
  ExperimentInfo,
  TrialSummary,
} from '../workflows/types.js';
import { fromTemporal, ServiceError } from './errors.js';
import { ACTION_WORDS, PERMISSIONS, refusalText } from '../api/permissions.js';
import { isCodeExperiment } from '../experiments/code.js';

/** How long the problem list waits for one problem's state (a problem no worker answers for). */
const PROBLEM_QUERY_MS = 5_000;
/** A problem the list could not read is tried again after this long (or once it changes). */
const PROBLEM_RETRY_MS = 60_000;

export type Role = Actor['role'];

export interface ServiceOptions {
  client: Client;
  registry: ExperimentRegistry;
  /** Main task queue of the workers. @default 'gaplab' */
  taskQueue?: string;
  /** Record campaigns in MLflow. @default true */
  mlflow?: boolean;
  /** Campaigns carry the Gaplab* search attributes (registered on the server). @default false */
  indexed?: boolean;
  timing?: CampaignTiming;
  /** Campaign webhooks may use plain http to any host, not only to this machine. @default false */
  webhookAllowHttp?: boolean;
}

export interface StartCampaignRequest {
  problemId: string;
  /** @default the latest version */
  criteriaVersion?: number;
  strategy: StrategyConfigInput;
  seed?: number;
  label?: string;
  campaignId?: string;
  /** Start paused: nothing is proposed or started until a resume. @default false */
  paused?: boolean;
  /** The campaign's webhook (domain/notify.ts): told when it needs a person and when it ends. */
  notify?: WebhookSettings;
  /** The web UI's address, for the campaign page's link in webhook messages. */
  uiUrl?: string;
}

export interface CampaignListItem {
  campaignId: string;
  problemId: string;
  strategy: string;
  criteriaVersion: number;
  startedAt: string;
  startedBy: Actor;
  label?: string;
  status: string;
}

function issuesMessage(issues: { path: PropertyKey[]; message: string }[], prefix: string): string {
  return issues.map((i) => `${prefix}${formatPath(i.path)}: ${i.message}`).join('; ');
}

export function requireRole(actor: Actor, roles: readonly Role[], what: string): void {
  if (!roles.includes(actor.role))
    throw new ServiceError('Forbidden', refusalText(roles, what, actor));
}

export class GaplabService {
  readonly client: Client;
  readonly registry: ExperimentRegistry;
  private readonly taskQueue: string;
  private readonly options: ServiceOptions;

  constructor(options: ServiceOptions) {
    this.client = options.client;
    this.registry = options.registry;
    this.taskQueue = options.taskQueue ?? 'gaplab';
    this.options = options;
  }

  /** Whether the Temporal frontend answers within `timeoutMs`. */
  async healthy(timeoutMs = 2000): Promise<boolean> {
    try {
      await this.client.withDeadline(Date.now() + timeoutMs, () =>
        this.client.workflowService.getSystemInfo({}),
      );
      return true;
    } catch {
      return false;
    }
  }

  experimentInfo(name: string, taskQueue?: string): ExperimentInfo {
    if (!this.registry.has(name)) {
      throw new ServiceError(
        'InvalidInput',
        `spec.experiment: unknown experiment "${name}" (registered: ${this.registry.names().join(', ')})`,
      );
    }
    const e = this.registry.get(name);
    return {
      name: e.name,
      description: e.description,
      metrics: e.metrics.map((m) => ({ name: m.name, description: m.description })),
      taskQueue: taskQueue ?? e.taskQueue ?? this.taskQueue,
      timeoutSeconds: e.defaultTimeoutSeconds,
      ...(isCodeExperiment(e) ? { code: true } : {}),
    };
  }

  // ---- problems -----------------------------------------------------------------------------

  async submitProblem(actor: Actor, input: unknown): Promise<ProblemState> {
    requireRole(actor, PERMISSIONS.submitProblem, ACTION_WORDS.submitProblem);
    const parsed = ProblemSpec.safeParse(input);
    if (!parsed.success)
      throw new ServiceError('InvalidInput', issuesMessage(parsed.error.issues, 'spec.'));
    const spec = parsed.data;
    const experiment = this.experimentInfo(spec.experiment, spec.taskQueue);
    const issues = [
      ...checkSpecConfigs(spec),
      ...specParamIssues(spec, this.registry.get(spec.experiment)),
    ];
    if (issues.length > 0) throw new ServiceError('InvalidInput', issuesMessage(issues, ''));
    try {
      await this.client.workflow.start(problemWorkflow, {
        workflowId: problemWorkflowId(spec.id),
        taskQueue: this.taskQueue,
        args: [{ spec, experiment, createdBy: actor, createdAt: new Date().toISOString() }],
      });
    } catch (err) {
      throw fromTemporal(err, `problem ${spec.id}`);
    }
    this.knownProblems.add(spec.id);
    return this.getProblem(spec.id);
  }

  async getProblem(problemId: string): Promise<ProblemState> {
    try {
      return await this.client.workflow.getHandle(problemWorkflowId(problemId)).query(problemQuery);
    } catch (err) {
      throw fromTemporal(err, `problem ${problemId}`);
    }
  }

  /**
   * Problems this service started, kept so that a list right after a submit shows them:
   * Temporal's visibility store is eventually consistent, the problem entity is not.
   */
  private readonly knownProblems = new Set<string>();

  /**
   * Problem states as last read, with the run and history length of the problem workflow they
   * were read at: every change to a problem (criteria, a campaign registered) is an update, which
   * lengthens its history, so an unchanged length means an unchanged state. `state: null`: the
   * read failed (no worker answers the problem's queue); tried again after PROBLEM_RETRY_MS.
   */
  private readonly problemCache = new Map<
    string,
    { runId: string; historyLength: number; state: ProblemState | null; readAtMs: number }
  >();

  /**
   * A problem's state for the list, or null when it cannot be read: a describe (answered by the
   * Temporal server from the execution itself, no worker involved) says whether the state read
   * last is still current; only a changed problem is queried, within PROBLEM_QUERY_MS.
   */
  private async problemForList(problemId: string): Promise<ProblemState | null> {
    const handle = this.client.workflow.getHandle(problemWorkflowId(problemId));
    const d = await handle.describe().catch(() => null);
    if (!d) return null;
    const hit = this.problemCache.get(problemId);
    if (hit && hit.runId === d.runId && hit.historyLength === d.historyLength)
      if (hit.state || Date.now() - hit.readAtMs < PROBLEM_RETRY_MS) return hit.state;
    // Read after the describe: a change in between shows as a longer history next time.
    const state = await this.client
      .withDeadline(Date.now() + PROBLEM_QUERY_MS, () => handle.query(problemQuery))
      .catch(() => null);
    this.problemCache.set(problemId, {
      runId: d.runId,
      historyLength: d.historyLength,
      state,
      readAtMs: Date.now(),
    });
    return state;
  }

  /**
   * Every problem: one visibility list, plus the problems this service started (visibility is
   * eventually consistent; the problem entity is not), each queried only when it changed since
   * it was last read (`problemForList`), so the list costs no worker at any number of readers.
   */
  async listProblems(): Promise<ProblemState[]> {
    const ids = new Set<string>(this.knownProblems);
    for await (const wf of this.client.workflow.list({
      query: `WorkflowType = 'problemWorkflow' AND ExecutionStatus = 'Running'`,
    })) {
      ids.add(wf.workflowId.replace(/^problem:/, ''));
    }
    for (const id of this.problemCache.keys()) if (!ids.has(id)) this.problemCache.delete(id);
    const problems = await Promise.all([...ids].map((id) => this.problemForList(id)));
    return problems
      .filter((p): p is ProblemState => p !== null)
      .sort((a, b) => a.spec.id.localeCompare(b.spec.id));
  }

  async setCriteria(
    actor: Actor,
    problemId: string,
    criteria: unknown,
    reason?: string,
  ): Promise<CriteriaVersion> {
    requireRole(actor, PERMISSIONS.setCriteria, ACTION_WORDS.setCriteria);
    if (criteria === null || typeof criteria !== 'object')
      throw new ServiceError('InvalidInput', 'criteria: expected an object');
    await this.getProblem(problemId);
    try {
      return await this.client.workflow
        .getHandle(problemWorkflowId(problemId))
        .executeUpdate(setCriteriaUpdate, {
          args: [{ actor, criteria: criteria as never, ...(reason ? { reason } : {}) }],
        });
    } catch (err) {
      throw fromTemporal(err, `problem ${problemId}`);
    }
  }

  // ---- campaigns ----------------------------------------------------------------------------

  async startCampaign(actor: Actor, req: StartCampaignRequest): Promise<{ campaignId: string }> {
    requireRole(actor, PERMISSIONS.startCampaign, ACTION_WORDS.startCampaign);
    const notify = this.webhookSettings(actor, req.notify);
    const problem = await this.getProblem(req.problemId);
    if (problem.criteria.length === 0) {
      throw new ServiceError(
        'Conflict',
        `problem ${req.problemId} has no evaluation criteria yet: a PI must set them first`,
      );
    }
    const criteria =
      req.criteriaVersion === undefined
        ? problem.criteria.at(-1)!
        : problem.criteria.find((c) => c.version === req.criteriaVersion);
    if (!criteria)
      throw new ServiceError(
        'NotFound',
        `criteriaVersion: problem ${req.problemId} has no criteria version ${req.criteriaVersion}`,
      );
    const strategy = StrategyConfig.safeParse(req.strategy);
    if (!strategy.success)
      throw new ServiceError('InvalidInput', issuesMessage(strategy.error.issues, 'strategy.'));
    if (
      strategy.data.name === 'claude' &&
      !process.env.ANTHROPIC_API_KEY &&
      !process.env.ANTHROPIC_BASE_URL
    ) {
      throw new ServiceError(
        'InvalidInput',
        'strategy.name: the claude strategy needs ANTHROPIC_API_KEY on the server and workers',
      );
    }
    const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    const campaignId =
      req.campaignId ??
      `${req.problemId}-${strategy.data.name}-${stamp}-${randomBytes(2).toString('hex')}`;
    const seed = req.seed ?? randomBytes(3).readUIntBE(0, 3);
    const experiment = this.experimentInfo(problem.spec.experiment, problem.spec.taskQueue);
    const input: CampaignInput = {
      campaignId,
      problem: problem.spec,
      criteria,
      strategy: strategy.data,
      experiment,
      seed,
      startedBy: actor,
      mlflow: this.options.mlflow ?? true,
      indexed: this.options.indexed ?? false,
      ...(this.options.timing ? { timing: this.options.timing } : {}),
      ...(req.paused ? { startPaused: true } : {}),
      ...(notify
        ? {
            notify: {
              ...notify,
              ...(req.uiUrl
                ? {
                    campaignUrl: `${req.uiUrl.replace(/\/+$/, '')}/campaigns/${encodeURIComponent(campaignId)}`,
                  }
                : {}),
            } satisfies CampaignWebhook,
          }
        : {}),
    };
    const ref: CampaignRef = {
      campaignId,
      strategy: strategy.data.name,
      criteriaVersion: criteria.version,
      startedBy: actor,
      startedAt: new Date().toISOString(),
      ...(req.label ? { label: req.label } : {}),
    };
    try {
      await this.client.workflow
        .getHandle(problemWorkflowId(req.problemId))
        .executeUpdate(registerCampaignUpdate, { args: [{ actor, campaign: ref }] });
      await this.client.workflow.start(campaignWorkflow, {
        workflowId: campaignId,
        taskQueue: this.taskQueue,
        args: [input],
        memo: {
          problemId: req.problemId,
          strategy: strategy.data.name,
          criteriaVersion: criteria.version,
          startedBy: actor,
          label: req.label ?? '',
        },
        ...(this.options.indexed
          ? {
              searchAttributes: {
                GaplabProblem: [req.problemId],
                GaplabStrategy: [strategy.data.name],
                GaplabStatus: ['starting'],
              },
            }
          : {}),
      });
    } catch (err) {
      throw fromTemporal(err, `campaign ${campaignId}`);
    }
    return { campaignId };
  }

  /**
   * A start request's webhook settings, checked: the shape, the URL's http rule, and that only a
   * PI marks a webhook `piOnly` (its messages then carry what only PIs see while the campaign runs).
   * @throws ServiceError InvalidInput naming the field, Forbidden for piOnly set by another role
   */
  private webhookSettings(actor: Actor, raw: unknown): WebhookSettings | undefined {
    if (raw === undefined) return undefined;
    const parsed = WebhookSettings.safeParse(raw);
    if (!parsed.success)
      throw new ServiceError(
        'InvalidInput',
        parsed.error.issues
          .map((i) => `notify${i.path.length ? `.${formatPath(i.path)}` : ''}: ${i.message}`)
          .join('; '),
      );
    const problem = webhookUrlProblem(parsed.data.url, this.options.webhookAllowHttp ?? false);
    if (problem) throw new ServiceError('InvalidInput', `notify.url: ${problem}`);
    if (parsed.data.piOnly && actor.role !== 'pi')
      throw new ServiceError(
        'Forbidden',
        `notify.piOnly: ${refusalText(['pi'], 'send what only PIs see to a webhook', actor)}`,
      );
    return parsed.data;
  }

  /**
   * Campaigns, newest first. The problem entities are the source (strongly consistent: a
   * campaign is listed as soon as its start returns); each one's status comes from describe,
   * which reads the execution itself rather than the eventually consistent visibility store.
   */
  async listCampaigns(
    filter: { problemId?: string; strategy?: string } = {},
  ): Promise<CampaignListItem[]> {
    const problems = filter.problemId
      ? [await this.getProblem(filter.problemId)]
      : await this.listProblems();
    const refs = problems.flatMap((p) =>
      p.campaigns
        .filter((c) => !filter.strategy || c.strategy === filter.strategy)
        .map((c) => ({ problemId: p.spec.id, ref: c })),
    );
    const items = await Promise.all(
      refs.map(async ({ problemId, ref }): Promise<CampaignListItem | null> => {
        const status = await this.client.workflow
          .getHandle(ref.campaignId)
          .describe()
          .then((d) => d.status.name as string)
          // Registered but not started (the start failed after registration), or deleted by retention.
          .catch((err: unknown) => (err instanceof WorkflowNotFoundError ? null : 'UNKNOWN'));
        if (status === null) return null;
        return {
          campaignId: ref.campaignId,
          problemId,
          strategy: ref.strategy,
          criteriaVersion: ref.criteriaVersion,
          startedAt: ref.startedAt,
          startedBy: ref.startedBy,
          ...(ref.label ? { label: ref.label } : {}),
          status,
        };
      }),
    );
    return items
      .filter((i): i is CampaignListItem => i !== null)
      .sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  }

  campaign(campaignId: string): WorkflowHandle<typeof campaignWorkflow> {
    return this.client.workflow.getHandle<typeof campaignWorkflow>(campaignId);
  }

  /**
   * Whether the campaign's workflow is still running, without a query (a query on a closed
   * workflow makes a worker replay its history).
   */
  async isRunning(campaignId: string, timeoutMs = 3000): Promise<boolean> {
    try {
      const d = await this.client.withDeadline(Date.now() + timeoutMs, () =>
        this.campaign(campaignId).describe(),
      );
      return d.status.name === 'RUNNING';
    } catch (err) {
      throw fromTemporal(err, `campaign ${campaignId}`);
    }
  }

  /**
   * A query, tried up to three times when Temporal answers DEADLINE_EXCEEDED or UNAVAILABLE: a
   * query on a closed campaign makes a worker replay its history, which a busy worker may not
   * finish within the call's deadline.
   */
  private async query<T>(
    campaignId: string,
    fn: (h: WorkflowHandle<typeof campaignWorkflow>) => Promise<T>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(this.campaign(campaignId));
      } catch (err) {
        const code =
          err instanceof TemporalRpcError
            ? (err.cause as { code?: number } | undefined)?.code
            : undefined;
        if ((code === 4 || code === 14) && attempt < 3) {
          await new Promise((r) => setTimeout(r, 500 * attempt));
          continue;
        }
        throw fromTemporal(err, `campaign ${campaignId}`);
      }
    }
  }

  status(campaignId: string): Promise<CampaignStatus> {
    return this.query(campaignId, (h) => h.query(statusQuery));
  }
  trials(campaignId: string, opts: TrialsPageOptions = {}) {
    return this.query(campaignId, (h) => h.query(trialsQuery, opts));
  }
  async trial(
    campaignId: string,
    trialId: string,
  ): Promise<{ trial: TrialSummary; lineage: TrialSummary[] }> {
    const { trials } = await this.query(campaignId, (h) =>
      h.query(trialsQuery, { limit: 1_000_000 }),
    );
    const byId = new Map(trials.map((t) => [t.id, t]));
    const trial = byId.get(trialId);
    if (!trial)
      throw new ServiceError('NotFound', `trial ${trialId} not found in campaign ${campaignId}`);
    const lineage: TrialSummary[] = [];
    for (
      let cur: TrialSummary | undefined = trial;
      cur && lineage.length < 10_000;
      cur = cur.parentTrialId ? byId.get(cur.parentTrialId) : undefined
    ) {
      lineage.unshift(cur);
    }
    return { trial, lineage };
  }
  leaderboard(campaignId: string, limit = 10) {
    return this.query(campaignId, (h) => h.query(leaderboardQuery, { limit }));
  }
  pending(campaignId: string) {
    return this.query(campaignId, (h) => h.query(pendingQuery));
  }
  audit(campaignId: string) {
    return this.query(campaignId, (h) => h.query(auditQuery));
  }
  notebook(campaignId: string) {
    return this.query(campaignId, (h) => h.query(notebookQuery));
  }
  async report(campaignId: string): Promise<CampaignReport | null> {
    return this.query(campaignId, (h) => h.query(reportQuery));
  }
  /** Waits for the campaign to finish and returns its report. */
  result(campaignId: string): Promise<CampaignReport> {
    return this.query(campaignId, (h) => h.result());
  }

  // ---- control ------------------------------------------------------------------------------

  private async update<R>(
    campaignId: string,
    fn: (h: WorkflowHandle<typeof campaignWorkflow>) => Promise<R>,
  ): Promise<R> {
    // 404 for unknown campaigns and 409 for closed ones before anything else. describe reads the
    // execution itself: no query, so a closed campaign costs no replay on a busy worker.
    const handle = this.campaign(campaignId);
    const described = await handle.describe().catch((err: unknown) => {
      throw fromTemporal(err, `campaign ${campaignId}`);
    });
    if (described.status.name !== 'RUNNING')
      throw new ServiceError('Conflict', `campaign ${campaignId} has finished`);
    try {
      return await fn(handle);
    } catch (err) {
      // The campaign exists (its status answered): "not found" from an update means it has closed.
      if (err instanceof WorkflowNotFoundError)
        throw new ServiceError('Conflict', `campaign ${campaignId} has finished`);
      throw fromTemporal(err, `campaign ${campaignId}`);
    }
  }

  async pause(actor: Actor, campaignId: string, reason?: string) {
    requireRole(actor, PERMISSIONS.pause, ACTION_WORDS.pause);
    return this.update(campaignId, (h) =>
      h.executeUpdate(pauseUpdate, { args: [{ actor, ...(reason ? { reason } : {}) }] }),
    );
  }
  async resume(actor: Actor, campaignId: string, reason?: string) {
    requireRole(actor, PERMISSIONS.resume, ACTION_WORDS.resume);
    return this.update(campaignId, (h) =>
      h.executeUpdate(resumeUpdate, { args: [{ actor, ...(reason ? { reason } : {}) }] }),
    );
  }
  async stop(
    actor: Actor,
    campaignId: string,
    opts: { reason?: string; cancelRunning?: boolean; verify?: boolean } = {},
  ) {
    requireRole(actor, PERMISSIONS.stop, ACTION_WORDS.stop);
    return this.update(campaignId, (h) =>
      h.executeUpdate(stopUpdate, { args: [{ actor, ...opts }] }),
    );
  }
  async changeBudgets(
    actor: Actor,
    campaignId: string,
    budgets: unknown,
    reason?: string,
  ): Promise<Budgets> {
    requireRole(actor, PERMISSIONS.changeBudgets, ACTION_WORDS.changeBudgets);
    const parsed = BudgetsSchema.partial().strict().safeParse(budgets);
    if (!parsed.success)
      throw new ServiceError('InvalidInput', issuesMessage(parsed.error.issues, 'budgets.'));
    // Only the budgets given change: partial() still fills defaults (concurrency) for absent keys.
    const given = new Set(Object.keys(budgets as object));
    const change = Object.fromEntries(
      Object.entries(parsed.data).filter(([k, v]) => v !== undefined && given.has(k)),
    ) as Partial<Budgets>;
    return this.update(campaignId, (h) =>
      h.executeUpdate(changeBudgetsUpdate, {
        args: [{ actor, budgets: change, ...(reason ? { reason } : {}) }],
      }),
    );
  }
  async decide(
    actor: Actor,
    campaignId: string,
    hypothesisId: string,
    decision: 'approve' | 'reject',
    reason?: string,
  ) {
    requireRole(actor, PERMISSIONS.decide, ACTION_WORDS.decide);
    return this.update(campaignId, (h) =>
      h.executeUpdate(decideUpdate, {
        args: [{ actor, hypothesisId, decision, ...(reason ? { reason } : {}) }],
      }),
    );
  }
  async inject(actor: Actor, campaignId: string, proposal: HypothesisProposalInput) {
    requireRole(actor, PERMISSIONS.inject, ACTION_WORDS.inject);
    return this.update(campaignId, (h) =>
      h.executeUpdate(injectHypothesisUpdate, { args: [{ actor, proposal }] }),
    );
  }
  async addNote(actor: Actor, campaignId: string, text: string, trialId?: string) {
    requireRole(actor, PERMISSIONS.addNote, ACTION_WORDS.addNote);
    return this.update(campaignId, (h) =>
      h.executeUpdate(addNoteUpdate, { args: [{ actor, text, ...(trialId ? { trialId } : {}) }] }),
    );
  }
  async clearFlag(actor: Actor, campaignId: string, trialId: string, flag: string, reason: string) {
    requireRole(actor, PERMISSIONS.clearFlag, ACTION_WORDS.clearFlag);
    return this.update(campaignId, (h) =>
      h.executeUpdate(clearFlagUpdate, { args: [{ actor, trialId, flag, reason }] }),
    );
  }
  /** Confirms a review flag: the trial is excluded for good. */
  async confirmFlag(
    actor: Actor,
    campaignId: string,
    trialId: string,
    flag: string,
    reason: string,
  ) {
    requireRole(actor, PERMISSIONS.confirmFlag, ACTION_WORDS.confirmFlag);
    return this.update(campaignId, (h) =>
      h.executeUpdate(confirmFlagUpdate, { args: [{ actor, trialId, flag, reason }] }),
    );
  }
}
