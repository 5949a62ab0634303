/**
 * An in-memory fake of the service layer for the API's unit tests (`app.inject`): enough behaviour
 * to exercise routing, auth, validation and error mapping without Temporal.
 *
 * Where the fake answers with a campaign rule, it calls the real one: roles from api/permissions,
 * trust from the flags (domain trustState/openFlags), the best trial and the leaderboard from
 * domain/scoring, budgets through the Budgets schema with what is left and the budget stop reason
 * from domain/budget, injected ideas through the HypothesisProposal schema and applyChanges, and
 * a problem's baseline and configurations through checkSpecConfigs, criteria through the problem
 * workflow's validateCriteria.
 */
import type { Actor, CriteriaVersion, HypothesisProposalInput } from '../../domain/schemas.js';
import {
  Budgets,
  EvaluationCriteria,
  HypothesisProposal,
  ProblemSpec as ProblemSpecSchema,
} from '../../domain/schemas.js';
import { exhausted, remaining, type BudgetLedger } from '../../domain/budget.js';
import { bestTrial, rankTrials } from '../../domain/scoring.js';
import { applyChanges, checkSpecConfigs } from '../../domain/space.js';
import { formatPath } from '../../domain/errors.js';
import { openFlags, trustState } from '../../domain/trust.js';
import { ExperimentRegistry } from '../../experiments/registry.js';
import type {
  AuditEntry,
  CampaignReport,
  CampaignStatus,
  PendingApproval,
  TrialSummary,
} from '../../workflows/types.js';
import { validateCriteria, type ProblemState } from '../../workflows/problem.js';
import type { Note } from '../../domain/strategy.js';
import { buildApp, type BuildAppOptions } from '../../server/app.js';
import { TokenTable } from '../../server/auth.js';
import type { ApiService } from '../../server/context.js';
import { ServiceError } from '../../server/errors.js';
import { FakeMlflow } from './fake-mlflow.js';
import { quadSpec } from './quadratic.js';
import { PERMISSIONS } from '../../api/permissions.js';
import {
  requireRole,
  type CampaignListItem,
  type StartCampaignRequest,
} from '../../server/service.js';

export const TOKENS = {
  pi: 'tok-pi-0123456789abcdef',
  researcher: 'tok-researcher-0123456789',
  viewer: 'tok-viewer-0123456789abcd',
} as const;

export const testTokens = () =>
  new TokenTable([
    { token: TOKENS.pi, name: 'Pat PI', role: 'pi' },
    { token: TOKENS.researcher, name: 'Rae Researcher', role: 'researcher' },
    { token: TOKENS.viewer, name: 'Vic Viewer', role: 'viewer' },
  ]);

export const auth = (role: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[role]}` });

export const criteriaInput = {
  metric: 'score',
  direction: 'maximize',
  baseline: { kind: 'value', value: 0 },
  optimum: { kind: 'value', value: 10 },
  seedsPerTrial: 2,
  budgets: { maxTrials: 10 },
};

const estimate = (mean: number) => ({
  mean,
  stderr: 0.01,
  n: 2,
  ciLow: mean - 0.05,
  ciHigh: mean + 0.05,
});

export function trialSummary(i: number, parent: string | null = 'baseline'): TrialSummary {
  const id = i === 0 ? 'baseline' : `t${String(i).padStart(4, '0')}`;
  const flags: TrialSummary['flags'] = i === 2 ? [{ kind: 'high_variance', message: 'noisy' }] : [];
  return {
    id,
    index: i,
    hypothesisId: `h-${id}`,
    kind: i === 0 ? 'reference' : 'search',
    parentTrialId: i === 0 ? null : parent,
    title: i === 0 ? 'Baseline' : `idea ${i}`,
    rationale: 'because',
    author: i === 0 ? { kind: 'system', name: 'gaplab' } : { kind: 'strategy', name: 'random' },
    params: { x: i, y: 0 },
    changes: { x: i },
    seeds: [1, 2],
    status: 'succeeded',
    metrics: { score: i, heldout_score: i - 0.1 },
    objective: estimate(i),
    pgr: i === 0 ? estimate(0) : estimate(i / 10),
    feasible: true,
    trust: trustState(flags),
    flags,
    computeSeconds: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:01.000Z',
  };
}

/** The running campaign has room left; the finished one used up its trials. */
const budgetsOf = (finished: boolean): Budgets => ({
  maxTrials: finished ? 2 : 10,
  concurrency: 4,
});

/** Two search trials finished; the running campaign has a third in flight. */
const ledgerOf = (finished: boolean): BudgetLedger => ({
  trialsStarted: finished ? 2 : 3,
  trialsFinished: 2,
  iterations: 1,
  dollars: 0,
  computeSeconds: 3,
  startedAtMs: 0,
});

/** When the finished campaign ended (the ledger's clock). */
const FINISHED_MS = Date.parse('2026-01-01T00:01:00.000Z');

/** The trials every campaign starts with: the baseline, t0001 and t0002 (flagged, under review). */
const initialTrials = (): TrialSummary[] => [
  trialSummary(0),
  trialSummary(1),
  trialSummary(2, 't0001'),
];

/** A campaign's stored status; `best` and `remaining` are derived when it is read. */
function status(campaignId: string, phase: CampaignStatus['phase'] = 'running'): CampaignStatus {
  const finished = phase === 'finished';
  const budgets = budgetsOf(finished);
  const ledger = ledgerOf(finished);
  return {
    campaignId,
    problemId: 'quad',
    strategy: 'random',
    criteriaVersion: 1,
    phase,
    paused: false,
    iteration: 1,
    trialsDone: ledger.trialsFinished,
    trialsRunning: ledger.trialsStarted - ledger.trialsFinished,
    budgets,
    ledger,
    remaining: {
      trials: null,
      iterations: null,
      dollars: null,
      computeSeconds: null,
      wallSeconds: null,
    },
    best: null,
    baselineScore: 0,
    optimumScore: 10,
    targetPgr: 1,
    pendingApprovals: 1,
    stopReason: finished ? exhausted(budgets, ledger, FINISHED_MS) : null,
    runs: 1,
  };
}

/** What is left of each budget, as the campaign's status query reports it. */
function remainingView(s: CampaignStatus, nowMs: number): CampaignStatus['remaining'] {
  const left = remaining(s.budgets, s.ledger, nowMs);
  return {
    trials: left.trials ?? null,
    iterations: left.iterations ?? null,
    dollars: left.dollars ?? null,
    computeSeconds: left.computeSeconds ?? null,
    wallSeconds: left.wallSeconds ?? null,
  };
}

/** The campaign's best: the best eligible search trial by the domain's ranking. */
const bestOf = (trials: readonly TrialSummary[]) =>
  bestTrial(trials.filter((t) => t.kind === 'search'));

/** The report of a finished campaign over the initial trials. */
export function report(campaignId: string): CampaignReport {
  const trials = initialTrials();
  const best = bestOf(trials)!;
  const budgets = budgetsOf(true);
  const ledger = ledgerOf(true);
  const lineage: TrialSummary[] = [];
  for (let t: TrialSummary | undefined = best; t; t = trials.find((x) => x.id === t!.parentTrialId))
    lineage.unshift(t);
  return {
    campaignId,
    problem: { id: quadSpec.id, title: quadSpec.title, question: quadSpec.question },
    criteriaVersion: 1,
    strategy: { name: 'random', settings: {} },
    stopReason: exhausted(budgets, ledger, FINISHED_MS) ?? 'error',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: new Date(FINISHED_MS).toISOString(),
    budgets,
    ledger,
    baselineScore: 0,
    optimumScore: 10,
    targetPgr: 1,
    trials: {
      total: trials.length,
      succeeded: trials.filter((t) => t.status === 'succeeded').length,
      failed: 0,
      cancelled: 0,
      flagged: trials.filter((t) => t.kind === 'search' && t.trust !== 'eligible').length,
    },
    best: {
      id: best.id,
      title: best.title,
      params: best.params,
      pgr: best.pgr,
      objective: best.objective,
      author: best.author,
      lineage: lineage.map((t) => ({ id: t.id, title: t.title, pgr: t.pgr?.mean ?? null })),
    },
    pgrOverTrials: [{ index: 1, pgr: 0.1, bestCiLow: 0.05 }],
    verification: [],
    verifiedPgr: null,
    notebook: [],
    dropped: [],
  };
}

interface FakeCampaign {
  status: CampaignStatus;
  trials: TrialSummary[];
  pending: PendingApproval[];
  decided: Set<string>;
  audit: AuditEntry[];
  notebook: Note[];
  report: CampaignReport | null;
  /** A PI asked it to stop (the workflow's stop request). */
  stopping: boolean;
}

/** A fake GaplabService: one problem `quad`, a running campaign `c1` and a finished one `c2`. */
export class FakeService implements ApiService {
  readonly registry = ExperimentRegistry.of({
    name: 'quadratic',
    description: 'A bowl',
    metrics: [{ name: 'score', description: 'objective' }],
    defaultTimeoutSeconds: 10,
    runner: { kind: 'function', run: async () => ({ score: 1 }) },
  });
  /** Every call: method name and actor (when there is one). */
  readonly calls: { method: string; actor?: Actor; args: unknown[] }[] = [];
  readonly problems = new Map<string, ProblemState>();
  readonly campaigns = new Map<string, FakeCampaign>();
  temporalUp = true;

  constructor() {
    const criteria: CriteriaVersion = {
      version: 1,
      criteria: EvaluationCriteria.parse(criteriaInput),
      actor: { name: 'Pat PI', role: 'pi' },
      reason: 'first',
      createdAt: '2026-01-01T00:00:00.000Z',
    };
    this.problems.set('quad', {
      spec: quadSpec,
      experiment: {
        name: 'quadratic',
        description: 'A bowl',
        metrics: [{ name: 'score', description: 'objective' }],
        taskQueue: 'gaplab',
        timeoutSeconds: 10,
      },
      createdBy: { name: 'Rae Researcher', role: 'researcher' },
      createdAt: '2026-01-01T00:00:00.000Z',
      criteria: [criteria],
      campaigns: [
        {
          campaignId: 'c1',
          strategy: 'random',
          criteriaVersion: 1,
          startedBy: { name: 'Rae Researcher', role: 'researcher' },
          startedAt: '2026-01-01T00:00:00.000Z',
          label: 'first try',
        },
      ],
      audit: [],
    });
    for (const id of ['c1', 'c2']) {
      this.campaigns.set(id, {
        status: status(id, id === 'c2' ? 'finished' : 'running'),
        trials: initialTrials(),
        pending: [
          {
            hypothesis: {
              id: 'h0001',
              title: 'try x=1',
              rationale: '',
              parentTrialId: null,
              changes: { x: 1 },
              expectedEffect: '',
              params: { x: 1, y: 3 },
              author: { kind: 'strategy', name: 'random' },
              createdAt: '2026-01-01T00:00:00.000Z',
            },
            submittedAt: '2026-01-01T00:00:00.000Z',
            deadlineMs: 1e13,
          },
        ],
        decided: new Set(['h0000']),
        audit: [
          {
            at: '2026-01-01T00:00:00.000Z',
            actor: { name: 'Rae Researcher', role: 'researcher' },
            action: 'start',
          },
        ],
        notebook: [],
        report: id === 'c2' ? report(id) : null,
        stopping: false,
      });
    }
  }

  private call(method: string, actor: Actor | undefined, ...args: unknown[]) {
    this.calls.push({ method, ...(actor ? { actor } : {}), args });
  }
  private campaign(id: string): FakeCampaign {
    const c = this.campaigns.get(id);
    if (!c) throw new ServiceError('NotFound', `campaign ${id} not found`);
    return c;
  }
  private problem(id: string): ProblemState {
    const p = this.problems.get(id);
    if (!p) throw new ServiceError('NotFound', `problem ${id} not found`);
    return p;
  }
  /** The service's rule: a campaign whose workflow has closed takes no update. */
  private running(c: FakeCampaign) {
    if (c.status.phase === 'finished')
      throw new ServiceError('Conflict', `campaign ${c.status.campaignId} has finished`);
  }
  /** The workflow's rule: no new work once the campaign is stopping, verifying or finished. */
  private open(c: FakeCampaign) {
    this.running(c);
    if (c.status.phase === 'verifying' || c.status.stopReason || c.stopping)
      throw new ServiceError('Conflict', 'the campaign has stopped');
  }

  async healthy() {
    return this.temporalUp;
  }
  async isRunning(campaignId: string) {
    return this.campaign(campaignId).status.phase !== 'finished';
  }
  async submitProblem(actor: Actor, input: unknown) {
    requireRole(actor, PERMISSIONS.submitProblem, 'submit problems');
    this.call('submitProblem', actor, input);
    const s = ProblemSpecSchema.parse(input);
    if (this.problems.has(s.id))
      throw new ServiceError('Conflict', `problem ${s.id} exists already`);
    if (s.experiment !== 'quadratic')
      throw new ServiceError(
        'InvalidInput',
        `spec.experiment: unknown experiment "${s.experiment}"`,
      );
    const issues = checkSpecConfigs(s);
    if (issues.length > 0)
      throw new ServiceError(
        'InvalidInput',
        issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; '),
      );
    const state: ProblemState = {
      ...this.problems.get('quad')!,
      spec: s,
      criteria: [],
      campaigns: [],
      createdBy: actor,
    };
    this.problems.set(s.id, state);
    return state;
  }
  async listProblems() {
    return [...this.problems.values()];
  }
  async getProblem(problemId: string) {
    return this.problem(problemId);
  }
  async setCriteria(actor: Actor, problemId: string, criteria: unknown, reason?: string) {
    requireRole(actor, PERMISSIONS.setCriteria, 'set evaluation criteria');
    this.call('setCriteria', actor, problemId, criteria, reason);
    const p = this.problem(problemId);
    const v: CriteriaVersion = {
      version: p.criteria.length + 1,
      criteria: validateCriteria(p.spec, p.experiment, criteria),
      actor,
      reason: reason ?? '',
      createdAt: new Date().toISOString(),
    };
    p.criteria.push(v);
    return v;
  }
  async startCampaign(actor: Actor, req: StartCampaignRequest) {
    requireRole(actor, PERMISSIONS.startCampaign, 'start campaigns');
    this.call('startCampaign', actor, req);
    const p = this.problem(req.problemId);
    if (p.criteria.length === 0)
      throw new ServiceError('Conflict', `problem ${req.problemId} has no evaluation criteria yet`);
    return { campaignId: `${req.problemId}-x` };
  }
  async listCampaigns(
    filter: { problemId?: string; strategy?: string } = {},
  ): Promise<CampaignListItem[]> {
    this.call('listCampaigns', undefined, filter);
    return [...this.campaigns.values()].map((c) => ({
      campaignId: c.status.campaignId,
      problemId: c.status.problemId,
      strategy: c.status.strategy,
      criteriaVersion: 1,
      startedAt: '2026-01-01T00:00:00.000Z',
      startedBy: { name: 'Rae Researcher', role: 'researcher' as const },
      status: c.status.phase === 'finished' ? 'COMPLETED' : 'RUNNING',
    }));
  }
  async status(campaignId: string) {
    const c = this.campaign(campaignId);
    const best = bestOf(c.trials);
    const nowMs = c.status.phase === 'finished' ? FINISHED_MS : Date.now();
    return structuredClone({
      ...c.status,
      remaining: remainingView(c.status, nowMs),
      best: best?.pgr ? { trialId: best.id, title: best.title, pgr: best.pgr } : null,
      pendingApprovals: c.pending.length,
    });
  }
  async trials(
    campaignId: string,
    opts: { offset?: number; limit?: number; kind?: TrialSummary['kind'] } = {},
  ) {
    const all = this.campaign(campaignId).trials.filter((t) => !opts.kind || t.kind === opts.kind);
    const offset = opts.offset ?? 0;
    return {
      total: all.length,
      trials: all.slice(offset, offset + Math.min(1000, opts.limit ?? 100)),
    };
  }
  async trial(campaignId: string, trialId: string) {
    const c = this.campaign(campaignId);
    const trial = c.trials.find((t) => t.id === trialId);
    if (!trial)
      throw new ServiceError('NotFound', `trial ${trialId} not found in campaign ${campaignId}`);
    const lineage: TrialSummary[] = [];
    for (
      let cur: TrialSummary | undefined = trial;
      cur;
      cur = c.trials.find((t) => t.id === cur!.parentTrialId)
    )
      lineage.unshift(cur);
    return { trial, lineage };
  }
  async leaderboard(campaignId: string, limit = 10) {
    return rankTrials(this.campaign(campaignId).trials.filter((t) => t.kind === 'search')).slice(
      0,
      limit,
    );
  }
  async pending(campaignId: string) {
    return this.campaign(campaignId).pending;
  }
  async audit(campaignId: string) {
    return this.campaign(campaignId).audit;
  }
  async notebook(campaignId: string) {
    return this.campaign(campaignId).notebook;
  }
  async report(campaignId: string) {
    return this.campaign(campaignId).report;
  }
  async result(campaignId: string) {
    return this.campaign(campaignId).report!;
  }
  async pause(actor: Actor, campaignId: string, reason?: string) {
    requireRole(actor, PERMISSIONS.pause, 'pause campaigns');
    const c = this.campaign(campaignId);
    this.open(c);
    if (c.status.paused) throw new ServiceError('Conflict', 'the campaign is already paused');
    this.call('pause', actor, campaignId, reason);
    c.status.paused = true;
    c.audit.push({
      at: new Date().toISOString(),
      actor,
      action: 'pause',
      ...(reason ? { detail: reason } : {}),
    });
  }
  async resume(actor: Actor, campaignId: string, reason?: string) {
    requireRole(actor, PERMISSIONS.resume, 'resume campaigns');
    const c = this.campaign(campaignId);
    this.open(c);
    if (!c.status.paused) throw new ServiceError('Conflict', 'the campaign is not paused');
    this.call('resume', actor, campaignId, reason);
    c.status.paused = false;
  }
  async stop(
    actor: Actor,
    campaignId: string,
    opts: { reason?: string; cancelRunning?: boolean } = {},
  ) {
    requireRole(actor, PERMISSIONS.stop, 'stop campaigns');
    const c = this.campaign(campaignId);
    this.running(c);
    // A PI may stop a campaign in every phase, once.
    if (c.stopping) throw new ServiceError('Conflict', 'the campaign is already stopping');
    this.call('stop', actor, campaignId, opts);
    c.stopping = true;
  }
  async changeBudgets(
    actor: Actor,
    campaignId: string,
    budgets: unknown,
    reason?: string,
  ): Promise<Budgets> {
    requireRole(actor, PERMISSIONS.changeBudgets, 'change budgets');
    const c = this.campaign(campaignId);
    this.open(c);
    const merged = Budgets.safeParse({ ...c.status.budgets, ...(budgets as Partial<Budgets>) });
    if (!merged.success) {
      const issue = merged.error.issues[0]!;
      throw new ServiceError('InvalidInput', `budgets.${issue.path.join('.')}: ${issue.message}`);
    }
    this.call('changeBudgets', actor, campaignId, budgets, reason);
    c.status.budgets = merged.data;
    return c.status.budgets;
  }
  async decide(
    actor: Actor,
    campaignId: string,
    hypothesisId: string,
    decision: 'approve' | 'reject',
    reason?: string,
  ) {
    requireRole(actor, PERMISSIONS.decide, 'approve or reject hypotheses');
    const c = this.campaign(campaignId);
    this.open(c);
    if (c.decided.has(hypothesisId))
      throw new ServiceError(
        'Conflict',
        `hypothesis ${hypothesisId} is not pending (already decided)`,
      );
    if (!c.pending.some((p) => p.hypothesis.id === hypothesisId))
      throw new ServiceError('NotFound', `unknown hypothesis ${hypothesisId}`);
    this.call('decide', actor, campaignId, hypothesisId, decision, reason);
    c.pending = c.pending.filter((p) => p.hypothesis.id !== hypothesisId);
    c.decided.add(hypothesisId);
  }
  async inject(actor: Actor, campaignId: string, proposal: HypothesisProposalInput) {
    requireRole(actor, PERMISSIONS.inject, 'inject hypotheses');
    const c = this.campaign(campaignId);
    this.open(c);
    this.call('inject', actor, campaignId, proposal);
    const parsed = HypothesisProposal.safeParse(proposal);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ServiceError(
        'InvalidInput',
        `${issue.path.join('.') || 'proposal'}: ${issue.message}`,
      );
    }
    const { parentTrialId, changes } = parsed.data;
    const problem = this.problem(c.status.problemId).spec;
    let parentParams = problem.baseline;
    if (parentTrialId !== null && parentTrialId !== 'baseline') {
      const parent = c.trials.find((t) => t.id === parentTrialId);
      if (!parent || parent.kind === 'verification')
        throw new ServiceError('NotFound', `parentTrialId: unknown trial ${parentTrialId}`);
      parentParams = parent.params;
    }
    try {
      applyChanges(problem.space, parentParams, changes, { baseline: problem.baseline });
    } catch (err) {
      throw new ServiceError('InvalidInput', (err as Error).message);
    }
    return { hypothesisId: 'h-human-1' };
  }
  async addNote(actor: Actor, campaignId: string, text: string, trialId?: string) {
    requireRole(actor, PERMISSIONS.addNote, 'add notes');
    const c = this.campaign(campaignId);
    this.running(c);
    if (trialId !== undefined && !c.trials.some((t) => t.id === trialId))
      throw new ServiceError('NotFound', `trialId: unknown trial ${trialId}`);
    this.call('addNote', actor, campaignId, text, trialId);
    c.notebook.push({
      kind: 'human',
      author: actor.name,
      text,
      ...(trialId ? { trialId } : {}),
      at: new Date().toISOString(),
    });
  }
  async clearFlag(actor: Actor, campaignId: string, trialId: string, flag: string, reason: string) {
    requireRole(actor, PERMISSIONS.clearFlag, 'clear review flags');
    this.decideFlag(actor, campaignId, trialId, flag, 'clear', reason);
  }
  async confirmFlag(
    actor: Actor,
    campaignId: string,
    trialId: string,
    flag: string,
    reason: string,
  ) {
    requireRole(actor, PERMISSIONS.confirmFlag, 'confirm review flags');
    this.decideFlag(actor, campaignId, trialId, flag, 'confirm', reason);
  }
  /** A decision on an open review flag; the trial's trust follows from its flags. */
  private decideFlag(
    actor: Actor,
    campaignId: string,
    trialId: string,
    flag: string,
    decision: 'clear' | 'confirm',
    reason: string,
  ) {
    const c = this.campaign(campaignId);
    this.running(c);
    const t = c.trials.find((x) => x.id === trialId);
    if (!t) throw new ServiceError('NotFound', `trialId: unknown trial ${trialId}`);
    const all = t.flags.filter((x) => x.kind === flag);
    if (all.length === 0)
      throw new ServiceError('NotFound', `flag: trial ${trialId} has no flag ${flag}`);
    const open = openFlags(all)[0];
    if (!open)
      throw new ServiceError(
        'Conflict',
        `flag ${flag} of trial ${trialId} is already ${all.some((x) => x.confirmed) ? 'confirmed' : 'cleared'}`,
      );
    this.call(
      decision === 'clear' ? 'clearFlag' : 'confirmFlag',
      actor,
      campaignId,
      trialId,
      flag,
      reason,
    );
    const stamp = { actor, reason, at: new Date().toISOString() };
    if (decision === 'clear') open.cleared = stamp;
    else open.confirmed = stamp;
    t.trust = trustState(t.flags);
  }
}

/** The app over the fakes, with the three test tokens and rate limiting off unless asked. */
export async function buildTestApp(
  opts: Partial<BuildAppOptions> & { fake?: FakeService; fakeMlflow?: FakeMlflow } = {},
) {
  const service = opts.fake ?? new FakeService();
  const mlflow = opts.fakeMlflow ?? new FakeMlflow();
  const { LineageReader } = await import('../../server/lineage.js');
  const app = await buildApp({
    service,
    mlflow,
    tokens: opts.tokens ?? testTokens(),
    lineage:
      opts.lineage ??
      new LineageReader({ mlflow, listExperiments: mlflow.listExperiments, ttlMs: 0 }),
    ...(opts.checks ? { checks: opts.checks } : {}),
    ...(opts.views ? { views: opts.views } : {}),
    config: { rateLimitPerMinute: 0, uiDir: '/nonexistent', sseIntervalMs: 50, ...opts.config },
  });
  return { app, service, mlflow };
}
