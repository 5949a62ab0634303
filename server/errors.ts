/** Errors the service layer raises, each with the HTTP status the API answers with. */
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowExecutionAlreadyStartedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { failureTypeOf, type FailureType } from '../domain/failure-types.js';

/** A service error's code is a failure type's name. */
export type ServiceErrorCode = FailureType;

/** The HTTP status of each failure type, wherever it was thrown. */
export const HTTP_STATUS: Readonly<Record<FailureType, number>> = {
  InvalidInput: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  RateLimited: 429,
  Unavailable: 503,
  // Activity failures reach the API only inside another error; both describe bad input.
  UnknownExperiment: 400,
  InvalidParams: 400,
  // A campaign's webhook refused a message: an upstream's answer, never the caller's fault.
  WebhookRefused: 502,
};

/** Thrown when a request cannot be served as asked; `status` is the HTTP answer. */
export class ServiceError extends Error {
  readonly status: number;
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceError';
    this.status = HTTP_STATUS[code];
  }
}

/** Maps Temporal client errors (validator rejections, unknown workflows) to ServiceErrors. */
export function fromTemporal(err: unknown, what: string): unknown {
  if (err instanceof ServiceError) return err;
  if (err instanceof WorkflowNotFoundError)
    return new ServiceError('NotFound', `${what} not found`);
  if (err instanceof WorkflowExecutionAlreadyStartedError)
    return new ServiceError('Conflict', `${what} exists already`);
  if (err instanceof WorkflowUpdateFailedError) {
    // A validator's rejection, answered by its failure type's name.
    const cause = err.cause;
    const type = failureTypeOf(cause);
    const message = cause instanceof ApplicationFailure ? cause.message : err.message;
    return new ServiceError(type ?? 'Conflict', message);
  }
  const message = err instanceof Error ? err.message : String(err);
  // An update or query to a workflow that has closed.
  if (/workflow execution already completed|already completed/i.test(message)) {
    return new ServiceError('Conflict', `${what} has finished`);
  }
  if (/not found/i.test(message) && /workflow/i.test(message))
    return new ServiceError('NotFound', `${what} not found`);
  return err;
}
