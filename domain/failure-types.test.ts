import { describe, expect, it } from 'vitest';
import {
  FAILURE_TYPES,
  FAILURE_TYPE_NAMES,
  TypedFailure,
  failureTypeOf,
  isFailureType,
  nonRetryableTypes,
} from './failure-types.js';

describe('failure types', () => {
  it('every type says what it means and who throws it', () => {
    for (const name of FAILURE_TYPE_NAMES) {
      const d = FAILURE_TYPES[name];
      expect(d.meaning.length, name).toBeGreaterThan(10);
      expect(d.thrownBy.length, name).toBeGreaterThan(0);
    }
  });

  it('isFailureType knows the table and nothing else', () => {
    expect(isFailureType('NotFound')).toBe(true);
    expect(isFailureType('toString')).toBe(false);
    expect(isFailureType('StrategyFatal')).toBe(false);
    expect(isFailureType(undefined)).toBe(false);
  });

  it('failureTypeOf walks the cause chain to the first named type', () => {
    const inner = Object.assign(new Error('unknown trial t9'), { type: 'NotFound' });
    const activity = new Error('activity failed', { cause: inner });
    const outer = new Error('update failed', { cause: activity });
    expect(failureTypeOf(outer)).toBe('NotFound');
    expect(failureTypeOf(new TypedFailure('Conflict', 'x'))).toBe('Conflict');
    expect(failureTypeOf({ code: 'Forbidden' })).toBe('Forbidden');
  });

  it('failureTypeOf ignores unknown types and survives cycles', () => {
    const a = Object.assign(new Error('a'), { type: 'error' }) as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(failureTypeOf(a)).toBeUndefined();
    expect(failureTypeOf('NotFound')).toBeUndefined();
    expect(failureTypeOf(null)).toBeUndefined();
  });

  it('the experiment activity stops retrying on exactly its non-retryable types', () => {
    expect(nonRetryableTypes('experiment')).toEqual(['UnknownExperiment', 'InvalidParams']);
    expect(nonRetryableTypes('update')).not.toContain('RateLimited');
  });
});
