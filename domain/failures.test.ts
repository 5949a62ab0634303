import { describe, expect, it } from 'vitest';
import type { Param } from './schemas.js';
import {
  adaptiveTimeoutSeconds,
  failureKind,
  failureRegions,
  failureRejection,
  failureTotals,
  FailureSummary,
  summarizeFailures,
  type FailureTrial,
} from './failures.js';

const SPACE: Param[] = [
  { name: 'x1', kind: 'float', low: -5, high: 10, log: false },
  { name: 'x2', kind: 'float', low: 0, high: 15, log: false },
  { name: 'mode', kind: 'categorical', choices: ['a', 'b'] },
];

let n = 0;
const trial = (
  x1: number,
  x2: number,
  status: FailureTrial['status'],
  failureReason?: string,
  computeSeconds = 1,
  mode = 'a',
): FailureTrial => ({
  id: `t${++n}`,
  params: { x1, x2, mode },
  status,
  computeSeconds,
  ...(failureReason ? { failureReason } : {}),
});
const HANG = 'no seed succeeded (1 failed; seed 1: timed out after 2 s)';
const CRASH = 'no seed succeeded (1 failed; seed 1: Error: diverged)';

describe('failureKind', () => {
  it('tells a timeout from a crash by the runner wording', () => {
    expect(failureKind(HANG)).toBe('timeout');
    expect(failureKind('timed out after 2 s (process group killed)')).toBe('timeout');
    expect(failureKind(CRASH)).toBe('crash');
    expect(failureKind(undefined)).toBe('crash');
  });
});

describe('failureRegions', () => {
  const trials = [
    trial(-4.5, 3, 'failed', HANG, 2),
    trial(-4, 5, 'failed', HANG, 2),
    trial(-3.5, 6.5, 'failed', HANG, 2),
    trial(2, 14, 'failed', CRASH, 0.01),
    trial(4, 14.5, 'failed', CRASH, 0.01),
    trial(9, 1, 'failed', CRASH, 0.01), // alone: not repeated, not a region
    trial(-4.2, 4, 'succeeded'),
    trial(3, 3, 'succeeded'),
  ];

  it('groups repeated failures of one kind and gives their parameter ranges', () => {
    const regions = failureRegions(SPACE, trials);
    expect(regions).toHaveLength(2);
    const [hang, crash] = regions;
    expect(hang).toMatchObject({
      kind: 'timeout',
      trials: 3,
      computeSeconds: 6,
      ranges: { x1: { low: -4.5, high: -3.5 }, x2: { low: 3, high: 6.5 }, mode: { values: ['a'] } },
      reason: HANG,
    });
    expect(crash).toMatchObject({
      kind: 'crash',
      trials: 2,
      ranges: { x1: { low: 2, high: 4 }, x2: { low: 14, high: 14.5 } },
    });
    expect(crash!.trialIds).toHaveLength(2);
    // the schema is the contract the report carries
    expect(() => FailureSummary.shape.regions.parse(regions)).not.toThrow();
  });

  it('keeps failures of different kinds apart even when they are close', () => {
    const close = [
      trial(0, 0, 'failed', HANG),
      trial(0.1, 0.1, 'failed', CRASH),
      trial(0.2, 0.2, 'failed', HANG),
      trial(0.3, 0.3, 'failed', CRASH),
    ];
    const regions = failureRegions(SPACE, close);
    expect(regions.map((r) => [r.kind, r.trials])).toEqual([
      ['timeout', 2],
      ['crash', 2],
    ]);
  });

  it('does not link failures farther apart than the radius, or in another category', () => {
    const apart = [trial(-5, 0, 'failed', CRASH), trial(10, 15, 'failed', CRASH)];
    expect(failureRegions(SPACE, apart)).toEqual([]);
    const otherMode = [trial(0, 0, 'failed', CRASH, 1, 'a'), trial(0, 0, 'failed', CRASH, 1, 'b')];
    expect(failureRegions(SPACE, otherMode)).toEqual([]);
    expect(failureRegions(SPACE, apart, { radius: 1 })).toHaveLength(1);
  });

  it('ignores succeeded and cancelled trials', () => {
    const ok = [trial(0, 0, 'succeeded'), trial(0, 0, 'cancelled'), trial(0.1, 0, 'cancelled')];
    expect(failureRegions(SPACE, ok)).toEqual([]);
  });
});

describe('summarizeFailures', () => {
  it('counts compute spent on failures, timeouts apart', () => {
    const trials = [
      trial(-4.5, 3, 'failed', HANG, 2),
      trial(-4, 4, 'failed', HANG, 2),
      trial(4, 14.5, 'failed', CRASH, 0.5),
      trial(3, 3, 'succeeded', undefined, 1.25),
    ];
    const s = summarizeFailures(SPACE, trials);
    expect(s).toMatchObject({
      trials: 4,
      failedTrials: 3,
      timedOutTrials: 2,
      computeSeconds: 4.5,
      totalComputeSeconds: 5.75,
    });
    expect(s.regions).toHaveLength(1);
    // totals kept over a whole campaign win over what is still in memory
    const totals = { ...failureTotals(trials), failedTrials: 40, trials: 100 };
    expect(summarizeFailures(SPACE, trials, totals)).toMatchObject({
      failedTrials: 40,
      trials: 100,
    });
  });
});

describe('failureRejection', () => {
  const at = (x1: number, x2: number) => ({ x1, x2, mode: 'a' });
  it('is zero without failures and far from them', () => {
    expect(failureRejection(SPACE, at(0, 0), [])).toBe(0);
    expect(failureRejection(SPACE, at(10, 15), [at(-5, 0)])).toBe(0);
  });

  it('grows with repeated failures nearby and never reaches one', () => {
    const one = failureRejection(SPACE, at(0, 0), [at(0, 0)]);
    const two = failureRejection(SPACE, at(0, 0), [at(0, 0), at(0.3, 0.3)]);
    const many = failureRejection(SPACE, at(0, 0), Array(20).fill(at(0, 0)));
    expect(one).toBeCloseTo(1 - Math.exp(-0.5), 6);
    expect(two).toBeGreaterThan(one);
    expect(many).toBe(0.98);
    // a near neighbour weighs less than a failure at the same place
    expect(failureRejection(SPACE, at(1.5, 0), [at(0, 0)])).toBeLessThan(one);
    expect(failureRejection(SPACE, at(1.5, 0), [at(0, 0)])).toBeGreaterThan(0);
  });
});

describe('adaptiveTimeoutSeconds', () => {
  it('keeps the limit until enough seeds succeeded', () => {
    expect(adaptiveTimeoutSeconds([], 60)).toBe(60);
    expect(adaptiveTimeoutSeconds([1, 1, 1, 1], 60)).toBe(60);
  });

  it('becomes a multiple of the p95 of successful durations, with a floor', () => {
    expect(adaptiveTimeoutSeconds([2, 2, 2, 2, 3], 100)).toBe(25); // floor 25% of 100 s
    expect(adaptiveTimeoutSeconds([2, 2, 2, 2, 3], 1000)).toBe(250);
    expect(adaptiveTimeoutSeconds([20, 20, 20, 20, 30], 1000)).toBe(250); // 90 < floor 250
    expect(adaptiveTimeoutSeconds([20, 20, 20, 20, 30], 10_000)).toBe(2500);
    expect(adaptiveTimeoutSeconds([20, 20, 20, 20, 30], 10_000, { floorShare: 0 })).toBe(90); // 3 x p95
    expect(adaptiveTimeoutSeconds(Array(20).fill(100), 3600)).toBe(900);
    expect(adaptiveTimeoutSeconds(Array(20).fill(0.003), 2)).toBe(1); // floor of 1 s
  });

  it('never stops a run as long as the longest success, nor exceeds the limit', () => {
    const durations = [...Array(99).fill(10), 200];
    expect(adaptiveTimeoutSeconds(durations, 3600)).toBe(900); // 25% floor
    expect(adaptiveTimeoutSeconds(durations, 36000, { floorShare: 0 })).toBe(400); // 2 x 200 > 3 x p95
    expect(adaptiveTimeoutSeconds(Array(10).fill(50), 60)).toBe(60);
  });
});
