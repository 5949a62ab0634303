/**
 * Records hold back new trials when MLflow falls behind (campaign/recorder.ts RECORD_BACKLOG):
 * with the recording activities held, a campaign of instant trials stops starting search trials
 * once the backlog is reached, keeps running what it started, and goes on when the records are
 * written, every trial recorded once.
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
