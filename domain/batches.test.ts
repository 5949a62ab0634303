import { describe, expect, it } from 'vitest';
import { batchTake, BATCH_SECONDS, MAX_BATCH, seedBatchSize } from './batches.js';

describe('seedBatchSize', () => {
  it('does not batch before five successes', () => {
    expect(seedBatchSize([0.01, 0.01, 0.01, 0.01])).toBe(1);
  });
  it('groups about BATCH_SECONDS of typical work', () => {
    expect(seedBatchSize(Array(20).fill(1))).toBe(BATCH_SECONDS);
    expect(seedBatchSize(Array(20).fill(2.5))).toBe(2);
  });
  it('lets a batch run up to a tenth over rather than hold one seed fewer', () => {
    expect(seedBatchSize(Array(20).fill(1.05))).toBe(5);
    expect(seedBatchSize(Array(20).fill(1.2))).toBe(4);
    expect(seedBatchSize(Array(20).fill(3))).toBe(1);
  });
  it('runs long seeds one per activity', () => {
    expect(seedBatchSize(Array(20).fill(BATCH_SECONDS * 0.75))).toBe(1);
    expect(seedBatchSize(Array(20).fill(600))).toBe(1);
  });
  it('caps very short seeds at MAX_BATCH and counts 0 s seeds as 10 ms', () => {
    expect(seedBatchSize(Array(20).fill(0))).toBe(MAX_BATCH);
    expect(seedBatchSize(Array(20).fill(0.001))).toBe(MAX_BATCH);
  });
  it('sizes by the slow tail (90th percentile), not the median', () => {
    const mostlyFast = [...Array(17).fill(0.1), 4, 4, 4];
    expect(seedBatchSize(mostlyFast)).toBe(1);
  });
  it('ignores non-finite and negative durations', () => {
    expect(seedBatchSize([NaN, -1, Infinity, 1, 1, 1, 1])).toBe(1);
    expect(seedBatchSize([NaN, 1, 1, 1, 1, 1])).toBe(BATCH_SECONDS);
  });
});

describe('batchTake', () => {
  it('takes a whole batch while many seeds wait', () => {
    expect(batchTake(40, 5, 8)).toBe(5);
  });
  it('spreads the last seeds over the slots', () => {
    expect(batchTake(16, 5, 8)).toBe(2);
    expect(batchTake(3, 5, 8)).toBe(1);
  });
  it('shares the remaining work, not the queue: a short queue mid-campaign still fills a batch', () => {
    // 12 queued between strategy calls, 400 seeds left in the campaign: a whole batch.
    expect(batchTake(12, 5, 16, 400)).toBe(5);
    // Only what is there can be taken.
    expect(batchTake(3, 5, 16, 400)).toBe(3);
    // The end of the campaign: 32 seeds left over 16 slots, two each.
    expect(batchTake(32, 5, 16, 32)).toBe(2);
    // A remaining count below what is available (unknown budgets) counts what is available.
    expect(batchTake(40, 5, 8, 0)).toBe(5);
  });
  it('takes nothing when nothing waits, and at least one otherwise', () => {
    expect(batchTake(0, 5, 8)).toBe(0);
    expect(batchTake(1, 5, 0)).toBe(1);
  });
});
