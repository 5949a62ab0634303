/**
 * Activity failures, typed by name from the one failure table (domain/failure-types). Whether
 * Temporal retries follows the table, and the activity presets (workflows/options.ts) stop on
 * the same non-retryable names.
 */
import { ApplicationFailure } from '@temporalio/common';
import { FAILURE_TYPES, type FailureType } from '../domain/failure-types.js';

/** `throw activityFailure('UnknownExperiment', err.message)`. */
export function activityFailure(type: FailureType, message: string): ApplicationFailure {
  return FAILURE_TYPES[type].retryable
    ? ApplicationFailure.retryable(message, type)
    : ApplicationFailure.nonRetryable(message, type);
}
