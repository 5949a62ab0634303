/**
 * A campaign's records snapshot is written off its critical path, on Temporal's time-skipping
 * test server: the campaign starts the snapshot workflow (workflows/records-snapshot.ts) once its
 * end is recorded and returns its report without waiting for it; the snapshot workflow outlives
 * it. The in-memory `recordRecordsSnapshot` is held until the test releases it, so the order is
 * fixed: the report first, then the snapshot (test/support/time-skipping.ts).
 */
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { inject } from 'vitest';
import { dataConverter } from '../../temporal/data-converter.js';
import {
  RECORDS_SNAPSHOT_CHILD_PATCH,
  recordsSnapshotWorkflow,
  recordsSnapshotWorkflowId,
} from '../../workflows/records-snapshot.js';
import { createTimeSkippingEnv, type TimeSkippingEnv } from '../support/time-skipping.js';

let ts: TimeSkippingEnv;
beforeAll(async () => {
  ts = await createTimeSkippingEnv();
});
afterAll(async () => {
  await ts?.close();
});

const criteria = { seedsPerTrial: 1, budgets: { maxTrials: 2, concurrency: 2 } };
const SNAPSHOT = 'recordRecordsSnapshot';
const snapshotCalls = () => ts.recording.calls.filter((c) => c.activity === SNAPSHOT);

describe('the records snapshot at the end of a campaign', () => {
  test('the report comes back while the snapshot is still being written; the snapshot workflow then writes it once', async () => {
    const campaign = await ts.start({ criteria, mlflow: true });
    ts.recording.hold = (activity) => activity === SNAPSHOT;
    const { campaignId } = campaign.input;

    // With the snapshot held, a campaign that waited for it would never return.
    const report = await campaign.result();
    expect(report.trials.total).toBe(2);
    const input = await ts.recording.called(SNAPSHOT);
    expect(input).toEqual({ campaignId, experimentId: 'exp-1', parentRunId: 'campaign-run' });
    const activities = ts.recording.calls.map((c) => c.activity);
    expect(activities.indexOf('recordCampaignEnd')).toBeLessThan(activities.indexOf(SNAPSHOT));

    // Its own workflow, abandoned by the closed campaign, still running.
    const snapshot = ts.env.client.workflow.getHandle(recordsSnapshotWorkflowId(campaignId));
    const running = await snapshot.describe();
    expect(running.status.name).toBe('RUNNING');
    expect(running.type).toBe('recordsSnapshotWorkflow');
    expect(running.parentExecution?.workflowId).toBe(campaignId);

    ts.recording.release();
    expect(await snapshot.result()).toEqual({ trials: 0 });
    expect(snapshotCalls()).toHaveLength(1);

    // The campaign's history: the patch marker and the child's start, no snapshot activity of
    // its own; it replays against the current code.
    const history = await campaign.handle.fetchHistory();
    const events = history.events ?? [];
    const patches = events.flatMap((e) =>
      (e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? []).map((p) =>
        Buffer.from(p.data ?? []).toString(),
      ),
    );
    expect(patches.some((p) => p.includes(`"${RECORDS_SNAPSHOT_CHILD_PATCH}"`))).toBe(true);
    expect(events.filter((e) => e.childWorkflowExecutionStartedEventAttributes)).toHaveLength(1);
    expect(
      events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === SNAPSHOT),
    ).toEqual([]);
    await Worker.runReplayHistory(
      { workflowBundle: { code: inject('campaignBundle') }, dataConverter },
      history,
      campaignId,
    );
  });

  test('when the snapshot workflow cannot start (its id taken), the campaign still ends and says so in its notebook', async () => {
    const campaign = await ts.start({ criteria, mlflow: true });
    ts.lab.hold = () => true;
    ts.recording.hold = (activity) => activity === SNAPSHOT;
    const { campaignId } = campaign.input;
    // The id taken while the campaign runs, as after a reset of a campaign that had ended.
    const squatter = await ts.env.client.workflow.start(recordsSnapshotWorkflow, {
      workflowId: recordsSnapshotWorkflowId(campaignId),
      taskQueue: campaign.input.experiment.taskQueue,
      args: [{ campaignId, experimentId: 'exp-1', parentRunId: 'campaign-run' }],
    });
    ts.lab.release();

    const report = await campaign.result();
    expect(report.trials.total).toBe(2);
    const notes = await campaign.handle.query<{ kind: string; text: string }[]>('notebook');
    expect(notes).toContainEqual(
      expect.objectContaining({
        kind: 'error',
        text: expect.stringContaining('the trial-records snapshot was not started'),
      }),
    );

    ts.recording.release();
    expect(await squatter.result()).toEqual({ trials: 0 });
    // The squatter's call only: the campaign started no second one.
    expect(snapshotCalls()).toHaveLength(1);
  });
});
