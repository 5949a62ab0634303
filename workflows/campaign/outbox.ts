/**
 * Long texts and entries evicted from the bounded state go to the campaign's MLflow run, in
 * batches, in the background; the workflow drains the outbox before it continues as new and
 * before it ends, so nothing is lost.
 */
import { CancellationScope, condition } from '@temporalio/workflow';
import type { CampaignState } from './state/campaign-state.js';
import type { Activities } from './activities.js';
import { failureMessage } from './seed-results.js';

/** Starts the background writer; returns a function that resolves once the outbox is empty. */
export function startArchiver(
  state: CampaignState,
  recordActs: Activities,
  record: boolean,
): () => Promise<void> {
  let archiving = false;
  void (async () => {
    for (;;) {
      await condition(
        () =>
          state.records.outbox.length > 0 &&
          (!record || state.context.data.mlflowParentRunId !== undefined),
      );
      if (!record) {
        state.records.archived(state.records.outbox.length);
        continue;
      }
      archiving = true;
      // Batches stay far below the payload limit (one text is at most a note or an eviction).
      let size = 0;
      let n = 0;
      while (
        n < state.records.outbox.length &&
        (n === 0 || size + state.records.outbox[n]!.text.length < 256 * 1024)
      )
        size += state.records.outbox[n++]!.text.length;
      const texts = state.records.outbox.slice(0, n);
      try {
        await CancellationScope.nonCancellable(() =>
          recordActs.recordTexts({ runId: state.context.data.mlflowParentRunId!, texts }),
        );
      } catch (err) {
        // Recording retries without limit; this is a permanent refusal: say so, go on.
        state.records.audit(
          { name: 'gaplab', role: 'system' },
          'archive failed',
          failureMessage(err),
        );
      }
      state.records.archived(n);
      archiving = false;
      state.context.bump();
    }
  })();
  return () => condition(() => state.records.outbox.length === 0 && !archiving);
}
