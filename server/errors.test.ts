/** Failure types map to HTTP statuses by name, however the failure reaches the API. */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { FAILURE_TYPE_NAMES, TypedFailure, type FailureType } from '../domain/failure-types.js';
import { toErrorResponse } from './error-handler.js';
import { HTTP_STATUS, ServiceError, fromTemporal } from './errors.js';

const EXPECTED: Record<FailureType, number> = {
  InvalidInput: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  RateLimited: 429,
  Unavailable: 503,
  UnknownExperiment: 400,
  InvalidParams: 400,
  WebhookRefused: 502,
};

const updateFailed = (type: string, message: string) =>
  new WorkflowUpdateFailedError('update failed', ApplicationFailure.nonRetryable(message, type));

describe('failure type -> HTTP status', () => {
  it('every type has its status', () => {
    expect(HTTP_STATUS).toEqual(EXPECTED);
  });

  it.each(FAILURE_TYPE_NAMES)('%s from a workflow, raw or through fromTemporal', (type) => {
    const message = 'something went wrong';
    for (const err of [
      updateFailed(type, message),
      fromTemporal(updateFailed(type, message), 'campaign c1'),
    ]) {
      const res = toErrorResponse(err, 'r1');
      expect(res.status, type).toBe(EXPECTED[type]);
      expect(res.body.error).toBe(type);
      expect(res.body.message).toBe(message);
      expect(res.internal).toBe(false);
    }
  });

  it.each(FAILURE_TYPE_NAMES)(
    '%s from pure code (TypedFailure) inside an activity failure',
    (type) => {
      const inner = new TypedFailure(type, 'x: bad');
      const wrapped = new ActivityFailure(
        'activity failed',
        'runExperimentSeed',
        '1',
        RetryState.NON_RETRYABLE_FAILURE,
        undefined,
        inner,
      );
      for (const err of [inner, wrapped]) {
        const res = toErrorResponse(err, 'r1');
        expect(res.status).toBe(EXPECTED[type]);
        expect(res.body).toMatchObject({ error: type, message: 'x: bad' });
      }
    },
  );

  it.each(FAILURE_TYPE_NAMES)('%s as a service error', (type) => {
    const res = toErrorResponse(new ServiceError(type, 'nope'), 'r1');
    expect(res.status).toBe(EXPECTED[type]);
    expect(res.body).toMatchObject({ error: type, message: 'nope' });
  });

  it('the name decides, never the message', () => {
    const res = toErrorResponse(
      updateFailed('Conflict', 'parentTrialId: unknown trial t9 (not found)'),
      'r1',
    );
    expect(res.status).toBe(409);
    const notFound = toErrorResponse(updateFailed('NotFound', 'the campaign is busy'), 'r1');
    expect(notFound.status).toBe(404);
  });

  it('an InvalidInput failure lists its field issues', () => {
    const res = toErrorResponse(
      updateFailed('InvalidInput', 'budgets.maxTrials: too small; text: empty'),
      'r1',
    );
    expect(res.body.issues).toEqual([
      { path: 'budgets.maxTrials', message: 'too small' },
      { path: 'text', message: 'empty' },
    ]);
  });

  it('a validator rejection of an unknown type is a 409 through fromTemporal, a 500 raw', () => {
    expect(toErrorResponse(fromTemporal(updateFailed('Mystery', 'm'), 'c'), 'r1').status).toBe(409);
    expect(toErrorResponse(updateFailed('Mystery', 'm'), 'r1').status).toBe(500);
  });

  it("fastify's own 4xx errors take the failure type of their status", () => {
    const err = Object.assign(new Error('Route GET:/nope not found'), { statusCode: 404 });
    expect(toErrorResponse(err, 'r1').body.error).toBe('NotFound');
    const big = Object.assign(new Error('too large'), { statusCode: 413 });
    expect(toErrorResponse(big, 'r1').body.error).toBe('PayloadTooLarge');
    const bad = Object.assign(new Error('bad json'), { statusCode: 400 });
    expect(toErrorResponse(bad, 'r1').body.error).toBe('InvalidInput');
  });
});
