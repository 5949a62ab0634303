/**
 * A campaign's stopping rules on Temporal's time-skipping test server, black-box: PI stops in
 * each phase (and what happens to running trials), the drain of a budget stop, the target and
 * stagnation. The real workflow bundle, driven through its updates and queries, judged by its
 * report, its trials and what the (fake) experiments saw (test/support/time-skipping.ts). Seeds
 * the lab holds are running until released or cancelled.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createTimeSkippingEnv,
  searchSeed,
  type SeedCall,
  type TimeSkippingEnv,
} from '../support/time-skipping.js';

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

describe('PI stop', () => {
  test('while the references are measured: the measurement is cut short, and no search starts', async () => {
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        baseline: { kind: 'measure', configuration: 'baseline', seeds: 2 },
        budgets: { maxTrials: 4, concurrency: 4 },
      },
      // References measured before the search, as for every strategy that learns from results
      // (references-beside.test.ts has the random search beside the measurement).
      timing: { referencesFirst: true },
    });
    ts.lab.hold = () => true;
    await ts.until(heldCount(2), 'the baseline seeds running');
    expect((await campaign.status()).phase).toBe('measuring');
    await campaign.stop({ reason: 'wrong baseline' });
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

  test('while searching, cancelRunning false and verify: running trials finish, nothing new starts, the best is verified', async () => {
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxTrials: 20, concurrency: 4 },
        verification: { topK: 1, seeds: 2 },
      },
    });
    ts.lab.hold = searchSeed;
    await ts.until(heldCount(4), 'two trials running');
    await campaign.stop({ reason: 'enough', cancelRunning: false, verify: true });
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

  test('after the search, a stop without verify ends the campaign: no verification runs, and the report says why', async () => {
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxTrials: 20, concurrency: 2 },
        verification: { topK: 2, seeds: 2 },
      },
    });
    // Two trials finish, then the third is held: the stop comes while it runs.
    ts.lab.hold = (c) => searchSeed(c) && c.trialId >= 't0003';
    await ts.until(heldCount(2), 'the third trial running');
    await campaign.stop({ reason: 'enough' });
    const report = await campaign.result();

    expect(report.stopReason).toBe('stopped_by_pi');
    expect(ts.lab.calls.filter(verificationSeed)).toEqual([]);
    expect(await campaign.trials('verification')).toEqual([]);
    expect(report.verification).toEqual([]);
    expect(report.verdict?.verdict).toBe('not_verified');
    expect(report.verdict?.reasons.join(' ')).toMatch(/a PI stopped the campaign.*--verify/);
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
    // At least 5 verification seeds run (domain/verdict.ts verificationSeedCount), 4 at once.
    await ts.until(() => ts.lab.held().length >= 2, 'the verification re-run running');
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
      mlflow: true,
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

describe('target and stagnation', () => {
  const nearOptimum = (p: SeedCall['params'], seed: number) => ({
    score: (p.x === -4 && p.y === 3 ? -40 : 9.9) + ((seed % 7) - 3) * 0.05,
  });

  test('a trial that reaches the target and holds up on fresh seeds stops the campaign with target_verified', async () => {
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        targetPgr: 0.5,
        budgets: { maxTrials: 20, concurrency: 4 },
        verification: { topK: 1, seeds: 2 },
      },
    });
    ts.lab.score = nearOptimum;
    const report = await campaign.result();

    expect(report.stopReason).toBe('target_verified');
    expect(report.verdict?.verdict).toBe('verified');
    expect(report.trials.total).toBeLessThan(20);
    expect(report.verification.find((v) => v.trigger === 'target')?.verdict).toBe('verified');
  });

  test('no improvement for the stagnation window stops the campaign with stagnation', async () => {
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxTrials: 40, concurrency: 2 },
        stagnation: { iterations: 3, minImprovement: 0.01 },
        verification: { topK: 1, seeds: 2 },
      },
    });
    ts.lab.score = (_p, seed) => ({ score: -40 + ((seed % 7) - 3) * 0.05 });
    const report = await campaign.result();

    expect(report.stopReason).toBe('stagnation');
    expect(report.ledger.iterations).toBeLessThan(10);
    expect(report.trials.total).toBeLessThan(40);
  });
});
