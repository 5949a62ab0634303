/**
 * The campaign workflow: propose → validate → (approve) → run on N seeds → score → record →
 * account → decide, until the target PGR or a budget is reached. Human control arrives as
 * updates carrying the actor (campaign/handlers.ts); status, ledger, leaderboard and approvals
 * are queries (campaign/messages.ts). The state and its rules live in CampaignState; trials run
 * in campaign/runner.ts; this file is the wiring: phases, the main loop, continue-as-new.
 */
import {
  ActivityFailure,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { strategyTraits, type StrategyResult } from '../../domain/strategy.js';
import { CampaignState } from './state/campaign-state.js';
import { registerHandlers } from './handlers.js';
import { startArchiver } from './outbox.js';
import { resolveResultSources, sourceResolver } from './sources.js';
import type { Activities } from './activities.js';
import { TrialRunner } from './runner.js';
import { Notifier } from './notifier.js';
import { failureMessage } from './seed-results.js';
import { Waits } from './waits.js';
import { webhookOrigin } from '../../domain/notify.js';
import { presets } from '../options.js';
import { writeRecordsSnapshot } from './snapshot.js';
import type { CampaignInput, CampaignReport } from '../types.js';
import {
  PROPOSALS_AHEAD_PATCH,
  SEARCH_BESIDE_REFERENCES_PATCH,
  SEED_BATCHES_PATCH,
} from '../patches.js';

export * from './messages.js';

export async function campaignWorkflow(input: CampaignInput): Promise<CampaignReport> {
  const state = new CampaignState(input, () => Date.now());
  const historyLimit = input.timing?.historyEventLimit ?? 8000;
  const record = input.mlflow !== false;
  const strategyActs = proxyActivities<Activities>(
    presets.strategyCall(input.timing?.strategyCallSeconds),
  );
  const recordActs = proxyActivities<Activities>(presets.recording(workflowInfo().taskQueue));
  const system = { name: 'gaplab', role: 'system' } as const;

  const resolveSource = sourceResolver(input, state);
  registerHandlers(state, resolveSource);
  const runner = new TrialRunner(input, state, recordActs);
  const outboxDrained = startArchiver(state, recordActs, record);
  const waits = new Waits(state, runner);
  const notifier = new Notifier(state);

  const newRunDue = () =>
    workflowInfo().continueAsNewSuggested ||
    workflowInfo().historyLength > historyLimit ||
    state.lifecycle.updatesNearLimit;
  const setStatusAttribute = (phase: string) => {
    if (input.indexed) upsertSearchAttributes({ GaplabStatus: [phase] });
  };

  // ---- start ------------------------------------------------------------------------------
  if (state.context.data.runs === 0) {
    state.records.audit(
      { name: input.startedBy.name, role: input.startedBy.role },
      'start',
      `strategy ${input.strategy.name}, criteria v${input.criteria.version}${input.notify ? `, notifies ${webhookOrigin(input.notify.url)}${input.notify.piOnly ? ' (PI only)' : ''}` : ''}`,
    );
    if (input.startPaused)
      state.records.audit(
        { name: input.startedBy.name, role: input.startedBy.role },
        'pause',
        'started paused',
      );
  }
  if (record && !state.context.data.mlflowParentRunId) {
    waits.set("MLflow to open the campaign's run");
    const res = await recordActs.recordCampaignStart({
      campaignId: input.campaignId,
      problem: input.problem,
      criteria: input.criteria,
      strategy: input.strategy,
      startedBy: input.startedBy,
      seed: input.seed,
    });
    state.context.setMlflowRun(res.experimentId, res.runId);
  }

  // What the strategy declares (domain/strategy.ts): one that does not learn from results
  // (random search, Optuna's random sampler) proposes the same whatever the results so far. Not
  // under approval, though: a PI would face ideas asked for before their time.
  const traits = strategyTraits(input.strategy);
  const unmoderated = !input.criteria.criteria.approval.enabled;

  if (state.lifecycle.phase === 'starting' || state.lifecycle.phase === 'measuring') {
    state.lifecycle.setPhase('measuring');
    setStatusAttribute('measuring');
    // The baseline, then the optimum unless it is a number.
    const measureReferences = async () => {
      await runner.measure('baseline');
      if (!state.lifecycle.stopReason) await runner.measure('optimum');
    };
    // Whether the references make PGR meaningful.
    const checkReferences = () => {
      const problem = state.references.referenceProblem();
      if (problem) state.lifecycle.requestStop(problem.reason, problem.detail);
    };
    if (
      unmoderated &&
      traits.searchesBesideReferences &&
      !input.timing?.referencesFirst &&
      patched(SEARCH_BESIDE_REFERENCES_PATCH)
    ) {
      // Its proposals do not depend on the references, so its search starts at once in the
      // slots the measurement leaves free; each search trial is scored only once the references
      // are known (TrialRunner.measureBeside), and nothing is verified before.
      // The phase stays `measuring` until they are.
      state.lifecycle.allowSearchWhileMeasuring();
      runner.measureBeside(async () => {
        await measureReferences();
        checkReferences();
        state.lifecycle.setPhase('running');
        setStatusAttribute('running');
      });
    } else {
      // Baseline first: the strategy sees it, and relative constraints and the optimum's sanity
      // check need it.
      waits.set('the baseline and optimum measurement');
      await runner.untilHardStop(measureReferences, runner.scope);
      checkReferences();
      state.lifecycle.setPhase('running');
      setStatusAttribute('running');
    }
  }

  // ---- main loop --------------------------------------------------------------------------
  const inFlight = runner.inFlight;
  let proposing = false;
  // A model-free sampler is asked for one wave of trials (at least two) more than the slots
  // need, in the same call: one call (and its workflow task) then feeds several finished trials
  // instead of one call per finished trial (asking ahead would hide results from a strategy
  // that learns from them).
  const lookahead =
    unmoderated && traits.asksAhead && patched(PROPOSALS_AHEAD_PATCH)
      ? () =>
          Math.max(
            2,
            Math.ceil(state.lifecycle.budgets.concurrency / input.criteria.criteria.seedsPerTrial),
          )
      : () => 0;
  // Their short seeds also run several to a slot (domain/batches.ts), so a slot does not wait a
  // workflow task and an activity dispatch between one-second seeds; the queue is then refilled
  // in fewer, larger calls.
  const batches = unmoderated && traits.batchesSeeds && patched(SEED_BATCHES_PATCH);
  if (batches)
    runner.enableBatches(
      () =>
        state.lifecycle.searchOpen &&
        !state.lifecycle.paused &&
        !newRunDue() &&
        runner.recordsKeepUp() &&
        state.queue.canStartTrial(Date.now(), 0),
    );
  const proposalsWanted = (): number => {
    if (batches && state.context.seedBatchSize() > 1) return state.queue.proposalsForBatches();
    const due = state.queue.proposalsWanted(inFlight.size);
    // The same caps (trials left, queue limit) with `lookahead` more trials' worth of room.
    return due > 0 && lookahead() > 0
      ? state.queue.proposalsWanted(inFlight.size - lookahead())
      : due;
  };
  while (state.lifecycle.phase !== 'finished' && state.lifecycle.phase !== 'verifying') {
    const now = Date.now();
    state.queue.applyApprovalTimeouts(now);
    if (state.stopNow(now)) break;
    // A hypothesis for approval, a trial held for review, a pause: the webhook hears of it.
    notifier.check();
    // A long history or many updates (notes, approvals) in this run: continue as new, in every
    // phase of the loop (paused and waiting for approvals included), so Temporal's per-run
    // limits are never reached and a PI's stop always gets through.
    if (newRunDue()) {
      // Drain: start nothing new, let running trials and their records finish, then carry on
      // in a fresh history with only the state that matters.
      // The references too: a new run carries them, or measures them if they are not known.
      const drained = () => inFlight.size === 0 && runner.referencesDone();
      waits.set(waits.running('to end before the history is renewed'));
      await condition(() => drained() || state.lifecycle.stopRequest !== undefined);
      if (drained()) {
        waits.set(waits.records());
        await runner.recorded();
        await condition(allHandlersFinished);
        await notifier.settled();
        await outboxDrained();
        const { carried: _previous, ...rest } = input;
        return continueAsNew<typeof campaignWorkflow>({
          ...rest,
          carried: state.trials.carry(JSON.stringify(rest).length),
        });
      }
      continue;
    }
    if (state.lifecycle.paused) {
      waits.set(waits.paused());
      setStatusAttribute('paused');
      await condition(
        () => !state.lifecycle.paused || state.lifecycle.stopRequest !== undefined || newRunDue(),
      );
      setStatusAttribute(state.lifecycle.paused ? 'paused' : state.lifecycle.phase);
      continue;
    }

    // The best reached the target: verify it before stopping (the search goes on meanwhile).
    const targetCheck = state.verification.targetRequest();
    if (targetCheck) {
      runner.start(targetCheck);
      continue;
    }

    // Start queued (approved or unmoderated) hypotheses while budget and slots allow.
    let started = false;
    while (runner.recordsKeepUp() && state.queue.canStartTrial(Date.now(), inFlight.size)) {
      const req = state.queue.nextTrialRequest();
      if (!req) break;
      runner.start(req);
      started = true;
    }
    if (started) continue;
    // Free slots start queued trials themselves when seeds are batched.
    runner.fillLanes();

    // Ask the strategy for more when there is room for them.
    const wanted = proposalsWanted();
    if (!proposing && wanted > 0 && state.proposals.canPropose(Date.now())) {
      proposing = true;
      waits.set(`the strategy's proposals (${input.strategy.name})`);
      const view = state.strategyView(wanted);
      let result: StrategyResult;
      try {
        // A paid strategy never starts a call the dollar budget cannot cover by its estimate.
        const estimate =
          traits.paysPerCall && state.lifecycle.budgets.maxDollars !== undefined
            ? await strategyActs.estimateStrategyCost(view, input.criteria.criteria.hiddenMetrics)
            : null;
        // By the worst case (every agent uses its whole output allowance), as the agent itself checks.
        if (estimate && estimate.maxDollars > (view.budgetLeft.dollars ?? Infinity)) {
          result = { proposals: [], dropped: [], notes: [], dollars: 0, authors: [] };
          state.lifecycle.refuseForBudget(
            `the next strategy call may cost up to $${estimate.maxDollars.toFixed(4)}, more than the $${(view.budgetLeft.dollars ?? 0).toFixed(4)} left`,
          );
        } else {
          // The view holds nothing hidden; the names go along so the activity strips them again.
          result = await strategyActs.proposeHypotheses(view, state.views.hiddenNames());
        }
      } catch (err) {
        // The notebook gets a plain reason; the error itself goes to the audit trail.
        state.records.audit(system, 'strategy error', failureMessage(err));
        result = {
          proposals: [],
          dropped: [],
          notes: [],
          // What the last attempt spent or may have spent, as its heartbeats recorded it.
          dollars: spentBeforeFailure(err),
          authors: [],
          fatalError:
            'the strategy step kept failing after its retries (the audit trail and the worker log have the details)',
        };
      }
      if (result.budgetExhausted) state.lifecycle.refuseForBudget(result.budgetExhausted);
      // Code hypotheses' edits become stored snapshots (hashes in the state) before queueing.
      if (result.proposals.some((p) => p.edits)) waits.set('the edited sources to be stored');
      const sources = result.proposals.some((p) => p.edits)
        ? await resolveResultSources(result, resolveSource)
        : [];
      proposing = false;
      state.proposals.accept(result, Date.now(), sources);
      continue;
    }

    // Nothing to do right now: wait for a trial to finish, a message, or the next deadline.
    const seen = state.context.version;
    const waitMs = state.lifecycle.msUntilNextDeadline(Date.now());
    if (
      inFlight.size === 0 &&
      state.queue.queued.length === 0 &&
      state.queue.pending.length === 0 &&
      !state.proposals.canPropose(Date.now()) &&
      !state.proposals.waitingForStrategy(Date.now())
    ) {
      // Idle with nothing runnable and no way to get more: the budget check above will end it.
      state.lifecycle.markIdle(Date.now());
      continue;
    }
    waits.set(waits.loop());
    await condition(() => state.context.version !== seen, waitMs ?? undefined);
  }

  // ---- wind down and verify ---------------------------------------------------------------
  const cancelling = state.lifecycle.shouldCancelRunning();
  if (cancelling) runner.scope.cancel();
  if (inFlight.size > 0) waits.set(waits.running(cancelling ? 'to stop (cancelled)' : 'to end'));
  await runner.settled();
  // A search that ended before the references it ran beside (a budget of a few trials).
  if (!runner.referencesDone()) waits.set('the baseline and optimum measurement');
  await runner.referencesMeasured();

  state.lifecycle.setPhase('verifying');
  setStatusAttribute('verifying');
  // A PI stop that arrives during verification ends it, and so does the deadline (the report
  // then says what was not verified); a stop that ended the search still lets the best be verified.
  const verifyScope = new CancellationScope();
  await runner.untilHardStop(async () => {
    // The leaders first, then the reported best until it has its own verification (a leader
    // that fails is flagged, and the next one becomes the best).
    // At most 10 follow-ups: after that the report says "not verified" rather than run on.
    for (let round = 0; round <= 10 && !state.lifecycle.verificationStopped; round++) {
      const reqs = state.verification.finalRequests(round > 0);
      if (reqs.length === 0 && round > 0) break;
      for (const req of reqs) {
        waits.set(`verification of ${req.verifies ?? req.id} on fresh seeds`);
        await runner.verify(req, verifyScope);
        if (state.lifecycle.verificationStopped) break;
      }
    }
  }, verifyScope);

  waits.set(waits.records());
  await runner.recorded();
  // The webhook hears of the end first, so a warning that it did not answer is in the report.
  if (notifier.active) waits.set('the webhook to hear of the end');
  await notifier.ended(state.buildReport(new Date().toISOString()));
  waits.set('MLflow to write the notes and the audit trail');
  await outboxDrained();
  const report = state.buildReport(new Date().toISOString());
  if (record) {
    waits.set("MLflow to record the campaign's end");
    await recordActs.recordCampaignEnd({
      campaignId: input.campaignId,
      parentRunId: state.context.data.mlflowParentRunId!,
      report,
    });
    await writeRecordsSnapshot(input, state, recordActs);
  }
  waits.set(undefined);
  state.finish(report);
  setStatusAttribute('finished');
  await condition(allHandlersFinished);
  await outboxDrained();
  return report;
}

/**
 * The dollars a strategy call's last attempt recorded in its heartbeat details (charges and the
 * bounds of requests in flight), when it timed out; 0 when nothing was recorded.
 */
function spentBeforeFailure(err: unknown): number {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof TimeoutFailure)) return 0;
  const d = cause.lastHeartbeatDetails as { chargedNano?: unknown; reservedNano?: unknown } | null;
  const nano = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) && x > 0 ? x : 0);
  return (nano(d?.chargedNano) + nano(d?.reservedNano)) / 1e9;
}
