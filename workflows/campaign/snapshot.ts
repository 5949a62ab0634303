/**
 * The finished campaign's trial-records snapshot: one file of every trial record, so readers of
 * a finished campaign load it instead of searching the runs (they fall back to the search when
 * it is missing).
 */
import { ParentClosePolicy, patched, startChild, workflowInfo } from '@temporalio/workflow';
import { RECORDS_SNAPSHOT_AT_END_PATCH, RECORDS_SNAPSHOT_CHILD_PATCH } from '../patches.js';
import { recordsSnapshotWorkflow, recordsSnapshotWorkflowId } from '../records-snapshot.js';
import type { CampaignInput } from '../types.js';
import type { Activities } from './activities.js';
import { failureMessage } from './seed-results.js';
import type { CampaignState } from './state/campaign-state.js';

/** Writes (or starts the child workflow that writes) the snapshot; a failure becomes a note. */
export async function writeRecordsSnapshot(
  input: CampaignInput,
  state: CampaignState,
  recordActs: Pick<Activities, 'recordRecordsSnapshot'>,
): Promise<void> {
  // One snapshot of every trial record, so readers of a finished campaign load one file
  // instead of searching its runs. Readers fall back to the search when it is missing.
  if (patched(RECORDS_SNAPSHOT_AT_END_PATCH)) {
    const snapshot = {
      campaignId: input.campaignId,
      experimentId: state.context.data.mlflowExperimentId!,
      parentRunId: state.context.data.mlflowParentRunId!,
    };
    if (patched(RECORDS_SNAPSHOT_CHILD_PATCH)) {
      // Off the critical path: a child workflow writes it (seconds at thousands of trials),
      // abandoned when the campaign closes; only its start is awaited, not its result.
      try {
        await startChild(recordsSnapshotWorkflow, {
          workflowId: recordsSnapshotWorkflowId(workflowInfo().workflowId),
          taskQueue: workflowInfo().taskQueue,
          parentClosePolicy: ParentClosePolicy.ABANDON,
          args: [snapshot],
        });
      } catch (err) {
        // E.g. the workflow id is taken (a reset campaign ending again while the first runs).
        state.records.addNote({
          kind: 'error',
          author: 'gaplab',
          text: `the trial-records snapshot was not started (readers search the runs instead): ${failureMessage(err)}`,
        });
      }
    } else {
      try {
        await recordActs.recordRecordsSnapshot(snapshot);
      } catch (err) {
        state.records.addNote({
          kind: 'error',
          author: 'gaplab',
          text: `the trial-records snapshot was not written (readers search the runs instead): ${failureMessage(err)}`,
        });
      }
    }
  }
}
