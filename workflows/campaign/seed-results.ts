/** What the runner and the lanes share: seeds not run, failure messages, when a trial started. */
import { ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import type { SeedResult } from '../../domain/schemas.js';

/** Whether some seed of this campaign ran on a worker of the experiment's queue (shared, mutable). */
export interface QueueServed {
  yes: boolean;
}

/** When a trial started: its first seed's slot, then (batched) its first seed's real start. */
export interface TrialStart {
  at?: string;
  byWorker?: boolean;
}

/** A seed that did not run (a budget ran out, a stop, a lost batch), with the reason. */
export function notRun(
  seed: number,
  error: string,
  status: 'cancelled' | 'failed' = 'cancelled',
): SeedResult {
  return { seed, status, metrics: {}, durationSeconds: 0, error };
}

/** The activity waited its whole schedule-to-start timeout without a worker taking it. */
export function isScheduleToStart(err: unknown): boolean {
  return (
    err instanceof Error &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === 'SCHEDULE_TO_START'
  );
}

export function failureMessage(err: unknown): string {
  if (err instanceof ApplicationFailure && err.message) return err.message;
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}
