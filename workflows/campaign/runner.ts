/**
 * Runs trials: each seed on the experiment's queue behind the concurrency slots, scored by the
 * state, recorded to MLflow in the background; verification runs beside the baseline's re-run
 * on the fresh seeds. Trials run in one cancellation scope so a PI stop or a deadline can cancel
 * them together.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  TimeoutFailure,
} from '@temporalio/workflow';
import type { createActivities } from '../../activities/index.js';
import type { RunExperimentSeedInput } from '../../activities/experiment.js';
import { batchTake } from '../../domain/batches.js';
import type { SeedResult } from '../../domain/schemas.js';
import { TAIL_BUDGET, type CampaignState, type TrialRequest } from '../campaign-state.js';
import { DEFAULT_SCHEDULE_TO_START_SECONDS, presets } from '../options.js';
import { phaseStopsPatched } from '../state/stopping.js';
import type { CampaignInput, TrialSummary } from '../types.js';

export type Activities = ReturnType<typeof createActivities>;

/** Campaigns started before it record one trial per activity (recordTrial). */
export const RECORD_BATCHES_PATCH = 'record-batches';

/** Trial records per recording activity, their JSON size, and such activities at once. */
export const RECORD_BATCH = { items: 50, bytes: 512 * 1024, inFlight: 2 } as const;

export class TrialRunner {
  /** Trials running now (search and target verifications), by id. */
  readonly inFlight = new Map<string, Promise<void>>();
  /** Trials in flight may be cancelled together (PI stop, deadline). */
  readonly scope = new CancellationScope();
  private readonly recordings = new Set<Promise<void>>();
  private readonly experimentActs: Activities;
  private readonly scheduleToStartSeconds: number;
  private readonly record: boolean;
  /** Some seed of this campaign ran on a worker of the experiment's queue. */
  private queueServed: boolean;
  private freshBaseline: Promise<void> | undefined;
  /** Trial records go several to an activity (RECORD_BATCHES_PATCH); these wait for one. */
  private readonly recordBatches = patched(RECORD_BATCHES_PATCH);
  private readonly recordQueue: { trial: TrialSummary; seeds: SeedResult[] }[] = [];
  private recordBatchesInFlight = 0;
  /** Search seeds batched (enableBatches): waiting for a lane, and lanes waiting for a slot. */
  private batching = false;
  private readonly waitingSeeds: BatchedSeed[] = [];
  private lanesWaiting = 0;
  private mayPull: () => boolean = () => false;
  /** PHASE_STOPS_PATCH (state/stopping.ts): false replays a campaign started before it. */
  private readonly phaseStops = phaseStopsPatched();

  constructor(
    private readonly input: CampaignInput,
    private readonly state: CampaignState,
    private readonly recordActs: Activities,
  ) {
    this.record = input.mlflow !== false;
    this.scheduleToStartSeconds =
      input.timing?.scheduleToStartSeconds ?? DEFAULT_SCHEDULE_TO_START_SECONDS;
    this.queueServed = state.trials.some((t) => t.status !== 'cancelled');
    this.experimentActs = proxyActivities<Activities>({
      ...presets.experimentRun(
        input.experiment.timeoutSeconds,
        input.timing?.heartbeatTimeoutSeconds ?? 30,
        input.experiment.taskQueue,
        this.scheduleToStartSeconds,
      ),
      cancellationType: ActivityCancellationType.TRY_CANCEL,
    });
  }

  /**
   * Short search seeds run in batches from now on (domain/batches.ts). A free slot starts queued
   * trials itself to fill its batch while `mayStartTrials` (the main loop's own rule for starting
   * trials: running, not paused, not draining, budgets and stops allowing).
   */
  enableBatches(mayStartTrials: () => boolean): void {
    this.batching = true;
    this.mayPull = () => this.state.seedBatchSize() > 1 && mayStartTrials();
    this.state.enableSeedBatches();
  }

  /** Resolves once every trial record started so far is written. */
  async recorded(): Promise<void> {
    if (this.recordBatches)
      await condition(() => this.recordQueue.length === 0 && this.recordings.size === 0);
    else await Promise.all([...this.recordings]);
  }

  /** Resolves once every trial in flight has ended. */
  async settled(): Promise<void> {
    await Promise.all([...this.inFlight.values()]);
  }

  /** Runs one seed on the experiment's queue; infrastructure failures become a failed seed. */
  private async runSeed(req: TrialRequest, seed: number, started: TrialStart): Promise<SeedResult> {
    const { input, state } = this;
    if (req.kind === 'search' && this.batching && state.seedBatchSize() > 1)
      return this.runBatched(req, seed, started);
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
          const result = await this.experimentActs.runExperimentSeed(this.seedInput(req, seed));
          this.queueServed = true;
          // Charged provisionally before the slot is free, so a trial waiting for it sees it.
          state.noteSeedCompute(req.id, result.durationSeconds);
          return result;
        } catch (err) {
          // A seed that waited out its schedule-to-start timeout on a queue whose workers ran
          // seeds before met busy workers, not missing ones: it waits again.
          if (this.queueServed && isScheduleToStart(err)) continue;
          throw err;
        }
      }
    } catch (err) {
      if (isCancellation(err))
        return { seed, status: 'cancelled', metrics: {}, durationSeconds: 0, error: 'cancelled' };
      if (isScheduleToStart(err)) {
        // No worker of the queue ever took a seed: end the campaign with the reason rather than
        // fail every trial.
        const error = `no worker polls queue ${input.experiment.taskQueue} for ${this.scheduleToStartSeconds} s`;
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

  /**
   * Batched seeds (domain/batches.ts): a search seed waits for a lane, and a lane (one slot)
   * runs the seeds waiting when it gets its slot, several to one experiment activity. Only
   * for seeds well under BATCH_SECONDS, so results still arrive within seconds.
   */
  private runBatched(req: TrialRequest, seed: number, started: TrialStart): Promise<SeedResult> {
    return new Promise<SeedResult>((resolve) => {
      this.waitingSeeds.push({ req, seed, started, resolve });
      if (this.lanesWaiting === 0) void this.lane();
    });
  }

  /**
   * One slot's turn: takes the seeds waiting (an even share of the work there is, at most a
   * batch), starting queued trials for more while the campaign may start new work, and runs
   * them. Trials start only here, as a slot takes them, so a drain (continue-as-new, a stop)
   * waits for the batches running, not for trials queued behind them.
   */
  private async lane(): Promise<void> {
    const { state } = this;
    this.lanesWaiting++;
    try {
      await state.acquireSlot();
    } finally {
      this.lanesWaiting--;
    }
    const jobs: BatchedSeed[] = [];
    try {
      const queued = this.mayPull()
        ? state.queueLength() * this.input.criteria.criteria.seedsPerTrial
        : 0;
      const take = batchTake(
        this.waitingSeeds.length + queued,
        state.seedBatchSize(),
        state.budgets.concurrency,
      );
      while (jobs.length < take) {
        if (this.waitingSeeds.length === 0) {
          // Start the next queued trial: its seeds join the waiting ones at once.
          const req = this.mayPull() ? state.nextTrialRequest() : null;
          if (!req) break;
          this.start(req);
          if (this.waitingSeeds.length === 0) break;
          continue;
        }
        const job = this.waitingSeeds.shift()!;
        // A trial starts when its first seed gets a slot; if a budget ran out meanwhile, it
        // does not start at all.
        const skip =
          job.started.at === undefined ? state.newWorkRefused(Date.now(), job.req) : null;
        if (skip) {
          job.resolve(notRun(job.seed, `not run: ${skip}`));
          continue;
        }
        job.started.at ??= new Date().toISOString();
        jobs.push(job);
      }
      // More work than this lane took: the next free slot serves it.
      this.fillLanes();
      if (jobs.length > 0) await this.runBatch(jobs);
    } finally {
      state.releaseSlot();
      this.fillLanes();
    }
  }

  /** A lane waits for the next free slot whenever there is work for it and none waits yet. */
  fillLanes(): void {
    if (!this.batching || this.lanesWaiting > 0) return;
    if (this.waitingSeeds.length > 0 || (this.mayPull() && this.state.queueLength() > 0))
      void this.lane();
  }

  private async runBatch(jobs: BatchedSeed[]): Promise<void> {
    const { input, state } = this;
    const inputs = jobs.map((j) => this.seedInput(j.req, j.seed));
    const timeouts = inputs.reduce((s, i) => s + (i.timeoutSeconds ?? 0), 0);
    const acts = proxyActivities<Activities>({
      ...presets.experimentRun(
        timeouts,
        input.timing?.heartbeatTimeoutSeconds ?? 30,
        input.experiment.taskQueue,
        this.scheduleToStartSeconds,
      ),
      cancellationType: ActivityCancellationType.TRY_CANCEL,
    });
    const deadline = state.deadlineMs();
    let results: SeedResult[];
    try {
      for (;;) {
        try {
          const out = await acts.runExperimentSeeds({
            jobs: inputs,
            ...(deadline !== null ? { notAfterMs: deadline } : {}),
          });
          this.queueServed = true;
          results = jobs.map(
            (j, i) =>
              out.results[i] ?? notRun(j.seed, 'the worker returned no result for it', 'failed'),
          );
          // The trial started when its first seed did, by the worker's clock.
          jobs.forEach((j, i) => {
            const t = out.timings[i];
            if (t && t.startedMs > 0 && !j.started.byWorker) {
              j.started.at = new Date(t.startedMs).toISOString();
              j.started.byWorker = true;
            }
          });
          break;
        } catch (err) {
          if (this.queueServed && isScheduleToStart(err)) continue;
          throw err;
        }
      }
    } catch (err) {
      if (isCancellation(err)) results = jobs.map((j) => notRun(j.seed, 'cancelled'));
      else if (isScheduleToStart(err)) {
        const error = `no worker polls queue ${input.experiment.taskQueue} for ${this.scheduleToStartSeconds} s`;
        state.requestStop('error', error);
        results = jobs.map((j) => notRun(j.seed, error, 'failed'));
      } else {
        const error = failureMessage(err);
        results = jobs.map((j) => notRun(j.seed, error, 'failed'));
      }
    }
    jobs.forEach((j, i) => {
      const r = results[i]!;
      if (r.status !== 'cancelled') state.noteSeedCompute(j.req.id, r.durationSeconds);
      j.resolve(r);
    });
  }

  /** What the experiment activity gets for one seed of a trial. */
  private seedInput(req: TrialRequest, seed: number): RunExperimentSeedInput {
    const { input, state } = this;
    return {
      experiment: input.experiment.name,
      params: req.hypothesis.params,
      ...(req.hypothesis.sourceHash ? { sourceHash: req.hypothesis.sourceHash } : {}),
      seed,
      objective: input.criteria.criteria.metric,
      // Adaptive for search trials (state/trials.ts seedTimeoutSeconds), never above the limit.
      timeoutSeconds: req.timeoutSeconds ?? input.experiment.timeoutSeconds,
      campaignId: input.campaignId,
      trialId: req.id,
      // Tails stay small and bounded per trial; the full logs go to the campaign's MLflow run.
      tailChars: tailChars(req.seeds.length),
      ...(this.record && state.mlflowParentRunId ? { logRunId: state.mlflowParentRunId } : {}),
    };
  }

  /** Runs a trial's seeds, has the state score it, and records it in the background. */
  async runTrialSeeds(req: TrialRequest): Promise<{ trial: TrialSummary; seeds: SeedResult[] }> {
    const started: TrialStart = {};
    const limit = tailChars(req.seeds.length);
    // Seeds from a worker that ignores the tail budget are cut here.
    const seeds = (await Promise.all(req.seeds.map((s) => this.runSeed(req, s, started)))).map(
      (r) =>
        r.logTail && r.logTail.length > limit ? { ...r, logTail: r.logTail.slice(-limit) } : r,
    );
    const finishedAt = new Date().toISOString();
    const trial = this.state.finishTrial(req, seeds, started.at ?? finishedAt, finishedAt);
    // MLflow gets the hypothesis's full rationale and expected effect (the state keeps prefixes).
    if (this.record)
      this.recordTrialLater(
        {
          ...trial,
          rationale: req.hypothesis.rationale,
          ...(req.hypothesis.expectedEffect
            ? { expectedEffect: req.hypothesis.expectedEffect }
            : {}),
        },
        seeds,
      );
    return { trial, seeds };
  }

  private recordTrialLater(trial: TrialSummary, seeds: SeedResult[]): void {
    if (this.recordBatches) {
      this.recordQueue.push({ trial, seeds });
      this.sendRecords();
      return;
    }
    const { input, state } = this;
    // Recording waits out an MLflow outage (retries without limit) without holding up the loop.
    const p = CancellationScope.nonCancellable(async () => {
      const res = await this.recordActs.recordTrial({
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
    this.recordings.add(p);
    void p.finally(() => this.recordings.delete(p));
  }

  /**
   * Sends the waiting records, several trials to one recording activity (at most
   * RECORD_BATCH.items and RECORD_BATCH.bytes each), RECORD_BATCH.inFlight activities at a time:
   * the trials that finished while a batch was being written go together in the next.
   */
  private sendRecords(): void {
    const { input, state } = this;
    while (this.recordQueue.length > 0 && this.recordBatchesInFlight < RECORD_BATCH.inFlight) {
      const items: { trial: TrialSummary; seeds: SeedResult[] }[] = [];
      let bytes = 0;
      while (this.recordQueue.length > 0 && items.length < RECORD_BATCH.items) {
        const size = JSON.stringify(this.recordQueue[0]).length;
        if (items.length > 0 && bytes + size > RECORD_BATCH.bytes) break;
        items.push(this.recordQueue.shift()!);
        bytes += size;
      }
      this.recordBatchesInFlight++;
      // Recording waits out an MLflow outage (retries without limit) without holding up the loop.
      const p = CancellationScope.nonCancellable(async () => {
        const res = await this.recordActs.recordTrials({
          campaignId: input.campaignId,
          problemId: input.problem.id,
          experimentId: state.mlflowExperimentId!,
          parentRunId: state.mlflowParentRunId!,
          hiddenMetrics: input.criteria.criteria.hiddenMetrics,
          items,
        });
        items.forEach((it, i) => {
          const runId = res.runIds[i];
          if (runId) state.setRunId(it.trial.id, runId);
        });
      });
      this.recordings.add(p);
      void p.finally(() => {
        this.recordings.delete(p);
        this.recordBatchesInFlight--;
        this.sendRecords();
      });
    }
  }

  /** Measures a reference (baseline or optimum) unless it is known. */
  async measure(which: 'baseline' | 'optimum'): Promise<void> {
    const req = this.state.referenceRequest(which);
    if (!req) return;
    const { trial, seeds } = await this.scope.run(() => this.runTrialSeeds(req));
    this.state.setReference(which, trial, seeds);
  }

  /**
   * Verifies a trial: re-runs it on the fresh seeds beside the baseline's re-run on the same
   * seeds (once per campaign), then scores fresh and hidden PGR paired seed by seed.
   */
  async verify(req: TrialRequest, scope: CancellationScope): Promise<void> {
    const { state } = this;
    this.freshBaseline ??= (async () => {
      const b = state.freshBaselineRequest();
      if (!b) return;
      const { trial, seeds } = await scope.run(() => this.runTrialSeeds(b));
      if (trial.status === 'succeeded') state.setFreshBaseline(trial, seeds);
      else this.freshBaseline = undefined;
    })();
    const [{ trial, seeds }] = await Promise.all([
      scope.run(() => this.runTrialSeeds(req)),
      this.freshBaseline,
    ]);
    // A stop of the verification phase itself (a PI's, or the deadline) discards what it cut
    // short: it verified nothing and failed nothing. A run it let finish counts.
    if (
      this.phaseStops
        ? scope !== this.scope && scope.consideredCancelled
        : state.verificationStopped
    )
      return;
    state.addVerification(req, trial, seeds);
  }

  /** Starts a search trial, or a target verification, in the background. */
  start(req: TrialRequest): void {
    const work =
      req.kind === 'verification'
        ? () => this.verify(req, this.scope)
        : async () => {
            await this.runTrialSeeds(req);
          };
    const p = this.scope
      .run(work)
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.inFlight.delete(req.id);
        this.state.bump();
      });
    this.inFlight.set(req.id, p);
  }

  /**
   * Runs `work` (the reference measurement, the verification) until it ends or a hard stop comes
   * due: a PI stop or the deadline (during verification, a stop of the verification itself).
   * Then records the stop and cancels `scope`, unless the PI asked to let running work finish
   * (`cancelRunning: false`): then it finishes, and the deadline still cuts it short. `work`
   * starts nothing new once stopped (it checks the stop reason / `verificationStopped`).
   */
  async untilHardStop(work: () => Promise<void>, scope: CancellationScope): Promise<void> {
    const { state } = this;
    let done = false;
    const running = work().finally(() => {
      done = true;
    });
    if (!this.phaseStops) return this.untilHardStopBeforePhaseStops(running, () => done, scope);
    const due = () => state.hardStopDue(Date.now()) !== null;
    const waitMs = () => state.msUntilNextDeadline(Date.now()) ?? undefined;
    while (!done) {
      await condition(() => done || due(), waitMs());
      if (done || !due()) continue;
      // During verification the search's own stop reason stands; the audit shows the PI stop.
      state.stopHard(Date.now());
      while (!done && !state.shouldCancelRunning())
        await condition(() => done || state.shouldCancelRunning(), waitMs());
      if (!done) scope.cancel();
      break;
    }
    await running;
    // Work that ended on its own as the deadline passed: the report still says so.
    if (state.hardStopDue(Date.now()) === 'deadline') state.stopHard(Date.now());
  }

  /**
   * The old rules, for campaigns started before PHASE_STOPS_PATCH: the verification (run in its
   * own scope) waits for a PI stop of the verification only, without deadline timers; a stop
   * cancels at once.
   */
  private async untilHardStopBeforePhaseStops(
    running: Promise<void>,
    done: () => boolean,
    scope: CancellationScope,
  ): Promise<void> {
    const { state } = this;
    const verifying = scope !== this.scope;
    const due = () =>
      verifying ? state.verificationStopped : state.hardStopDue(Date.now()) !== null;
    while (!done()) {
      const waitMs = verifying ? null : state.msUntilNextDeadline(Date.now());
      await condition(() => done() || due(), waitMs ?? undefined);
      if (done() || !due()) continue;
      state.stopHard(Date.now());
      scope.cancel();
      break;
    }
    await running;
  }
}

/** When a trial started: its first seed's slot, then (batched) its first seed's real start. */
interface TrialStart {
  at?: string;
  byWorker?: boolean;
}

/** A search seed waiting for a lane. */
interface BatchedSeed {
  req: TrialRequest;
  seed: number;
  started: TrialStart;
  resolve: (r: SeedResult) => void;
}

function notRun(
  seed: number,
  error: string,
  status: 'cancelled' | 'failed' = 'cancelled',
): SeedResult {
  return { seed, status, metrics: {}, durationSeconds: 0, error };
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

export function failureMessage(err: unknown): string {
  if (err instanceof ApplicationFailure && err.message) return err.message;
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
