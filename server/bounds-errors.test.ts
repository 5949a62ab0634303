/** The update limits answer 429 ("retry shortly"), never 409 or 500. */
import { ServiceError as TemporalRpcError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { toErrorResponse } from './error-handler.js';
import { fromTemporal } from './errors.js';

describe('update limits over HTTP', () => {
  it("a campaign's refusal near the per-run update limit is a 429", () => {
    const err = new WorkflowUpdateFailedError(
      'update failed',
      ApplicationFailure.nonRetryable('too many updates in this run, retry shortly', 'RateLimited'),
    );
    const res = toErrorResponse(fromTemporal(err, 'campaign c1'), 'r1');
    expect(res.status).toBe(429);
    expect(res.body).toMatchObject({ error: 'RateLimited', message: /retry shortly/ });
  });

  it("Temporal's RESOURCE_EXHAUSTED (too many updates in flight or in the run) is a 429", () => {
    const cause = Object.assign(new Error('limit on number of total updates has been reached'), {
      code: 8,
    });
    const err = new TemporalRpcError('update rejected', { cause });
    const res = toErrorResponse(fromTemporal(err, 'campaign c1'), 'r1');
    expect(res.status).toBe(429);
    expect(res.body.message).toMatch(/retry shortly/);
    expect(res.internal).toBe(false);
  });
});
