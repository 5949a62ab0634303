/**
 * Records hold back new trials when MLflow falls behind (campaign/recorder.ts RECORD_BACKLOG):
 * with the recording activities held, a campaign of instant trials stops starting search trials
 * once the backlog is reached, keeps running what it started, and goes on when the records are
 * written, every trial recorded once. A backlog goes out in even shares over the recording
 * activities (campaign/recorder.ts RECORD_SHARE_PATCH).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTimeSkippingEnv, type TimeSkippingEnv } from '../support/time-skipping.js';

let ts: TimeSkippingEnv;
beforeAll(async () => {
  ts = await createTimeSkippingEnv();
});
afterAll(async () => {
  await ts?.close();
});

describe('records keep up with trials', () => {
  test('no new search trial starts while the record backlog is full; all run and are recorded once it drains', async () => {
    const backlog = 6;
    const concurrency = 2;
    const campaign = await ts.start({
      criteria: { seedsPerTrial: 1, budgets: { maxTrials: 40, concurrency } },
      mlflow: true,
      timing: { recordBacklog: backlog },
    });
    ts.recording.hold = (activity) => activity === 'recordTrials';
    await ts.until(
      async () => (await campaign.status()).trialsDone >= backlog - 1,
      'the backlog filling up',
    );
    // Instant trials: without the backlog rule the 40 would finish well within this pause.
    await sleep(2000);
    const held = await campaign.status();
    // What was running when the backlog filled finishes (each slot's last batch: a few trials
    // from the short queue a model-free sampler keeps), and nothing new starts: well under the
    // 40 that run without the rule.
    expect(held.trialsDone).toBeLessThanOrEqual(20);
    expect(held.phase).toBe('running');
    const started = ts.lab.calls.length;
    await sleep(500);
    expect(ts.lab.calls.length).toBe(started);

    ts.recording.release();
    const report = await campaign.result();
    expect(report.stopReason).toBe('max_trials');
    const search = report.trials.total;
    expect(search).toBe(40);
    const recorded = ts.recording.trials();
    expect(new Set(recorded).size).toBe(recorded.length);
    for (let i = 1; i <= 40; i++) expect(recorded).toContain(`t${String(i).padStart(4, '0')}`);
  });
});

describe('records go out evenly', () => {
  test('a backlog of records is shared over the recording activities, not taken by the first one free', async () => {
    const campaign = await ts.start({
      criteria: { seedsPerTrial: 1, budgets: { maxTrials: 20, concurrency: 4 } },
      mlflow: true,
    });
    // The first two recording activities (one trial each) are held while every trial finishes.
    ts.recording.hold = (activity) => activity === 'recordTrials';
    await ts.until(
      async () => (await campaign.status()).trialsDone === 20,
      'every trial done while the records wait',
    );
    const itemsOf = (c: { input: unknown }) => (c.input as { items: unknown[] }).items.length;
    const records = () => ts.recording.calls.filter((c) => c.activity === 'recordTrials');
    expect(records().map(itemsOf)).toEqual([1, 1]);
    ts.recording.release();
    const report = await campaign.result();
    expect(report.trials.total).toBe(20);

    // About 20 records wait at the release (the baseline and the search trials, less the two
    // held): the first activity freed takes an even share of them over the two, not all.
    const after = records().slice(2).map(itemsOf);
    expect(after[0]).toBeLessThanOrEqual(10);
    expect(after[0]).toBeGreaterThan(1);
    // Every record once (the verification's runs included).
    expect(
      records()
        .map(itemsOf)
        .reduce((a, b) => a + b, 0),
    ).toBe(ts.recording.trials().length);
    const recorded = ts.recording.trials();
    expect(new Set(recorded).size).toBe(recorded.length);
  });
});
