/**
 * In-memory fakes of the service layer and MLflow for the API's unit tests (`app.inject`):
 * enough behaviour to exercise routing, auth, validation and error mapping without Temporal.
 */
import type {
  Actor,
  Budgets,
  CriteriaVersion,
  HypothesisProposalInput,
  ProblemSpec,
} from '../../domain/schemas.js';
import { EvaluationCriteria, ProblemSpec as ProblemSpecSchema } from '../../domain/schemas.js';
import { ExperimentRegistry } from '../../experiments/registry.js';
import type {
  AuditEntry,
  CampaignReport,
  CampaignStatus,
  PendingApproval,
  TrialSummary,
} from '../../workflows/types.js';
import type { ProblemState } from '../../workflows/problem.js';
import type { Note } from '../../domain/strategy.js';
import { buildApp, type BuildAppOptions } from '../../server/app.js';
import { TokenTable } from '../../server/auth.js';
import type { ApiService } from '../../server/context.js';
import { ServiceError } from '../../server/errors.js';
import { FakeMlflow } from './fake-mlflow.js';
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

export const spec: ProblemSpec = ProblemSpecSchema.parse({
  id: 'quad',
  title: 'Quadratic bowl',
  question: 'Where is the maximum?',
  experiment: 'quadratic',
  space: [
    { name: 'x', kind: 'float', low: -5, high: 5 },
    { name: 'y', kind: 'float', low: -5, high: 5 },
  ],
  baseline: { x: -4, y: 3 },
});

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
    trust: i === 2 ? 'under_review' : 'eligible',
    flags: i === 2 ? [{ kind: 'high_variance', message: 'noisy' }] : [],
    computeSeconds: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:01.000Z',
  };
}

const budgets: Budgets = { maxTrials: 10, concurrency: 4 };

function status(campaignId: string, phase: CampaignStatus['phase'] = 'running'): CampaignStatus {
  return {
    campaignId,
    problemId: 'quad',
    strategy: 'random',
    criteriaVersion: 1,
    phase,
    paused: false,
    iteration: 1,
    trialsDone: 2,
    trialsRunning: 1,
    budgets,
    ledger: {
      trialsStarted: 3,
      trialsFinished: 2,
      iterations: 1,
      dollars: 0,
      computeSeconds: 3,
      startedAtMs: 0,
    },
    remaining: {
      trials: 7,
      iterations: null,
      dollars: null,
      computeSeconds: null,
      wallSeconds: null,
    },
    best: { trialId: 't0002', title: 'idea 2', pgr: estimate(0.2) },
    baselineScore: 0,
    optimumScore: 10,
    targetPgr: 1,
    pendingApprovals: 1,
    stopReason: phase === 'finished' ? 'max_trials' : null,
    runs: 1,
  };
}

export function report(campaignId: string): CampaignReport {
  return {
    campaignId,
    problem: { id: 'quad', title: 'Quadratic bowl', question: 'Where is the maximum?' },
    criteriaVersion: 1,
    strategy: { name: 'random', settings: {} },
    stopReason: 'max_trials',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    budgets,
    ledger: {
      trialsStarted: 2,
      trialsFinished: 2,
      iterations: 1,
      dollars: 0,
      computeSeconds: 3,
      startedAtMs: 0,
    },
    baselineScore: 0,
    optimumScore: 10,
    targetPgr: 1,
    trials: { total: 3, succeeded: 3, failed: 0, cancelled: 0, flagged: 1 },
    best: {
      id: 't0002',
      title: 'idea 2',
      params: { x: 2, y: 0 },
      pgr: estimate(0.2),
      objective: estimate(2),
      author: { kind: 'strategy', name: 'random' },
      lineage: [
        { id: 'baseline', title: 'Baseline', pgr: 0 },
        { id: 't0002', title: 'idea 2', pgr: 0.2 },
      ],
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
      spec,
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
        trials: [trialSummary(0), trialSummary(1), trialSummary(2, 't0001')],
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
  private open(c: FakeCampaign) {
    if (c.status.phase === 'finished')
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
      criteria: EvaluationCriteria.parse(criteria),
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
    return structuredClone(this.campaign(campaignId).status);
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
    return this.campaign(campaignId)
      .trials.filter((t) => t.kind === 'search')
      .slice(0, limit);
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
    this.open(c);
    this.call('stop', actor, campaignId, opts);
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
    this.call('changeBudgets', actor, campaignId, budgets, reason);
    c.status.budgets = { ...c.status.budgets, ...(budgets as Partial<Budgets>) };
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
    if (proposal.parentTrialId && !c.trials.some((t) => t.id === proposal.parentTrialId)) {
      throw new ServiceError(
        'InvalidInput',
        `proposal.parentTrialId: unknown trial ${proposal.parentTrialId}`,
      );
    }
    return { hypothesisId: 'h-human-1' };
  }
  async addNote(actor: Actor, campaignId: string, text: string, trialId?: string) {
    requireRole(actor, PERMISSIONS.addNote, 'add notes');
    const c = this.campaign(campaignId);
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
    const c = this.campaign(campaignId);
    const t = c.trials.find((x) => x.id === trialId);
    if (!t) throw new ServiceError('NotFound', `trialId: unknown trial ${trialId}`);
    const f = t.flags.find((x) => x.kind === flag);
    if (!f) throw new ServiceError('NotFound', `flag: trial ${trialId} has no flag ${flag}`);
    if (f.cleared)
      throw new ServiceError('Conflict', `flag ${flag} of trial ${trialId} is already cleared`);
    this.call('clearFlag', actor, campaignId, trialId, flag, reason);
    f.cleared = { actor, reason, at: new Date().toISOString() };
  }
  async confirmFlag(
    actor: Actor,
    campaignId: string,
    trialId: string,
    flag: string,
    reason: string,
  ) {
    requireRole(actor, PERMISSIONS.confirmFlag, 'confirm review flags');
    const c = this.campaign(campaignId);
    const t = c.trials.find((x) => x.id === trialId);
    if (!t) throw new ServiceError('NotFound', `trialId: unknown trial ${trialId}`);
    const f = t.flags.find((x) => x.kind === flag);
    if (!f) throw new ServiceError('NotFound', `flag: trial ${trialId} has no flag ${flag}`);
    if (f.cleared || f.confirmed)
      throw new ServiceError('Conflict', `flag ${flag} of trial ${trialId} is already decided`);
    this.call('confirmFlag', actor, campaignId, trialId, flag, reason);
    f.confirmed = { actor, reason, at: new Date().toISOString() };
    t.trust = 'excluded';
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
    config: { rateLimitPerMinute: 0, uiDir: '/nonexistent', sseIntervalMs: 50, ...opts.config },
  });
  return { app, service, mlflow };
}
