/**
 * The campaign workflow: propose → validate → (approve) → run on N seeds → score → record →
 * account → decide, until the target PGR or a budget is reached. Human control arrives as
 * updates and signals carrying the actor; status, ledger, leaderboard and approvals are queries.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  isCancellation,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import type { Actor, Budgets, HypothesisProposalInput, SeedResult } from '../domain/schemas.js';
import type { StrategyResult } from '../domain/strategy.js';
import type { ProposalAuditState } from './proposal-audit.js';
import { CampaignState, TAIL_BUDGET, type TrialRequest } from './campaign-state.js';
import { DEFAULT_SCHEDULE_TO_START_SECONDS, presets } from './options.js';
import type {
  AuditEntry,
  CampaignInput,
  CampaignReport,
  CampaignStatus,
  PendingApproval,
  TrialSummary,
} from './types.js';
import type { Note } from '../domain/strategy.js';

type Activities = ReturnType<typeof createActivities>;

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

export const pauseUpdate = defineUpdate<void, [{ actor: Actor; reason?: string }]>('pause');
export const resumeUpdate = defineUpdate<void, [{ actor: Actor; reason?: string }]>('resume');
export const stopUpdate = defineUpdate<
  void,
  [{ actor: Actor; reason?: string; cancelRunning?: boolean }]
>('stop');
export const changeBudgetsUpdate = defineUpdate<
  Budgets,
  [{ actor: Actor; budgets: Partial<Budgets>; reason?: string }]
>('changeBudgets');
export const decideUpdate = defineUpdate<
  void,
  [{ actor: Actor; hypothesisId: string; decision: 'approve' | 'reject'; reason?: string }]
>('decide');
export const injectHypothesisUpdate = defineUpdate<
  { hypothesisId: string },
  [{ actor: Actor; proposal: HypothesisProposalInput }]
>('injectHypothesis');
export const addNoteUpdate = defineUpdate<void, [{ actor: Actor; text: string; trialId?: string }]>(
  'addNote',
);
export const clearFlagUpdate = defineUpdate<
  void,
  [{ actor: Actor; trialId: string; flag: string; reason: string }]
>('clearFlag');
/** A PI confirms a review flag: the trial is excluded for good (never best, never the target). */
export const confirmFlagUpdate = defineUpdate<
  void,
  [{ actor: Actor; trialId: string; flag: string; reason: string }]
>('confirmFlag');

export const statusQuery = defineQuery<CampaignStatus>('status');
export const trialsQuery = defineQuery<
  { total: number; trials: TrialSummary[] },
  [{ offset?: number; limit?: number; kind?: TrialSummary['kind'] }?]
>('trials');
export const leaderboardQuery = defineQuery<TrialSummary[], [{ limit?: number }?]>('leaderboard');
export const pendingQuery = defineQuery<PendingApproval[]>('pendingApprovals');
export const auditQuery = defineQuery<AuditEntry[]>('audit');
export const notebookQuery = defineQuery<Note[]>('notebook');
export const reportQuery = defineQuery<CampaignReport | null>('report');
/** Every strategy proposal's fate: exact counts and the most recent with their reasons. */
export const proposalsQuery = defineQuery<ProposalAuditState>('proposals');

// ---------------------------------------------------------------------------------------------
// The workflow
// ---------------------------------------------------------------------------------------------

export async function campaignWorkflow(input: CampaignInput): Promise<CampaignReport> {
  const state = new CampaignState(input, Date.now());
  const heartbeat = input.timing?.heartbeatTimeoutSeconds ?? 30;
  const historyLimit = input.timing?.historyEventLimit ?? 8000;
  const record = input.mlflow !== false;
  const scheduleToStartSeconds =
    input.timing?.scheduleToStartSeconds ?? DEFAULT_SCHEDULE_TO_START_SECONDS;
  /** Some seed of this campaign ran on a worker of the experiment's queue. */
  let queueServed = state.trials.some((t) => t.status !== 'cancelled');

  const experimentActs = proxyActivities<Activities>({
    ...presets.experimentRun(
      input.experiment.timeoutSeconds,
      heartbeat,
      input.experiment.taskQueue,
      scheduleToStartSeconds,
    ),
    cancellationType: ActivityCancellationType.TRY_CANCEL,
  });
  const strategyActs = proxyActivities<Activities>(presets.strategyCall());
  const recordActs = proxyActivities<Activities>(presets.recording(workflowInfo().taskQueue));

  registerHandlers(state);

  const newRunDue = () =>
    workflowInfo().continueAsNewSuggested ||
    workflowInfo().historyLength > historyLimit ||
    state.updatesNearLimit;

  // Long texts and entries evicted from the bounded state go to the campaign's MLflow run, in
  // batches, in the background; drained before continuing as new and before the end.
  let archiving = false;
  void (async () => {
    for (;;) {
      await condition(
        () => state.outbox.length > 0 && (!record || state.mlflowParentRunId !== undefined),
      );
      if (!record) {
        state.outbox.splice(0);
        continue;
      }
      archiving = true;
      // Batches stay far below the payload limit (one text is at most a note or an eviction).
      let size = 0;
      let n = 0;
      while (
        n < state.outbox.length &&
        (n === 0 || size + state.outbox[n]!.text.length < 256 * 1024)
      )
        size += state.outbox[n++]!.text.length;
      const texts = state.outbox.slice(0, n);
      try {
        await CancellationScope.nonCancellable(() =>
          recordActs.recordTexts({ runId: state.mlflowParentRunId!, texts }),
        );
      } catch (err) {
        // Recording retries without limit; this is a permanent refusal: say so, go on.
        state.audit({ name: 'gaplab', role: 'system' }, 'archive failed', failureMessage(err));
      }
      state.outbox.splice(0, n);
      archiving = false;
      state.bump();
    }
  })();
  const outboxDrained = () => condition(() => state.outbox.length === 0 && !archiving);

  const setStatusAttribute = (phase: string) => {
    if (input.indexed) upsertSearchAttributes({ GaplabStatus: [phase] });
  };

  // Trials run in their own scope so a PI stop or a deadline can cancel them together.
  const trialScope = new CancellationScope();
  const inFlight = new Map<string, Promise<void>>();
  const recordings = new Set<Promise<void>>();

  /** Runs one seed on the experiment's queue; infrastructure failures become a failed seed. */
  async function runSeed(
    req: TrialRequest,
    seed: number,
    started: { at?: string },
  ): Promise<SeedResult> {
    await state.acquireSlot();
    // A trial starts when its first seed gets a slot, not when it was queued behind the slots;
    // if a budget ran out meanwhile, it does not start at all.
    const skip = started.at === undefined ? state.newWorkRefused(Date.now(), req) : null;
    if (skip) {
      state.releaseSlot();
      return {
        seed,
        status: 'cancelled',
        metrics: {},
        durationSeconds: 0,
        error: `not run: ${skip}`,
      };
    }
    started.at ??= new Date().toISOString();
    try {
      for (;;) {
        try {
          const result = await experimentActs.runExperimentSeed({
            experiment: input.experiment.name,
            params: req.hypothesis.params,
            seed,
            objective: input.criteria.criteria.metric,
            // Adaptive for search trials (campaign-state seedTimeoutSeconds), never above the limit.
            timeoutSeconds: req.timeoutSeconds ?? input.experiment.timeoutSeconds,
            campaignId: input.campaignId,
            trialId: req.id,
            // Tails stay small and bounded per trial; the full logs go to the campaign's MLflow run.
            tailChars: tailChars(req.seeds.length),
            ...(record && state.mlflowParentRunId ? { logRunId: state.mlflowParentRunId } : {}),
          });
          queueServed = true;
          return result;
        } catch (err) {
          // A seed that waited out its schedule-to-start timeout on a queue whose workers ran
          // seeds before met busy workers, not missing ones: it waits again.
          if (queueServed && isScheduleToStart(err)) continue;
          throw err;
        }
      }
    } catch (err) {
      if (isCancellation(err))
        return { seed, status: 'cancelled', metrics: {}, durationSeconds: 0, error: 'cancelled' };
      if (isScheduleToStart(err)) {
        // No worker of the queue ever took a seed: end the campaign with the reason rather than
        // fail every trial.
        const error = `no worker polls queue ${input.experiment.taskQueue} for ${scheduleToStartSeconds} s`;
        state.requestStop('error', error);
        return { seed, status: 'failed', metrics: {}, durationSeconds: 0, error };
      }
      return {
        seed,
        status: 'failed',
        metrics: {},
        durationSeconds: 0,
        error: failureMessage(err),
      };
    } finally {
      state.releaseSlot();
    }
  }

  async function runTrialSeeds(
    req: TrialRequest,
  ): Promise<{ trial: TrialSummary; seeds: SeedResult[] }> {
    const started: { at?: string } = {};
    const limit = tailChars(req.seeds.length);
    // Seeds from a worker that ignores the tail budget are cut here.
    const seeds = (await Promise.all(req.seeds.map((s) => runSeed(req, s, started)))).map((r) =>
      r.logTail && r.logTail.length > limit ? { ...r, logTail: r.logTail.slice(-limit) } : r,
    );
    const finishedAt = new Date().toISOString();
    const trial = state.finishTrial(req, seeds, started.at ?? finishedAt, finishedAt);
    // MLflow gets the hypothesis's rationale (the state's trial keeps a shorter prefix).
    if (record) recordTrialLater({ ...trial, rationale: req.hypothesis.rationale }, seeds);
    return { trial, seeds };
  }

  async function runTrial(req: TrialRequest): Promise<TrialSummary> {
    return (await runTrialSeeds(req)).trial;
  }

  /**
   * Verifies a trial: re-runs it on the fresh seeds beside the baseline's re-run on the same
   * seeds (once per campaign), then scores fresh and hidden PGR paired seed by seed.
   */
  let freshBaseline: Promise<void> | undefined;
  async function verify(req: TrialRequest, scope: CancellationScope): Promise<void> {
    freshBaseline ??= (async () => {
      const b = state.freshBaselineRequest();
      if (!b) return;
      const { trial, seeds } = await scope.run(() => runTrialSeeds(b));
      if (trial.status === 'succeeded') state.setFreshBaseline(trial, seeds);
      else freshBaseline = undefined;
    })();
    const [{ trial, seeds }] = await Promise.all([
      scope.run(() => runTrialSeeds(req)),
      freshBaseline,
    ]);
    // A stop of the verification phase itself discards what it cut short; a stop that ended
    // the search does not (the best is still verified).
    if (state.verificationStopped) return;
    state.addVerification(req, trial, seeds);
  }

  function startVerification(req: TrialRequest): void {
    const p = trialScope
      .run(() => verify(req, trialScope))
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        inFlight.delete(req.id);
        state.bump();
      });
    inFlight.set(req.id, p);
  }

  function recordTrialLater(trial: TrialSummary, seeds: SeedResult[]): void {
    // Recording waits out an MLflow outage (retries without limit) without holding up the loop.
    const p = CancellationScope.nonCancellable(async () => {
      const res = await recordActs.recordTrial({
        campaignId: input.campaignId,
        problemId: input.problem.id,
        experimentId: state.mlflowExperimentId!,
        parentRunId: state.mlflowParentRunId!,
        trial,
        seeds,
        hiddenMetrics: input.criteria.criteria.hiddenMetrics,
      });
      state.setRunId(trial.id, res.runId);
    });
    recordings.add(p);
    void p.finally(() => recordings.delete(p));
  }

  function startTrial(req: TrialRequest): void {
    const p = trialScope
      .run(() => runTrial(req))
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        inFlight.delete(req.id);
        state.bump();
      });
    inFlight.set(req.id, p);
  }

  async function measure(which: 'baseline' | 'optimum'): Promise<void> {
    const req = state.referenceRequest(which);
    if (!req) return;
    const { trial, seeds } = await trialScope.run(() => runTrialSeeds(req));
    state.setReference(which, trial, seeds);
  }

  /**
   * Runs `work` until it ends or a PI stop (and, unless told otherwise, the deadline) comes due;
   * then cancels `scope`, records the stop reason and waits for the cancelled work to wind down.
   */
  async function untilHardStop(
    work: () => Promise<void>,
    scope: CancellationScope,
    opts: { deadline?: boolean; stopped?: () => boolean } = {},
  ): Promise<void> {
    let done = false;
    const running = work().finally(() => {
      done = true;
    });
    const due = () =>
      opts.deadline === false
        ? (opts.stopped?.() ?? state.stopRequest !== undefined)
        : state.hardStopNow(Date.now()) !== null;
    while (!done) {
      const waitMs = opts.deadline === false ? null : state.msUntilNextDeadline(Date.now());
      await condition(() => done || due(), waitMs ?? undefined);
      if (done || !due()) continue;
      // During verification the search's own stop reason stands; the audit shows the PI stop.
      state.stopReason ??= state.hardStopNow(Date.now())!;
      scope.cancel();
      break;
    }
    await running;
  }

  // ---- start ------------------------------------------------------------------------------
  if (state.runs === 0) {
    state.audit(
      { name: input.startedBy.name, role: input.startedBy.role },
      'start',
      `strategy ${input.strategy.name}, criteria v${input.criteria.version}`,
    );
  }
  if (record && !state.mlflowParentRunId) {
    const res = await recordActs.recordCampaignStart({
      campaignId: input.campaignId,
      problem: input.problem,
      criteria: input.criteria,
      strategy: input.strategy,
      startedBy: input.startedBy,
      seed: input.seed,
    });
    state.mlflowExperimentId = res.experimentId;
    state.mlflowParentRunId = res.runId;
  }

  if (state.phase === 'starting' || state.phase === 'measuring') {
    state.phase = 'measuring';
    setStatusAttribute('measuring');
    // Baseline first: relative constraints and the optimum's sanity check need it.
    await untilHardStop(async () => {
      await measure('baseline');
      if (!state.stopReason) await measure('optimum');
    }, trialScope);
    const problem = state.referenceProblem();
    if (problem) state.requestStop(problem.reason, problem.detail);
    state.phase = 'running';
    setStatusAttribute('running');
  }

  // ---- main loop --------------------------------------------------------------------------
  let proposing = false;
  while (state.phase !== 'finished' && state.phase !== 'verifying') {
    const now = Date.now();
    state.applyApprovalTimeouts(now);
    const stop = state.stopReasonNow(now);
    if (stop) {
      state.stopReason = stop;
      break;
    }
    // A long history or many updates (notes, approvals) in this run: continue as new, in every
    // phase of the loop (paused and waiting for approvals included), so Temporal's per-run
    // limits are never reached and a PI's stop always gets through.
    if (newRunDue()) {
      // Drain: start nothing new, let running trials and their records finish, then carry on
      // in a fresh history with only the state that matters.
      await condition(() => inFlight.size === 0 || state.stopRequest !== undefined);
      if (inFlight.size === 0) {
        await Promise.all([...recordings]);
        await condition(allHandlersFinished);
        await outboxDrained();
        const { carried: _previous, ...rest } = input;
        return continueAsNew<typeof campaignWorkflow>({
          ...rest,
          carried: state.carry(JSON.stringify(rest).length),
        });
      }
      continue;
    }
    if (state.paused) {
      setStatusAttribute('paused');
      await condition(() => !state.paused || state.stopRequest !== undefined || newRunDue());
      setStatusAttribute(state.paused ? 'paused' : 'running');
      continue;
    }

    // The best reached the target: verify it before stopping (the search goes on meanwhile).
    const targetCheck = state.targetVerificationRequest();
    if (targetCheck) {
      startVerification(targetCheck);
      continue;
    }

    // Start queued (approved or unmoderated) hypotheses while budget and slots allow.
    let started = false;
    while (state.canStartTrial(Date.now(), inFlight.size)) {
      const req = state.nextTrialRequest();
      if (!req) break;
      startTrial(req);
      started = true;
    }
    if (started) continue;

    // Ask the strategy for more when there is room for them.
    const wanted = state.proposalsWanted(inFlight.size);
    if (!proposing && wanted > 0 && state.canPropose(Date.now())) {
      proposing = true;
      const view = state.strategyView(wanted);
      let result: StrategyResult;
      try {
        // A paid strategy never starts a call the dollar budget cannot cover by its estimate.
        const estimate =
          input.strategy.name === 'claude' && state.budgets.maxDollars !== undefined
            ? await strategyActs.estimateStrategyCost(view, input.criteria.criteria.hiddenMetrics)
            : null;
        // By the worst case (every agent uses its whole output allowance), as the agent itself checks.
        if (estimate && estimate.maxDollars > (view.budgetLeft.dollars ?? Infinity)) {
          result = { proposals: [], dropped: [], notes: [], dollars: 0, authors: [] };
          state.refuseForBudget(
            `the next strategy call may cost up to $${estimate.maxDollars.toFixed(4)}, more than the $${(view.budgetLeft.dollars ?? 0).toFixed(4)} left`,
          );
        } else {
          // Hidden names and real values go along for redaction only, never into the view.
          result = await strategyActs.proposeHypotheses(view, state.hiddenForRedaction());
        }
      } catch (err) {
        // The notebook gets a plain reason; the error itself goes to the audit trail.
        state.audit({ name: 'gaplab', role: 'system' }, 'strategy error', failureMessage(err));
        result = {
          proposals: [],
          dropped: [],
          notes: [],
          dollars: 0,
          authors: [],
          fatalError:
            'the strategy step kept failing after its retries (the audit trail and the worker log have the details)',
        };
      }
      if (result.budgetExhausted) state.refuseForBudget(result.budgetExhausted);
      proposing = false;
      state.acceptProposals(result, Date.now());
      continue;
    }

    // Nothing to do right now: wait for a trial to finish, a message, or the next deadline.
    const seen = state.version;
    const waitMs = state.msUntilNextDeadline(Date.now());
    if (
      inFlight.size === 0 &&
      state.queueLength() === 0 &&
      state.pending.length === 0 &&
      !state.canPropose(Date.now()) &&
      !state.waitingForStrategy(Date.now())
    ) {
      // Idle with nothing runnable and no way to get more: the budget check above will end it.
      state.markIdle();
      continue;
    }
    await condition(() => state.version !== seen, waitMs ?? undefined);
  }

  // ---- wind down --------------------------------------------------------------------------
  if (state.shouldCancelRunning()) trialScope.cancel();
  await Promise.all([...inFlight.values()]);

  state.phase = 'verifying';
  setStatusAttribute('verifying');
  // A PI stop that arrives during verification ends it (the report then says what was not
  // verified); a stop that ended the search still lets the best be verified.
  const verifyScope = new CancellationScope();
  await untilHardStop(
    async () => {
      // The leaders first, then the reported best until it has its own verification (a leader
      // that fails is flagged, and the next one becomes the best).
      // At most 10 follow-ups: after that the report says "not verified" rather than run on.
      for (let round = 0; round <= 10 && !state.verificationStopped; round++) {
        const reqs = state.verificationRequests(round > 0);
        if (reqs.length === 0 && round > 0) break;
        for (const req of reqs) {
          await verify(req, verifyScope);
          if (state.verificationStopped) break;
        }
      }
    },
    verifyScope,
    { deadline: false, stopped: () => state.verificationStopped },
  );

  await Promise.all([...recordings]);
  await outboxDrained();
  const report = state.buildReport(new Date().toISOString());
  if (record) {
    await recordActs.recordCampaignEnd({
      campaignId: input.campaignId,
      parentRunId: state.mlflowParentRunId!,
      report,
    });
  }
  state.phase = 'finished';
  state.report = report;
  setStatusAttribute('finished');
  await condition(allHandlersFinished);
  await outboxDrained();
  return report;
}

/** Log tail each seed carries back: TAIL_BUDGET per seed, and per trial over all its seeds. */
function tailChars(seeds: number): number {
  return Math.max(256, Math.min(TAIL_BUDGET.perSeed, Math.floor(TAIL_BUDGET.perTrial / seeds)));
}

/** The activity waited its whole schedule-to-start timeout without a worker taking it. */
function isScheduleToStart(err: unknown): boolean {
  return (
    err instanceof Error &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === 'SCHEDULE_TO_START'
  );
}

function failureMessage(err: unknown): string {
  if (err instanceof ApplicationFailure && err.message) return err.message;
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}

// ---------------------------------------------------------------------------------------------
// Handlers: validators reject bad input with a reason; handlers change state and audit it.
// ---------------------------------------------------------------------------------------------

function registerHandlers(state: CampaignState): void {
  const requireRole = (actor: Actor, roles: Actor['role'][], what: string) => {
    if (!roles.includes(actor.role)) {
      throw ApplicationFailure.nonRetryable(
        `${actor.name} (${actor.role}) may not ${what}`,
        'Forbidden',
      );
    }
  };
  const requireOpen = () => {
    if (state.phase === 'finished' || state.phase === 'verifying' || state.stopReason) {
      throw ApplicationFailure.nonRetryable('the campaign has stopped', 'Conflict');
    }
  };

  setHandler(
    pauseUpdate,
    ({ actor, reason }) => {
      state.countUpdate();
      state.paused = true;
      state.audit(actor, 'pause', reason);
    },
    {
      validator: ({ actor }) => {
        state.checkUpdateRoom();
        requireRole(actor, ['researcher', 'pi'], 'pause a campaign');
        requireOpen();
        if (state.paused)
          throw ApplicationFailure.nonRetryable('the campaign is already paused', 'Conflict');
      },
    },
  );
  setHandler(
    resumeUpdate,
    ({ actor, reason }) => {
      state.countUpdate();
      state.paused = false;
      state.audit(actor, 'resume', reason);
    },
    {
      validator: ({ actor }) => {
        state.checkUpdateRoom();
        requireRole(actor, ['researcher', 'pi'], 'resume a campaign');
        requireOpen();
        if (!state.paused)
          throw ApplicationFailure.nonRetryable('the campaign is not paused', 'Conflict');
      },
    },
  );
  setHandler(
    stopUpdate,
    ({ actor, reason, cancelRunning }) => {
      state.countUpdate();
      if (state.phase === 'verifying') state.verificationStopped = true;
      state.stopRequest ??= { actor, reason: reason ?? '', cancelRunning: cancelRunning ?? true };
      state.audit(actor, state.phase === 'verifying' ? 'stop verification' : 'stop', reason);
    },
    {
      // A PI can stop a campaign in every phase, verification included.
      validator: ({ actor }) => {
        state.checkUpdateRoom('stop');
        requireRole(actor, ['pi'], 'stop a campaign');
        if (state.phase === 'finished')
          throw ApplicationFailure.nonRetryable('the campaign has finished', 'Conflict');
        if (state.phase === 'verifying' ? state.verificationStopped : state.stopRequest)
          throw ApplicationFailure.nonRetryable('the campaign is already stopping', 'Conflict');
      },
    },
  );
  setHandler(
    changeBudgetsUpdate,
    ({ actor, budgets, reason }) => {
      state.countUpdate();
      const before = JSON.stringify(state.budgets);
      state.changeBudgets(budgets);
      state.audit(
        actor,
        'change budgets',
        `${before} -> ${JSON.stringify(state.budgets)}${reason ? ` (${reason})` : ''}`,
      );
      return state.budgets;
    },
    {
      validator: ({ actor, budgets }) => {
        state.checkUpdateRoom();
        requireRole(actor, ['pi'], 'change budgets');
        requireOpen();
        state.validateBudgetChange(budgets);
      },
    },
  );
  setHandler(
    decideUpdate,
    ({ actor, hypothesisId, decision, reason }) => {
      state.countUpdate();
      state.decide(hypothesisId, decision, actor, reason);
    },
    {
      validator: ({ actor, hypothesisId }) => {
        state.checkUpdateRoom();
        requireRole(actor, ['pi'], 'approve or reject hypotheses');
        requireOpen();
        if (!state.pending.some((p) => p.hypothesis.id === hypothesisId)) {
          const known = state.knowsHypothesis(hypothesisId);
          throw ApplicationFailure.nonRetryable(
            known
              ? `hypothesis ${hypothesisId} is not pending (already decided)`
              : `unknown hypothesis ${hypothesisId}`,
            known ? 'Conflict' : 'NotFound',
          );
        }
      },
    },
  );
  setHandler(
    injectHypothesisUpdate,
    ({ actor, proposal }) => {
      state.countUpdate();
      const h = state.injectHuman(actor, proposal);
      return { hypothesisId: h.id };
    },
    {
      validator: ({ actor, proposal }) => {
        state.checkUpdateRoom();
        requireRole(actor, ['researcher', 'pi'], 'inject hypotheses');
        requireOpen();
        state.validateHumanProposal(proposal);
      },
    },
  );
  setHandler(
    addNoteUpdate,
    ({ actor, text, trialId }) => {
      state.countUpdate();
      state.addNote({ kind: 'human', author: actor.name, text, ...(trialId ? { trialId } : {}) });
      state.audit(actor, 'note', text.slice(0, 200));
    },
    {
      validator: ({ actor, text, trialId }) => {
        state.checkUpdateRoom();
        requireRole(actor, ['researcher', 'pi'], 'add notes');
        if (typeof text !== 'string' || text.trim() === '' || text.length > 5000)
          throw ApplicationFailure.nonRetryable(
            'text: a note needs 1 to 5000 characters',
            'InvalidInput',
          );
        if (trialId !== undefined && !state.trialById(trialId))
          throw ApplicationFailure.nonRetryable(`trialId: unknown trial ${trialId}`, 'NotFound');
      },
    },
  );
  const flagDecision = (decision: 'clear' | 'confirm') => ({
    validator: ({
      actor,
      trialId,
      flag,
      reason,
    }: {
      actor: Actor;
      trialId: string;
      flag: string;
      reason: string;
    }) => {
      state.checkUpdateRoom();
      requireRole(actor, ['pi'], `${decision} review flags`);
      const open = state.openFlag(trialId, flag);
      if (!open.ok) throw ApplicationFailure.nonRetryable(open.message, open.type);
      if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 2000)
        throw ApplicationFailure.nonRetryable(
          `reason: say why the flag is ${decision === 'clear' ? 'cleared' : 'confirmed'} (at most 2000 characters)`,
          'InvalidInput',
        );
    },
  });
  setHandler(
    clearFlagUpdate,
    ({ actor, trialId, flag, reason }) => {
      state.countUpdate();
      state.clearFlag(trialId, flag, actor, reason);
    },
    flagDecision('clear'),
  );
  setHandler(
    confirmFlagUpdate,
    ({ actor, trialId, flag, reason }) => {
      state.countUpdate();
      state.confirmFlag(trialId, flag, actor, reason);
    },
    flagDecision('confirm'),
  );

  setHandler(statusQuery, () => state.status(Date.now()));
  setHandler(trialsQuery, (opts) => state.trialsPage(opts ?? {}));
  setHandler(leaderboardQuery, (opts) => state.leaderboard(opts?.limit ?? 10));
  setHandler(pendingQuery, () => state.pending);
  setHandler(auditQuery, () => state.auditTrail);
  setHandler(notebookQuery, () => state.notebook);
  setHandler(reportQuery, () => state.report ?? null);
  setHandler(proposalsQuery, () => state.proposals.state);
}
