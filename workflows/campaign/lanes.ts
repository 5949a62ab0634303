/**
 * Batched seeds (domain/batches.ts): short search seeds of model-free samplers run several to a
 * slot, one after another in one `runExperimentSeeds` activity, so a slot does not wait a
 * workflow task and an activity dispatch between them. A *lane* is one slot's turn: it takes the
 * seeds waiting and starts queued trials itself to fill its batch.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  patched,
  proxyActivities,
} from '@temporalio/workflow';
import type { RunExperimentSeedInput, SeedBatchResult } from '../../activities/experiment.js';
import { batchTake } from '../../domain/batches.js';
import type { SeedResult } from '../../domain/schemas.js';
import type { CampaignState, TrialRequest } from './state/campaign-state.js';
import { DEFAULT_SCHEDULE_TO_START_SECONDS, presets } from '../options.js';
import type { CampaignInput } from '../types.js';
import type { Activities } from './activities.js';
import {
  admit,
  failureMessage,
  isScheduleToStart,
  notRun,
  type QueueServed,
  type TrialStart,
} from './seed-results.js';
import { BATCH_CANCEL_RESULTS_PATCH, BATCH_SHARE_REMAINING_PATCH } from '../patches.js';

/** The seeds a cancelled batch finished, from its activity's CancelledFailure (if it said). */
function partialOf(err: unknown): SeedBatchResult | undefined {
  const cancelled =
    err instanceof ActivityFailure && err.cause instanceof CancelledFailure
      ? err.cause
      : err instanceof CancelledFailure
        ? err
        : undefined;
  const partial = cancelled?.details?.[0] as Partial<SeedBatchResult> | undefined;
  return Array.isArray(partial?.results) && Array.isArray(partial?.timings)
    ? (partial as SeedBatchResult)
    : undefined;
}

/** A search seed waiting for a lane. */
interface BatchedSeed {
  req: TrialRequest;
  seed: number;
  started: TrialStart;
  resolve: (r: SeedResult) => void;
}

export class SeedLanes {
  private enabled = false;
  private readonly waitingSeeds: BatchedSeed[] = [];
  private lanesWaiting = 0;
  private mayPull: () => boolean = () => false;
  private shareRemaining = false;
  private cancelResults = false;
  private readonly scheduleToStartSeconds: number;

  constructor(
    private readonly input: CampaignInput,
    private readonly state: CampaignState,
    private readonly served: QueueServed,
    private readonly hooks: {
      /** The experiment activity's input for one seed of a trial. */
      seedInput: (req: TrialRequest, seed: number) => RunExperimentSeedInput;
      /** Starts a trial (its seeds come back through `submit` at once). */
      start: (req: TrialRequest) => void;
      /** Whether the trial runs while the references are measured beside it. */
      besideReferences: (req: TrialRequest) => boolean;
    },
  ) {
    this.scheduleToStartSeconds =
      input.timing?.scheduleToStartSeconds ?? DEFAULT_SCHEDULE_TO_START_SECONDS;
  }

  /**
   * Batches from now on. A lane starts queued trials while `mayStartTrials` (the main loop's
   * own rule: running, not paused, not draining, budgets and stops allowing).
   */
  enable(mayStartTrials: () => boolean): void {
    this.enabled = true;
    this.mayPull = () => this.state.context.seedBatchSize() > 1 && mayStartTrials();
    // Batches sized with BATCH_SLACK, shares of the campaign's remaining work (domain/batches.ts);
    // runs that began before keep the old rules so their histories replay.
    this.shareRemaining = patched(BATCH_SHARE_REMAINING_PATCH);
    this.cancelResults = patched(BATCH_CANCEL_RESULTS_PATCH);
    this.state.context.enableSeedBatches(this.shareRemaining);
  }

  /** Whether search seeds go through the lanes now (on, and seeds short enough to batch). */
  active(): boolean {
    return this.enabled && this.state.context.seedBatchSize() > 1;
  }

  /** A search seed waits for a lane; it resolves with the seed's result. */
  submit(req: TrialRequest, seed: number, started: TrialStart): Promise<SeedResult> {
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
      await state.slots.acquire();
    } finally {
      this.lanesWaiting--;
    }
    const jobs: BatchedSeed[] = [];
    try {
      const perTrial = this.input.criteria.criteria.seedsPerTrial;
      const queued = this.mayPull() ? state.queue.queued.length * perTrial : 0;
      // The even share is of the campaign's remaining seeds: those waiting, and every trial
      // the trial budget still allows (queued or not yet proposed).
      const notStarted =
        this.shareRemaining && this.mayPull() ? state.lifecycle.trialsNotStarted() : null;
      const take = batchTake(
        this.waitingSeeds.length + queued,
        state.context.seedBatchSize(),
        state.lifecycle.budgets.concurrency,
        notStarted === null ? undefined : this.waitingSeeds.length + notStarted * perTrial,
      );
      while (jobs.length < take) {
        if (this.waitingSeeds.length === 0) {
          // Start the next queued trial: its seeds join the waiting ones at once.
          const req = this.mayPull() ? state.queue.nextTrialRequest() : null;
          if (!req) break;
          this.hooks.start(req);
          if (this.waitingSeeds.length === 0) break;
          continue;
        }
        const job = this.waitingSeeds.shift()!;
        const skip = admit(state.lifecycle, job.req, job.started, Date.now());
        if (skip) {
          job.resolve(notRun(job.seed, `not run: ${skip}`));
          continue;
        }
        jobs.push(job);
      }
      // More work than this lane took: the next free slot serves it.
      this.fill();
      if (jobs.length > 0) await this.runBatch(jobs);
    } finally {
      state.slots.release();
      this.fill();
    }
  }

  /** A lane waits for the next free slot whenever there is work for it and none waits yet. */
  fill(): void {
    if (!this.enabled || this.lanesWaiting > 0) return;
    if (this.waitingSeeds.length > 0 || (this.mayPull() && this.state.queue.queued.length > 0))
      void this.lane();
  }

  private async runBatch(jobs: BatchedSeed[]): Promise<void> {
    const { input, state } = this;
    const inputs = jobs.map((j) => this.hooks.seedInput(j.req, j.seed));
    const timeouts = inputs.reduce((s, i) => s + (i.timeoutSeconds ?? 0), 0);
    const acts = proxyActivities<Activities>({
      ...presets.experimentRun(
        timeouts,
        input.timing?.heartbeatTimeoutSeconds ?? 30,
        input.experiment.taskQueue,
        this.scheduleToStartSeconds,
      ),
      cancellationType: this.cancelResults
        ? ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
        : ActivityCancellationType.TRY_CANCEL,
    });
    const deadline = state.lifecycle.deadlineMs();
    let results: SeedResult[];
    try {
      for (;;) {
        try {
          const out = await acts.runExperimentSeeds({
            jobs: inputs,
            ...(deadline !== null ? { notAfterMs: deadline } : {}),
          });
          this.served.yes = true;
          results = jobs.map(
            (j, i) =>
              out.results[i] ?? notRun(j.seed, 'the worker returned no result for it', 'failed'),
          );
          startedByWorker(jobs, out.timings);
          break;
        } catch (err) {
          // Busy workers, not missing ones (runner.ts runSeed).
          if (
            isScheduleToStart(err) &&
            (this.served.yes || jobs.some((j) => this.hooks.besideReferences(j.req)))
          )
            continue;
          throw err;
        }
      }
    } catch (err) {
      // Cancelled (a stop, the deadline): the seeds the batch finished keep their results. A
      // batch whose worker is gone ends in a timeout after the cancellation: cancelled too.
      const cancelled =
        isCancellation(err) ||
        (this.cancelResults && CancellationScope.current().consideredCancelled);
      if (cancelled) {
        const partial = this.cancelResults ? partialOf(err) : undefined;
        if (partial) startedByWorker(jobs, partial.timings);
        results = jobs.map((j, i) => partial?.results[i] ?? notRun(j.seed, 'cancelled'));
      } else if (isScheduleToStart(err)) {
        const error = `no worker polls queue ${input.experiment.taskQueue} for ${this.scheduleToStartSeconds} s`;
        state.lifecycle.requestStop('error', error);
        results = jobs.map((j) => notRun(j.seed, error, 'failed'));
      } else {
        const error = failureMessage(err);
        results = jobs.map((j) => notRun(j.seed, error, 'failed'));
      }
    }
    jobs.forEach((j, i) => {
      const r = results[i]!;
      if (r.status !== 'cancelled') state.context.addSeedCompute(j.req.id, r.durationSeconds);
      j.resolve(r);
    });
  }
}

/** A trial started when its first seed did, by the worker's clock. */
function startedByWorker(
  jobs: readonly { started: TrialStart }[],
  timings: readonly { startedMs: number }[],
): void {
  jobs.forEach((j, i) => {
    const t = timings[i];
    if (t && t.startedMs > 0 && !j.started.byWorker) {
      j.started.at = new Date(t.startedMs).toISOString();
      j.started.byWorker = true;
    }
  });
}
