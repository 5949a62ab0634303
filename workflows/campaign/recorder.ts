/**
 * Trial records to MLflow in the background: several trials to one `recordTrials` activity
 * (RECORD_BATCH), or, for campaigns started before RECORD_BATCHES_PATCH, one `recordTrial` each.
 * Recording waits out an MLflow outage (retries without limit) without holding up the loop.
 */
import { CancellationScope, condition, patched } from '@temporalio/workflow';
import type { SeedResult } from '../../domain/schemas.js';
import type { CampaignState } from '../campaign-state.js';
import type { CampaignInput, TrialSummary } from '../types.js';
import type { Activities } from './runner.js';

/** Campaigns started before it record one trial per activity (recordTrial). */
export const RECORD_BATCHES_PATCH = 'record-batches';

/** Trial records per recording activity, their JSON size, and such activities at once. */
export const RECORD_BATCH = { items: 50, bytes: 512 * 1024, inFlight: 2 } as const;

export class TrialRecorder {
  private readonly batches = patched(RECORD_BATCHES_PATCH);
  private readonly recordings = new Set<Promise<void>>();
  private readonly queue: { trial: TrialSummary; seeds: SeedResult[] }[] = [];
  private batchesInFlight = 0;

  constructor(
    private readonly input: CampaignInput,
    private readonly state: CampaignState,
    private readonly recordActs: Activities,
  ) {}

  /** Resolves once every trial record added so far is written. */
  async recorded(): Promise<void> {
    if (this.batches) await condition(() => this.queue.length === 0 && this.recordings.size === 0);
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
  private send(): void {
    const { input, state } = this;
    while (this.queue.length > 0 && this.batchesInFlight < RECORD_BATCH.inFlight) {
      const items: { trial: TrialSummary; seeds: SeedResult[] }[] = [];
      let bytes = 0;
      while (this.queue.length > 0 && items.length < RECORD_BATCH.items) {
        const size = JSON.stringify(this.queue[0]).length;
        if (items.length > 0 && bytes + size > RECORD_BATCH.bytes) break;
        items.push(this.queue.shift()!);
        bytes += size;
      }
      this.batchesInFlight++;
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
        this.batchesInFlight--;
        this.send();
      });
    }
  }
}
