/**
 * Runs trials: each seed on the experiment's queue behind the concurrency slots, scored by the
 * state, recorded to MLflow in the background; verification runs beside the baseline's re-run
 * on the fresh seeds. Trials run in one cancellation scope so a PI stop or a deadline can cancel
 * them together.
 */
import {
  ActivityCancellationType,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
} from '@temporalio/workflow';
import type { RunExperimentSeedInput } from '../../activities/experiment.js';
import type { Activities } from './activities.js';
import { SeedLanes } from './lanes.js';
import { TrialRecorder } from './recorder.js';
import {
  admit,
  failureMessage,
  isScheduleToStart,
  notRun,
  type QueueServed,
  type TrialStart,
} from './seed-results.js';
import type { SeedResult } from '../../domain/schemas.js';
import { TAIL_BUDGET, type CampaignState, type TrialRequest } from './state/campaign-state.js';
import { DEFAULT_SCHEDULE_TO_START_SECONDS, presets } from '../options.js';
import type { CampaignInput, TrialSummary } from '../types.js';
import { PHASE_STOPS_PATCH, patchedOrNew, SECRET_VERIFICATION_SEEDS_PATCH } from '../patches.js';

export class TrialRunner {
  /** Trials running now (search and target verifications), by id. */
  readonly inFlight = new Map<string, Promise<void>>();
  /** Trials in flight may be cancelled together (PI stop, deadline). */
  readonly scope = new CancellationScope();
  private readonly experimentActs: Activities;
  private readonly scheduleToStartSeconds: number;
  private readonly record: boolean;
  /** Some seed of this campaign ran on a worker of the experiment's queue. */
  private readonly served: QueueServed;
  private freshBaseline: Promise<void> | undefined;
  /** The secret verification seeds, once asked for. */
  private seedsDrawn: Promise<number[]> | undefined;
  private readonly seedActs: Activities;
  /**
   * The reference measurement running beside the search (`measureBeside`), settled or not; null
   * when the references were measured before the search began.
   */
  private referencesBeside: Promise<void> | null = null;
  private referencesPending = false;
  private readonly recorder: TrialRecorder;
  /** Short search seeds, several to a slot (campaign/lanes.ts). */
  private readonly lanes: SeedLanes;
  /** PHASE_STOPS_PATCH (state/lifecycle.ts): false replays a campaign started before it. */
  private readonly phaseStops = patchedOrNew(PHASE_STOPS_PATCH);

  constructor(
    private readonly input: CampaignInput,
    private readonly state: CampaignState,
    private readonly recordActs: Activities,
  ) {
    this.record = input.mlflow !== false;
    this.scheduleToStartSeconds =
      input.timing?.scheduleToStartSeconds ?? DEFAULT_SCHEDULE_TO_START_SECONDS;
    this.served = { yes: state.trials.all.some((t) => t.status !== 'cancelled') };
    this.recorder = new TrialRecorder(input, state, recordActs);
    this.lanes = new SeedLanes(input, state, this.served, {
      seedInput: (req, seed) => this.seedInput(req, seed),
      start: (req) => this.start(req),
      besideReferences: (req) => this.besideReferences(req),
    });
    this.seedActs = proxyActivities<Activities>(presets.drawSeeds());
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
    this.lanes.enable(mayStartTrials);
  }

  /** A free slot starts queued trials itself when seeds are batched. */
  fillLanes(): void {
    this.lanes.fill();
  }

  /** Whether new search trials may start as far as recording goes (recorder.ts RECORD_BACKLOG). */
  recordsKeepUp(): boolean {
    return this.recorder.roomForTrials();
  }

  /** Trial records not yet written. */
  recordBacklog(): number {
    return this.recorder.backlog();
  }

  /** Resolves once every trial record started so far is written. */
  recorded(): Promise<void> {
    return this.recorder.recorded();
  }

  /** Resolves once every trial in flight has ended. */
  async settled(): Promise<void> {
    await Promise.all([...this.inFlight.values()]);
  }

  /** Runs one seed on the experiment's queue; infrastructure failures become a failed seed. */
  private async runSeed(req: TrialRequest, seed: number, started: TrialStart): Promise<SeedResult> {
    const { input, state } = this;
    if (req.kind === 'search' && this.lanes.active()) return this.lanes.submit(req, seed, started);
    await state.slots.acquire();
    const skip = admit(state.lifecycle, req, started, Date.now());
    if (skip) {
      state.slots.release();
      return notRun(seed, `not run: ${skip}`);
    }
    try {
      for (;;) {
        try {
          const result = await this.experimentActs.runExperimentSeed(this.seedInput(req, seed));
          this.served.yes = true;
          // Charged provisionally before the slot is free, so a trial waiting for it sees it.
          state.context.addSeedCompute(req.id, result.durationSeconds);
          return result;
        } catch (err) {
          // A seed that waited out its schedule-to-start timeout on a queue whose workers ran
          // seeds before met busy workers, not missing ones: it waits again. So does a search
          // seed beside the reference measurement, whose seeds may hold the workers (if nobody
          // polls the queue, theirs time out too and stop the campaign).
          if (isScheduleToStart(err) && (this.served.yes || this.besideReferences(req))) continue;
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
        state.lifecycle.requestStop('error', error);
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
      state.slots.release();
    }
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
      ...(this.record && state.context.data.mlflowParentRunId
        ? { logRunId: state.context.data.mlflowParentRunId }
        : {}),
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
    // A search trial that ran beside the reference measurement is scored against it, so it
    // waits for it (its slot is free already).
    if (req.kind === 'search' && this.referencesPending) await this.referencesSettled();
    const finishedAt = new Date().toISOString();
    const trial = this.state.trials.finish(req, seeds, started.at ?? finishedAt, finishedAt);
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
    this.recorder.add(trial, seeds);
  }

  /** Measures a reference (baseline or optimum) unless it is known. */
  async measure(which: 'baseline' | 'optimum'): Promise<void> {
    const req = this.state.references.referenceRequest(which);
    if (!req) return;
    const { trial, seeds } = await this.scope.run(() => this.runTrialSeeds(req));
    this.state.references.setReference(which, trial, seeds);
  }

  /**
   * Measures the references (`work`: the baseline, then the optimum unless known) in the trials'
   * scope while the search runs beside it. Search trials that finish before it are scored once
   * it has settled; `referencesSettled` resolves then. Stops and deadlines reach it through the
   * search's own stop handling (a cancelled measurement stops the campaign with the reason).
   */
  measureBeside(work: () => Promise<void>): void {
    this.referencesPending = true;
    this.referencesBeside = this.scope.run(work).finally(() => {
      this.referencesPending = false;
      this.state.context.bump();
    });
    // Handled here (the campaign awaits it after the search, where a failure surfaces).
    this.referencesBeside.catch(() => undefined);
  }

  /** Whether `req` is a search trial running while the references are measured beside it. */
  private besideReferences(req: TrialRequest): boolean {
    return req.kind === 'search' && this.referencesPending;
  }

  /** Whether the reference measurement beside the search has settled (or never ran). */
  referencesDone(): boolean {
    return !this.referencesPending;
  }

  /** Resolves once the reference measurement beside the search has settled, however it ended. */
  async referencesSettled(): Promise<void> {
    await this.referencesBeside?.catch(() => undefined);
  }

  /** Resolves once the reference measurement beside the search has ended; rethrows its failure. */
  async referencesMeasured(): Promise<void> {
    await this.referencesBeside;
  }

  /**
   * Verifies a trial: re-runs it on the fresh seeds beside the baseline's re-run on the same
   * seeds (once per campaign), then scores fresh and hidden PGR paired seed by seed.
   */
  async verify(req: TrialRequest, scope: CancellationScope): Promise<void> {
    const { state } = this;
    try {
      await scope.run(() => this.secretSeeds(req));
    } catch (err) {
      // A stop that cancels the verification before its seeds are drawn: nothing ran.
      if (isCancellation(err)) return;
      throw err;
    }
    this.freshBaseline ??= (async () => {
      const b = state.verification.freshBaselineRequest();
      if (!b) return;
      const { trial, seeds } = await scope.run(() => this.runTrialSeeds(b));
      if (trial.status === 'succeeded') state.references.setFreshBaseline(trial, seeds);
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
        : state.lifecycle.verificationStopped
    )
      return;
    state.verification.add(req, trial, seeds);
  }

  /**
   * Verification seeds drawn in secret by a worker (activities/seeds.ts) before the first
   * verification, once per campaign (SECRET_VERIFICATION_SEEDS_PATCH): the history records them,
   * nobody could predict them from the campaign seed. `req` then runs on them.
   */
  private async secretSeeds(req: TrialRequest): Promise<void> {
    const n = this.state.verification.seedsToDraw();
    if (n > 0 && patched(SECRET_VERIFICATION_SEEDS_PATCH)) {
      this.seedsDrawn ??= this.seedActs.drawVerificationSeeds({ count: n });
      const drawn = await this.seedsDrawn;
      this.state.verification.useSeeds(req, drawn);
    } else this.state.verification.useSeeds(req);
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
        this.state.context.bump();
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
    const due = () => state.lifecycle.hardStop(Date.now()) !== null;
    const waitMs = () => state.lifecycle.msUntilNextDeadline(Date.now()) ?? undefined;
    while (!done) {
      await condition(() => done || due(), waitMs());
      if (done || !due()) continue;
      // During verification the search's own stop reason stands; the audit shows the PI stop.
      state.lifecycle.stopHard(Date.now());
      while (!done && !state.lifecycle.shouldCancelRunning())
        await condition(() => done || state.lifecycle.shouldCancelRunning(), waitMs());
      if (!done) scope.cancel();
      break;
    }
    await running;
    // Work that ended on its own as the deadline passed: the report still says so.
    if (state.lifecycle.hardStop(Date.now())?.reason === 'deadline')
      state.lifecycle.stopHard(Date.now());
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
      verifying
        ? state.lifecycle.verificationStopped
        : state.lifecycle.hardStop(Date.now()) !== null;
    while (!done()) {
      const waitMs = verifying ? null : state.lifecycle.msUntilNextDeadline(Date.now());
      await condition(() => done() || due(), waitMs ?? undefined);
      if (done() || !due()) continue;
      state.lifecycle.stopHard(Date.now());
      scope.cancel();
      break;
    }
    await running;
  }
}

/** Log tail each seed carries back: TAIL_BUDGET per seed, and per trial over all its seeds. */
function tailChars(seeds: number): number {
  return Math.max(256, Math.min(TAIL_BUDGET.perSeed, Math.floor(TAIL_BUDGET.perTrial / seeds)));
}
