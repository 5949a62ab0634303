import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { FAILURE_TYPES, FAILURE_TYPE_NAMES, failureTypeOf } from '../domain/failure-types.js';
import { activityFailure } from './failures.js';

describe('activityFailure', () => {
  it.each(FAILURE_TYPE_NAMES)(
    '%s is retried by Temporal exactly when the table says so',
    (type) => {
      const f = activityFailure(type, 'why');
      expect(f).toBeInstanceOf(ApplicationFailure);
      expect(f.type).toBe(type);
      expect(f.message).toBe('why');
      expect(f.nonRetryable).toBe(!FAILURE_TYPES[type].retryable);
      expect(failureTypeOf(f)).toBe(type);
    },
  );
});
