import { describe, expect, it } from 'vitest';
import { campaignInput, quadCriteria } from '../../test/support/quadratic.js';
import { BATCH_SECONDS } from '../../domain/batches.js';
import { memoOnDurations } from './state/context.js';
import { carriedOf, searchingState } from '../../test/support/searching-state.js';

/** A searching state at concurrency 8, one seed per trial, `durations` of successful seeds seen. */
function state(durations: number[], batching = true, maxTrials = 10_000, slack = true) {
  const s = searchingState(
    campaignInput({
      criteria: quadCriteria({ seedsPerTrial: 1, budgets: { maxTrials, concurrency: 8 } }),
    }),
  );
  carriedOf(s).failures.seedDurations.push(...durations);
  if (batching) s.context.enableSeedBatches(slack);
  return s;
}

const queue = (s: ReturnType<typeof state>, n: number) => {
  for (let i = 0; i < n; i++)
    carriedOf(s).queue.push({
      id: `h${i}`,
      title: `h${i}`,
      rationale: '',
      parentTrialId: null,
      changes: { x: i / 1000, y: 0 },
      params: { x: i / 1000, y: 0 },
      expectedEffect: '',
      author: { kind: 'strategy', name: 'random' },
      createdAt: '2026-01-01T00:00:00Z',
    });
};

describe('batched seeds in the campaign state', () => {
  it('batches only when turned on and after five successes', () => {
    expect(state(Array(20).fill(1), false).context.seedBatchSize()).toBe(1);
    expect(state([1, 1, 1, 1]).context.seedBatchSize()).toBe(1);
    expect(state(Array(20).fill(1)).context.seedBatchSize()).toBe(BATCH_SECONDS);
  });

  it('sizes batches a tenth over their target only in runs that began with that rule', () => {
    expect(state(Array(20).fill(1.05)).context.seedBatchSize()).toBe(5);
    expect(state(Array(20).fill(1.05), true, 10_000, false).context.seedBatchSize()).toBe(4);
  });

  it('knows how many trials the budget still allows to start', () => {
    const s = state(Array(20).fill(1), true, 300);
    expect(s.lifecycle.trialsNotStarted()).toBe(300);
    queue(s, 10);
    s.queue.nextTrialRequest();
    expect(s.lifecycle.trialsNotStarted()).toBe(299);
  });

  it('keeps a batch per slot within 256 trials in flight', () => {
    // 0-second seeds want 16 to a batch; 2 x 8 slots x 16 = 256 is the cap.
    expect(state(Array(20).fill(0)).context.seedBatchSize()).toBe(16);
  });

  it('refills the queue in large calls: nothing while half the target waits, then up to it', () => {
    const s = state(Array(20).fill(1)); // 5 seeds a batch, 8 slots: a target of 80 queued
    expect(s.queue.proposalsForBatches()).toBe(80);
    queue(s, 40);
    expect(s.queue.proposalsForBatches()).toBe(0);
    carriedOf(s).queue.splice(0, 1);
    expect(s.queue.proposalsForBatches()).toBe(41);
    // Never past the queue limit.
    const tiny = state(Array(20).fill(0)); // 16 a batch: 256 wanted, 100 at most
    expect(tiny.queue.proposalsForBatches()).toBe(100);
  });

  it("a small campaign's sampler is asked for a tenth of its trial budget at a time (two waves at least)", () => {
    // 300 trials: a target of 30, asked for again once fewer than 15 wait.
    const s = state(Array(20).fill(1), true, 300);
    expect(s.queue.proposalsForBatches()).toBe(30);
    queue(s, 15);
    expect(s.queue.proposalsForBatches()).toBe(0);
    carriedOf(s).queue.splice(0, 1);
    expect(s.queue.proposalsForBatches()).toBe(16);
    // 60 trials: two waves (16), not six.
    expect(state(Array(20).fill(1), true, 60).queue.proposalsForBatches()).toBe(16);
  });
});

describe('memoOnDurations', () => {
  it('answers again only for another array, another length or another key', () => {
    let calls = 0;
    const sorted = memoOnDurations((d: readonly number[], k: number) => {
      calls++;
      return [...d].sort((a, b) => a - b)[0]! * k;
    });
    const a = [3, 1, 2];
    expect(sorted(a, 2)).toBe(2);
    expect(sorted(a, 2)).toBe(2);
    expect(calls).toBe(1);
    expect(sorted(a, 3)).toBe(3);
    a.push(0.5); // grown in place (tests do this): the length tells
    expect(sorted(a, 3)).toBe(1.5);
    expect(sorted([5, 4], 3)).toBe(12);
    expect(calls).toBe(4);
  });
});
