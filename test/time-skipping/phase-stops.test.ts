/**
 * Every phase obeys the deadline and a PI's stop, and `cancelRunning: false` means the same in
 * every phase: the running work finishes, nothing new starts. On Temporal's time-skipping test
 * server (test/support/time-skipping.ts), black-box: judged by the report, the trials and what
 * the (fake) experiments saw. The deadline test skips time, so it goes first (a campaign that
 * cancels a seed holds the test server's clock for good).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createTimeSkippingEnv,
  searchSeed,
  type SeedCall,
  type TimeSkippingEnv,
} from '../support/time-skipping.js';

const DAY = 24 * 3600;
let ts: TimeSkippingEnv;
beforeAll(async () => {
  ts = await createTimeSkippingEnv();
});
afterAll(async () => {
  await ts?.close();
});

const verificationSeed = (c: SeedCall) => /^v\d/.test(c.trialId);
const heldCount = (n: number) => () => ts.lab.held().length === n;

describe('deadline during verification', () => {
  test('ends the verification: what was verified stands, the leader it cut short is not verified, and the report says so', async () => {
    const campaign = await ts.start({
      skipsTime: true,
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxWallSeconds: 2 * DAY, maxTrials: 2, concurrency: 2 },
        approval: { enabled: true, timeoutSeconds: 30 * DAY },
        verification: { topK: 2, seeds: 2 },
      },
    });
    // The first leader's verification runs at once; the second one's seeds run until cancelled.
    let first: string | undefined;
    ts.lab.hold = (c) => {
      if (!verificationSeed(c)) return false;
      first ??= c.trialId;
      return c.trialId !== first;
    };
    const ideas = await ts.until(async () => {
      const p = await campaign.pending();
      return p.length >= 2 && p;
    }, 'two ideas awaiting approval');
    // Ten seconds before the deadline both ideas are approved; from then on the clock runs in
    // real time (the held seeds hold it).
    const { ledger } = await campaign.status();
    const deadlineMs = ledger.startedAtMs + 2 * DAY * 1000;
    await ts.env.sleep(deadlineMs - (await ts.env.currentTimeMs()) - 10_000);
    for (const idea of ideas.slice(0, 2)) await campaign.decide(idea.hypothesis.id, 'approve');
    await ts.until(heldCount(2), 'the second leader verification running', 25_000);
    expect((await campaign.status()).phase).toBe('verifying');
    const report = await campaign.result();

    // The search's own reason stands; the detail says the deadline cut verification short.
    expect(report.stopReason).toBe('max_trials');
    expect(report.stopDetail).toContain('verification cut short by the deadline');
    expect(Date.parse(report.finishedAt)).toBeGreaterThanOrEqual(deadlineMs);
    // The first leader's verification stands; the second leader has none, so is not verified.
    const verifications = await campaign.trials('verification');
    const cut = verifications.find((v) => v.id !== first);
    expect(cut?.status).toBe('cancelled');
    expect(report.verification.map((v) => v.verificationTrialId)).toEqual([first]);
    expect(report.verification.map((v) => v.trialId)).not.toContain(cut?.parentTrialId);
    await ts.until(
      () => ts.lab.calls.filter((c) => c.trialId === cut?.id).every((c) => c.state === 'cancelled'),
      'the cut verification seeds cancelled',
    );
  });
});

describe('PI stop with cancelRunning false', () => {
  test('during the reference measurement: the baseline seeds finish and are kept, nothing else starts', async () => {
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        baseline: { kind: 'measure', configuration: 'baseline', seeds: 2 },
        budgets: { maxTrials: 4, concurrency: 4 },
        verification: { topK: 1, seeds: 2 },
      },
      // References measured before the search, as for every strategy that learns from results
      // (references-beside.test.ts has the random search beside the measurement).
      timing: { referencesFirst: true },
    });
    ts.lab.hold = () => true;
    await ts.until(heldCount(2), 'the baseline seeds running');
    expect((await campaign.status()).phase).toBe('measuring');
    await campaign.stop({ reason: 'wrong problem', cancelRunning: false });
    // The stop is taken while the seeds still run; they are not cancelled.
    await ts.until(
      async () => (await campaign.audit()).some((a) => a.action === 'stop'),
      'the stop audited',
    );
    expect(ts.lab.held()).toHaveLength(2);
    ts.lab.release();
    const report = await campaign.result();

    expect(report.stopReason).toBe('stopped_by_pi');
    expect(report.stopDetail).toContain('wrong problem');
    expect(report.baselineScore).not.toBeNull();
    const trials = await campaign.trials();
    expect(trials.map((t) => [t.id, t.status])).toEqual([['baseline', 'succeeded']]);
    expect(ts.lab.calls.filter(searchSeed)).toEqual([]);
    expect(ts.lab.calls.every((c) => c.state === 'succeeded')).toBe(true);
    expect(report.verification).toEqual([]);
  });

  test('during verification: the running verification finishes and counts, no other starts', async () => {
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 2,
        budgets: { maxTrials: 2, concurrency: 4 },
        verification: { topK: 2, seeds: 2 },
      },
    });
    ts.lab.hold = verificationSeed;
    // At least 5 verification seeds run (domain/verdict.ts verificationSeedCount), 4 at once.
    await ts.until(() => ts.lab.held().length >= 2, 'the first verification re-run running');
    expect((await campaign.status()).phase).toBe('verifying');
    await campaign.stop({ reason: 'one is enough', cancelRunning: false });
    await ts.until(
      async () => (await campaign.audit()).some((a) => a.action === 'stop verification'),
      'the stop audited',
    );
    ts.lab.release();
    const report = await campaign.result();

    expect(report.stopReason).toBe('max_trials');
    const verifications = await campaign.trials('verification');
    expect(verifications.map((v) => v.status)).toEqual(['succeeded']);
    expect(report.verification.map((v) => v.verificationTrialId)).toEqual([verifications[0]!.id]);
    expect(ts.lab.calls.every((c) => c.state === 'succeeded')).toBe(true);
  });
});
