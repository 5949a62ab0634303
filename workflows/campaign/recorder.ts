/**
 * Trial records to MLflow in the background: several trials to one `recordTrials` activity
 * (RECORD_BATCH), or, for campaigns started before RECORD_BATCHES_PATCH, one `recordTrial` each.
 * Recording waits out an MLflow outage (retries without limit) without holding up the loop.
 * A recorded trial that changes later (a late flag, a PI's review, a rescored PGR) has its run
 * brought up to date (`recordTrialUpdates`, RECORD_UPDATES_PATCH), so the record says what the
 * campaign last said.
 */
import { CancellationScope, condition, patched } from '@temporalio/workflow';
import type { SeedResult } from '../../domain/schemas.js';
import type { CampaignState } from './state/campaign-state.js';
import type { CampaignInput, TrialSummary } from '../types.js';
import type { Activities } from './activities.js';
import {
  RECORD_BACKPRESSURE_PATCH,
  RECORD_BATCHES_PATCH,
  RECORD_SHARE_PATCH,
  RECORD_UPDATES_PATCH,
} from '../patches.js';

/**
 * Trial records per recording activity (at most `items`, and at least `parallel` when that many
 * wait: the activity writes that many at once, activities/recording.ts RECORD_PARALLEL), their
 * JSON size, and such activities at once.
 */
export const RECORD_BATCH = { items: 50, parallel: 4, bytes: 512 * 1024, inFlight: 2 } as const;

/**
 * Finished trials waiting for MLflow (queued or being written) beyond which no new search trial
 * starts: when trials finish faster than MLflow records them (instant trials, a slow or
 * unreachable MLflow), the backlog, the workflow's memory and the wait at a continue-as-new or at
 * the end stay bounded (about 20-30 s of MLflow at 17-25 records/s). A slow MLflow still never
 * stops running trials or the loop; it only keeps new ones from piling up behind it.
 */
export const RECORD_BACKLOG = 500;

/** What a trial's record holds that may change after it finished (records/trial-codec.ts TrialState). */
type RecordedState = Pick<TrialSummary, 'id' | 'flags' | 'pgr' | 'trust'>;
/** What readers rank by (trust and flags), and everything a record holds that may change. */
const reviewKey = (t: RecordedState): string => JSON.stringify([t.trust, t.flags]);
const stateKey = (t: RecordedState): string => JSON.stringify([t.trust, t.flags, t.pgr]);

export class TrialRecorder {
  private readonly batches = patched(RECORD_BATCHES_PATCH);
  /** New search trials wait while RECORD_BACKLOG records do (RECORD_BACKPRESSURE_PATCH). */
  readonly backpressure = this.batches && patched(RECORD_BACKPRESSURE_PATCH);
  /** Records per activity an even share of those waiting (RECORD_SHARE_PATCH). */
  private readonly share = this.batches && patched(RECORD_SHARE_PATCH);
  /** Recorded trials are brought up to date when they change (RECORD_UPDATES_PATCH). */
  private readonly updates = this.batches && patched(RECORD_UPDATES_PATCH);
  /** Trials that changed since their record (or last update) was sent, by id. */
  private readonly stale = new Set<string>();
  /** A change arrived that `send` has not looked at yet. */
  private changed = false;
  /** What each trial's record holds of its state as sent (reviewKey, stateKey), by id. */
  private readonly sentState = new Map<string, { review: string; state: string }>();
  /** `recorded()` waits: PGR-only changes go out too. */
  private flushing = false;
  private readonly recordings = new Set<Promise<void>>();
  private readonly queue: { trial: TrialSummary; seeds: SeedResult[] }[] = [];
  private batchesInFlight = 0;
  /** Records in the recording activities now running. */
  private itemsInFlight = 0;

  constructor(
    private readonly input: CampaignInput,
    private readonly state: CampaignState,
    private readonly recordActs: Activities,
  ) {
    if (this.updates) {
      state.context.onTrialChanged((id) => {
        this.stale.add(id);
        this.changed = true;
      });
      // Changes come from anywhere (a PI's review, verification, rescoring): one watcher sends
      // them, behind the new records, never cancelled with the campaign's scopes.
      void CancellationScope.nonCancellable(async () => {
        for (;;) {
          await condition(() => this.changed);
          this.changed = false;
          this.send();
        }
      });
    }
  }

  /** Whether a new search trial may start: fewer than RECORD_BACKLOG records wait. */
  roomForTrials(): boolean {
    const limit = this.input.timing?.recordBacklog ?? RECORD_BACKLOG;
    return !this.backpressure || this.queue.length + this.itemsInFlight < limit;
  }

  /** Trial records (and changes to recorded trials) not yet written. */
  backlog(): number {
    return this.batches
      ? this.queue.length + this.itemsInFlight + this.stale.size
      : this.recordings.size;
  }

  /** Resolves once every trial record added so far is written. */
  async recorded(): Promise<void> {
    if (this.updates) {
      this.flushing = true;
      this.send();
      await condition(
        () => this.queue.length === 0 && this.recordings.size === 0 && this.stale.size === 0,
      );
      this.flushing = false;
    } else if (this.batches)
      await condition(() => this.queue.length === 0 && this.recordings.size === 0);
    else await Promise.all([...this.recordings]);
  }

  add(trial: TrialSummary, seeds: SeedResult[]): void {
    if (this.batches) {
      this.queue.push({ trial, seeds });
      this.send();
      return;
    }
    const { input, state } = this;
    // Recording waits out an MLflow outage (retries without limit) without holding up the loop.
    const p = CancellationScope.nonCancellable(async () => {
      const res = await this.recordActs.recordTrial({
        campaignId: input.campaignId,
        problemId: input.problem.id,
        experimentId: state.context.data.mlflowExperimentId!,
        parentRunId: state.context.data.mlflowParentRunId!,
        trial,
        seeds,
        hiddenMetrics: input.criteria.criteria.hiddenMetrics,
      });
      state.trials.setRunId(trial.id, res.runId);
    });
    this.recordings.add(p);
    void p.finally(() => this.recordings.delete(p));
  }

  /**
   * Sends the waiting records, several trials to one recording activity (at most
   * RECORD_BATCH.items and RECORD_BATCH.bytes each), RECORD_BATCH.inFlight activities at a time:
   * the trials that finished while a batch was being written go together in the next.
   */
  private send(): void {
    const { input, state } = this;
    // An even share of the records waiting per activity: a burst of finished trials (a wave of
    // batches ending together) goes out over every recording activity instead of one taking it
    // all while the other, freed a moment later, finds nothing left. But never fewer than an
    // activity writes at once, so a few records waiting still keep its writers busy.
    const most = this.share
      ? Math.min(
          RECORD_BATCH.items,
          Math.max(RECORD_BATCH.parallel, Math.ceil(this.queue.length / RECORD_BATCH.inFlight)),
        )
      : RECORD_BATCH.items;
    while (this.queue.length > 0 && this.batchesInFlight < RECORD_BATCH.inFlight) {
      const items: { trial: TrialSummary; seeds: SeedResult[] }[] = [];
      let bytes = 0;
      while (this.queue.length > 0 && items.length < most) {
        const size = JSON.stringify(this.queue[0]).length;
        if (items.length > 0 && bytes + size > RECORD_BATCH.bytes) break;
        const item = this.queue.shift()!;
        items.push(item);
        bytes += size;
        // The record carries the trial as it is now: a later change is an update.
        if (this.updates) this.noteSent(item.trial);
      }
      this.batchesInFlight++;
      this.itemsInFlight += items.length;
      // Recording waits out an MLflow outage (retries without limit) without holding up the loop.
      const p = CancellationScope.nonCancellable(async () => {
        const res = await this.recordActs.recordTrials({
          campaignId: input.campaignId,
          problemId: input.problem.id,
          experimentId: state.context.data.mlflowExperimentId!,
          parentRunId: state.context.data.mlflowParentRunId!,
          hiddenMetrics: input.criteria.criteria.hiddenMetrics,
          items,
        });
        items.forEach((it, i) => {
          const runId = res.runIds[i];
          if (runId) state.trials.setRunId(it.trial.id, runId);
        });
      });
      this.recordings.add(p);
      void p.finally(() => {
        this.recordings.delete(p);
        this.batchesInFlight--;
        this.itemsInFlight -= items.length;
        // A loop held back by the backlog (RECORD_BACKLOG) looks again.
        if (this.backpressure) state.context.bump();
        this.send();
      });
    }
    if (this.updates && this.queue.length === 0) this.sendUpdates();
  }

  private noteSent(t: RecordedState): void {
    this.sentState.set(t.id, { review: reviewKey(t), state: stateKey(t) });
  }

  /**
   * Writes the changed state of recorded trials over their runs, once no new record waits, in
   * the same activity slots (RECORD_BATCH.inFlight). A trial whose record is not written yet is
   * left to it: its run id arriving is a change, looked at again then. A change of flags or
   * trust goes out at once; a PGR that only moved (the references or the pooled spread, which
   * rescore every trial in memory at once) waits for the next `recorded()` (a continue-as-new,
   * the end): readers of a running campaign read its workflow, and MLflow then takes one write
   * per trial instead of one per rescoring pass. Several changes to one trial while it waits
   * make one update.
   */
  private sendUpdates(): void {
    const { state } = this;
    const due: { runId: string; trial: RecordedState }[] = [];
    for (const id of [...this.stale]) {
      const t = state.context.trialById(id);
      const sent = this.sentState.get(id);
      if (!t?.mlflowRunId || sent?.state === stateKey(t)) this.stale.delete(id);
      else if (this.flushing || sent?.review !== reviewKey(t))
        due.push({ runId: t.mlflowRunId, trial: t });
    }
    // Trials compacted out of memory never change again: their entries go.
    if (this.sentState.size > 2 * state.trials.all.length + 100)
      for (const id of [...this.sentState.keys()])
        if (!state.context.trialById(id)) this.sentState.delete(id);
    while (due.length > 0 && this.batchesInFlight < RECORD_BATCH.inFlight) {
      const at = Date.now();
      const items: { runId: string; trial: RecordedState }[] = [];
      let bytes = 0;
      while (due.length > 0 && items.length < RECORD_BATCH.items) {
        const { runId, trial: t } = due[0]!;
        const trial: RecordedState = { id: t.id, flags: t.flags, pgr: t.pgr, trust: t.trust };
        const size = JSON.stringify(trial).length;
        if (items.length > 0 && bytes + size > RECORD_BATCH.bytes) break;
        due.shift();
        items.push({ runId, trial });
        bytes += size;
        this.stale.delete(t.id);
        this.noteSent(trial);
      }
      this.batchesInFlight++;
      const p = CancellationScope.nonCancellable(async () => {
        await this.recordActs.recordTrialUpdates({
          at,
          hiddenMetrics: this.input.criteria.criteria.hiddenMetrics,
          items,
        });
      });
      this.recordings.add(p);
      void p.finally(() => {
        this.recordings.delete(p);
        this.batchesInFlight--;
        this.send();
      });
    }
  }
}
