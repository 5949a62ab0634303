/**
 * The records snapshot of a finished campaign (activities/recording.ts `recordRecordsSnapshot`),
 * written off the campaign's critical path: the campaign starts this workflow as a child once its
 * end is recorded, abandoned when the campaign closes (`RECORDS_SNAPSHOT_CHILD_PATCH`,
 * campaign.ts), and returns its report without waiting for it. The activity runs on the
 * recording queue with the campaign's recording options (retried until MLflow is back); if it
 * still fails, so does this workflow, and readers search the campaign's runs instead.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type {
  createRecordingActivities,
  RecordRecordsSnapshotInput,
} from '../activities/recording.js';
import { presets } from './options.js';
export { RECORDS_SNAPSHOT_CHILD_PATCH } from './patches.js';

/**
 * The snapshot workflow's id for a campaign (its workflow id, which is its campaign id): one per
 * campaign, so tests and tools can wait for it with `client.workflow.getHandle(id).result()`.
 */
export const recordsSnapshotWorkflowId = (campaignId: string): string =>
  `${campaignId}/records-snapshot`;

/** Writes the snapshot; runs on the campaign's task queue, its activity on the recording queue. */
export async function recordsSnapshotWorkflow(
  input: RecordRecordsSnapshotInput,
): Promise<{ trials: number }> {
  const acts = proxyActivities<ReturnType<typeof createRecordingActivities>>(
    presets.recording(workflowInfo().taskQueue),
  );
  return await acts.recordRecordsSnapshot(input);
}
