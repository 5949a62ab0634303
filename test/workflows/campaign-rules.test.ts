/**
 * A campaign's stopping, drain, deadline and approval rules on Temporal's time-skipping test
 * server, black-box: the real workflow bundle, driven through its updates and queries, judged by
 * its report, its trials and what the (fake) experiments saw. Days of workflow time pass in
 * milliseconds while the campaign waits on its own timers; seeds the lab holds are running until
 * released or cancelled (see test/support/time-skipping.ts for why time stands still then).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createTimeSkippingEnv,
  searchSeed,
  type SeedCall,
  type TimeSkippingEnv,
} from '../support/time-skipping.js';

const DAY = 86_400;
const HOUR = 3600;
let ts: TimeSkippingEnv;
beforeAll(async () => {
  ts = await createTimeSkippingEnv();
});
afterAll(async () => {
  await ts?.close();
});

const verificationSeed = (c: SeedCall) => /^v\d/.test(c.trialId);
/** Search trials whose seeds reached the lab, in order. */
const searchTrialsRun = () =>
  [...new Set(ts.lab.calls.filter(searchSeed).map((c) => c.trialId))].sort();
const heldCount = (n: number) => () => ts.lab.held().length === n;

describe('deadline', () => {
  test('a 2-day wall-clock budget stops the campaign with reason deadline and cancels the trials running then', async () => {
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxWallSeconds: 2 * DAY, maxTrials: 50, concurrency: 2 },
        approval: { enabled: true, timeoutSeconds: 30 * DAY },
      },
    });
    ts.lab.hold = searchSeed;
    const pending = await ts.until(async () => {
      const p = await campaign.pending();
      return p.length === 2 && p;
    }, 'two ideas awaiting approval');
    // Two days pass with nothing to run; a second before the deadline the PI approves both.
    const { ledger } = await campaign.status();
    const deadlineMs = ledger.startedAtMs + 2 * DAY * 1000;
    await ts.env.sleep(deadlineMs - (await ts.env.currentTimeMs()) - 1000);
    for (const p of pending) await campaign.decide(p.hypothesis.id, 'approve');
    const report = await campaign.result();

    expect(report.stopReason).toBe('deadline');
    expect(report.stopDetail).toContain('wall-clock budget');
    expect(Date.parse(report.finishedAt)).toBeGreaterThanOrEqual(deadlineMs);
    const trials = await campaign.trials('search');
    expect(trials.map((t) => t.status)).toEqual(['cancelled', 'cancelled']);
    // They started two days into the campaign.
    for (const t of trials)
      expect(Date.parse(t.startedAt) - ledger.startedAtMs).toBeGreaterThan(2 * DAY * 1000 - 60_000);
    expect(report.trials).toMatchObject({ total: 2, cancelled: 2, succeeded: 0 });
    // Two slots: t0001's seeds were running and heard the cancellation; t0002 never got a slot.
    expect(searchTrialsRun()).toEqual(['t0001']);
    await ts.until(
      () => ts.lab.calls.filter(searchSeed).every((c) => c.state === 'cancelled'),
      'running seeds cancelled',
    );
  });
});

describe('PI stop', () => {
  test('while the references are measured: the measurement is cut short even with cancelRunning false, and no search starts', async () => {
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        baseline: { kind: 'measure', configuration: 'baseline', seeds: 2 },
        budgets: { maxTrials: 4, concurrency: 4 },
      },
    });
    ts.lab.hold = () => true;
    await ts.until(heldCount(2), 'the baseline seeds running');
    expect((await campaign.status()).phase).toBe('measuring');
    await campaign.stop({ reason: 'wrong baseline', cancelRunning: false });
    const report = await campaign.result();

    expect(report.stopReason).toBe('stopped_by_pi');
    expect(report.stopDetail).toContain('wrong baseline');
    expect(report.baselineScore).toBeNull();
    const [baseline, ...others] = await campaign.trials();
    expect(baseline).toMatchObject({ kind: 'reference', status: 'cancelled' });
    expect(others).toEqual([]);
    expect(searchTrialsRun()).toEqual([]);
    await ts.until(
      () => ts.lab.calls.every((c) => c.state === 'cancelled'),
      'baseline seeds cancelled',
    );
  });

  test('while searching, cancelRunning true: running trials are cancelled and nothing new starts', async () => {
    const campaign = await ts.start({
      criteria: { seedsPerTrial: 2, budgets: { maxTrials: 20, concurrency: 4 } },
    });
    ts.lab.hold = searchSeed;
    // Four slots: two trials run, two more wait for a slot.
    await ts.until(heldCount(4), 'two trials running');
    expect((await campaign.status()).phase).toBe('running');
    await campaign.stop({ reason: 'enough', cancelRunning: true });
    const report = await campaign.result();

    expect(report.stopReason).toBe('stopped_by_pi');
    const trials = await campaign.trials('search');
    expect(trials.every((t) => t.status === 'cancelled')).toBe(true);
    expect(searchTrialsRun()).toEqual(['t0001', 't0002']);
    expect(report.verification).toEqual([]);
    await ts.until(
      () => ts.lab.calls.filter(searchSeed).every((c) => c.state === 'cancelled'),
      'running seeds cancelled',
    );
  });

  test('while searching, cancelRunning false: running trials finish, nothing new starts, the best is still verified', async () => {
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxTrials: 20, concurrency: 4 },
        verification: { topK: 1, seeds: 2 },
      },
    });
    ts.lab.hold = searchSeed;
    await ts.until(heldCount(4), 'two trials running');
    await campaign.stop({ reason: 'enough', cancelRunning: false });
    ts.lab.release();
    const report = await campaign.result();

    expect(report.stopReason).toBe('stopped_by_pi');
    const trials = await campaign.trials('search');
    const byId = Object.fromEntries(trials.map((t) => [t.id, t.status]));
    expect(byId).toMatchObject({ t0001: 'succeeded', t0002: 'succeeded' });
    // Those waiting for a slot never ran.
    expect(trials.filter((t) => t.status === 'cancelled').length).toBe(trials.length - 2);
    expect(searchTrialsRun()).toEqual(['t0001', 't0002']);
    expect(report.verification).toHaveLength(1);
    expect(['t0001', 't0002']).toContain(report.verification[0]!.trialId);
  });

  test('while verifying: verification ends, the search stop reason stands, and the report says not verified', async () => {
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxTrials: 2, concurrency: 4 },
        verification: { topK: 1, seeds: 2 },
      },
    });
    ts.lab.hold = verificationSeed;
    await ts.until(heldCount(2), 'the verification re-run running');
    expect((await campaign.status()).phase).toBe('verifying');
    await campaign.stop({ reason: 'no time to verify' });
    const report = await campaign.result();

    expect(report.stopReason).toBe('max_trials');
    expect(report.verification).toEqual([]);
    expect(report.verdict?.verdict).toBe('not_verified');
    expect((await campaign.audit()).map((a) => a.action)).toContain('stop verification');
    const [verification] = await campaign.trials('verification');
    expect(verification?.status).toBe('cancelled');
    await ts.until(
      () => ts.lab.calls.filter(verificationSeed).every((c) => c.state === 'cancelled'),
      'verification seeds cancelled',
    );
  });
});

describe('drain', () => {
  test('a compute budget used up while trials run lets them finish and starts nothing new', async () => {
    // Each seed reports three hours of compute: the baseline's two seeds and t0001's use the
    // 12-hour budget.
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxComputeSeconds: 12 * HOUR, maxTrials: 20, concurrency: 4 },
        verification: { topK: 1, seeds: 2 },
      },
    });
    ts.lab.hold = searchSeed;
    await ts.until(heldCount(4), 'two trials running');
    ts.lab.release((c) => c.trialId === 't0001');
    await ts.until(
      async () => (await campaign.status()).ledger.computeSeconds >= 12 * HOUR,
      'the budget used',
    );
    // t0002 runs on when the budget is used; it (and whatever got a slot before) finishes.
    expect(ts.lab.held().map((c) => c.trialId)).toContain('t0002');
    ts.lab.release();
    const report = await campaign.result();

    expect(report.stopReason).toBe('max_compute');
    const trials = await campaign.trials('search');
    // The four in flight when the budget was used; nothing was proposed after.
    expect(trials.map((t) => t.id).sort()).toEqual(['t0001', 't0002', 't0003', 't0004']);
    const ran = searchTrialsRun();
    expect(ran).toContain('t0002');
    for (const t of trials)
      expect([t.id, t.status]).toEqual([t.id, ran.includes(t.id) ? 'succeeded' : 'cancelled']);
    // The last one waited for a slot until the budget was used, and never ran.
    expect(ran).not.toContain('t0004');
    // Every finished trial was recorded.
    expect(ts.recording.trials()).toEqual(expect.arrayContaining(ran));
  });
});

describe('approval timeouts', () => {
  test("onTimeout reject: an idea nobody decides on is rejected a day later; a PI's approval in time runs", async () => {
    const campaign = await ts.start({
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
