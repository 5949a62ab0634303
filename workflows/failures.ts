/**
 * Rejections from workflow code, typed by name from the one failure table (domain/failure-types).
 * An update validator's rejection is never retried by Temporal: it goes back to the caller, so
 * it is always non-retryable; RateLimited tells the caller to try again later.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { can, PERMISSIONS, refusalText, type Action } from '../api/permissions.js';
import { failureTypeOf, type FailureType } from '../domain/failure-types.js';

/** The failure an update validator throws: `throw reject('Conflict', 'the campaign has stopped')`. */
export function reject(type: FailureType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

/**
 * The rejection for an error raised by pure code (a TypedFailure, or anything naming a failure
 * type along its cause chain); `fallback` when it names none.
 */
export function rejectFrom(err: unknown, fallback: FailureType): ApplicationFailure {
  const message = err instanceof Error ? err.message : String(err);
  return reject(failureTypeOf(err) ?? fallback, message);
}

/**
 * Throws Forbidden unless the permission table (api/permissions) lets the actor's role take the
 * action: validators check the same table as the API. `what` completes "<name> (<role>) may not".
 */
export function requirePermission(
  actor: { name: string; role: string },
  action: Action,
  what: string,
): void {
  if (!can(actor.role, action))
    throw reject('Forbidden', refusalText(PERMISSIONS[action], what, actor));
}
