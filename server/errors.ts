/** Errors the service layer raises, each with the HTTP status the API answers with. */
import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowExecutionAlreadyStartedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';

export type ServiceErrorCode =
  | 'InvalidInput'
  | 'NotFound'
  | 'Forbidden'
  | 'Conflict'
  | 'Unauthorized'
  | 'RateLimited'
  | 'Unavailable';

const STATUS: Record<ServiceErrorCode, number> = {
  InvalidInput: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  Conflict: 409,
  RateLimited: 429,
  Unavailable: 503,
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
    this.status = STATUS[code];
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
    const cause = err.cause;
    if (cause instanceof ApplicationFailure) {
      const code = (
        ['InvalidInput', 'NotFound', 'Forbidden', 'Conflict', 'RateLimited'] as const
      ).find((c) => c === cause.type);
      return new ServiceError(code ?? 'Conflict', cause.message);
    }
    return new ServiceError('Conflict', err.message);
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
