/** What the runner and the lanes share: seeds not run, failure messages, when a trial started. */
import { ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import type { SeedResult } from '../../domain/schemas.js';
import type { Lifecycle } from './state/lifecycle.js';
import type { TrialRequest } from './state/requests.js';

/** Whether some seed of this campaign ran on a worker of the experiment's queue (shared, mutable). */
export interface QueueServed {
  yes: boolean;
}

/** When a trial started: its first seed's slot, then (batched) its first seed's real start. */
export interface TrialStart {
  at?: string;
  byWorker?: boolean;
}

/**
 * Admission, the one place it is asked: a trial starts when its first seed has a slot, not when
 * it was queued behind the slots. A search trial must then pass `Lifecycle.admission` (a budget
 * may have run out meanwhile: it does not start at all); references and verifications always
 * start. Returns why it was refused, or null once it started (`started.at` is set then).
 */
export function admit(
  lifecycle: Lifecycle,
  req: TrialRequest,
  started: TrialStart,
  nowMs: number,
): string | null {
  if (started.at !== undefined) return null;
  const refused = req.kind === 'search' ? lifecycle.admission(nowMs) : null;
  if (refused) return refused.detail;
  started.at = new Date(nowMs).toISOString();
  return null;
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
