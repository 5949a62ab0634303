/**
 * Workflow timers on Temporal's time-skipping test server: approval timeouts and the wall-clock
 * deadline, with days of workflow time passing in milliseconds. Black-box: the real workflow
 * bundle, driven through its updates and queries, judged by its report, its trials and what the
 * (fake) experiments saw (test/support/time-skipping.ts).
 *
 * The deadline test comes last: a campaign that ends while a cancelled seed is still winding down
 * holds the test server's clock for good (see `clockHeld` in the support module).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createTimeSkippingEnv,
  searchSeed,
  type TimeSkippingEnv,
} from '../support/time-skipping.js';

const DAY = 86_400;
let ts: TimeSkippingEnv;
beforeAll(async () => {
  ts = await createTimeSkippingEnv();
});
afterAll(async () => {
  await ts?.close();
});

/** Search trials whose seeds reached the lab, in order. */
const searchTrialsRun = () =>
  [...new Set(ts.lab.calls.filter(searchSeed).map((c) => c.trialId))].sort();

describe('approval timeouts', () => {
  test("onTimeout reject: an idea nobody decides on is rejected a day later; a PI's approval in time runs", async () => {
    const campaign = await ts.start({
      skipsTime: true,
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxIterations: 1, maxTrials: 20, concurrency: 2 },
        approval: { enabled: true, timeoutSeconds: DAY, onTimeout: 'reject' },
      },
    });
    const [first, second] = await ts.until(async () => {
      const p = await campaign.pending();
      return p.length === 2 && p;
    }, 'two ideas awaiting approval');
    await campaign.decide(first!.hypothesis.id, 'approve', 'looks right');
    const report = await campaign.result();

    expect(report.stopReason).toBe('max_iterations');
    expect(Date.parse(report.finishedAt) - Date.parse(report.startedAt)).toBeGreaterThanOrEqual(
      DAY * 1000,
    );
    expect(searchTrialsRun()).toEqual(['t0001']);
    const trials = await campaign.trials('search');
    expect(trials.map((t) => [t.hypothesisId, t.status])).toEqual([
      [first!.hypothesis.id, 'succeeded'],
    ]);
    const audit = await campaign.audit();
    expect(audit.find((a) => a.action === 'approve')?.actor).toMatchObject({ role: 'pi' });
    const timedOut = audit.find((a) => a.action === 'reject');
    expect(timedOut).toMatchObject({ actor: { role: 'system' } });
    expect(timedOut?.detail).toContain(second!.hypothesis.id);
    expect(timedOut?.detail).toContain('approval timed out');
    expect(report.proposals?.counts.byCause).toMatchObject({ rejected: 1 });
  });

  test('onTimeout approve: undecided ideas run once their timeout has passed', async () => {
    const campaign = await ts.start({
      skipsTime: true,
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxTrials: 2, concurrency: 2 },
        approval: { enabled: true, timeoutSeconds: 3 * DAY, onTimeout: 'approve' },
      },
    });
    const report = await campaign.result();

    expect(report.stopReason).toBe('max_trials');
    const trials = await campaign.trials('search');
    expect(trials.map((t) => t.status)).toEqual(['succeeded', 'succeeded']);
    for (const t of trials)
      expect(Date.parse(t.startedAt) - Date.parse(report.startedAt)).toBeGreaterThanOrEqual(
        3 * DAY * 1000,
      );
    const approvals = (await campaign.audit()).filter((a) => a.action === 'approve');
    expect(approvals.map((a) => a.actor.role)).toEqual(['system', 'system']);
  });
});

describe('deadline', () => {
  test('a 2-day wall-clock budget stops the campaign with reason deadline and cancels the trials running then', async () => {
    const campaign = await ts.start({
      skipsTime: true,
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxWallSeconds: 2 * DAY, maxTrials: 50, concurrency: 2 },
        approval: { enabled: true, timeoutSeconds: 30 * DAY },
      },
    });
    ts.lab.hold = searchSeed;
    const [idea] = await ts.until(async () => {
      const p = await campaign.pending();
      return p.length === 2 && p;
    }, 'two ideas awaiting approval');
    // Two days pass with nothing to run; ten seconds before the deadline the PI approves an idea
    // (the clock runs in real time again from here: the running seeds hold it; ten seconds leave
    // room for the approval's round trip on a loaded machine).
    const { ledger } = await campaign.status();
    const deadlineMs = ledger.startedAtMs + 2 * DAY * 1000;
    await ts.env.sleep(deadlineMs - (await ts.env.currentTimeMs()) - 10_000);
    await campaign.decide(idea!.hypothesis.id, 'approve');
    const report = await campaign.result();

    expect(report.stopReason).toBe('deadline');
    expect(report.stopDetail).toContain('wall-clock budget');
    expect(Date.parse(report.finishedAt)).toBeGreaterThanOrEqual(deadlineMs);
    const [trial, ...others] = await campaign.trials('search');
    expect(others).toEqual([]);
    expect(trial).toMatchObject({
      id: 't0001',
      hypothesisId: idea!.hypothesis.id,
      status: 'cancelled',
    });
    // It started two days into the campaign, and its seeds heard the cancellation.
    expect(Date.parse(trial!.startedAt) - ledger.startedAtMs).toBeGreaterThan(
      2 * DAY * 1000 - 60_000,
    );
    expect(searchTrialsRun()).toEqual(['t0001']);
    await ts.until(
      () => ts.lab.calls.filter(searchSeed).every((c) => c.state === 'cancelled'),
      'running seeds cancelled',
    );
    // The idea nobody decided on never ran.
    expect(report.proposals?.counts.byCause).toMatchObject({ not_run: 1 });
  });
});
