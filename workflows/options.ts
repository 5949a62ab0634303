/**
 * Named activity-option presets. Timeouts and retry policies are chosen per kind of work:
 * experiments heartbeat so a dead worker's runs move elsewhere; recording retries without limit
 * so an MLflow outage delays the record but never loses it; strategy calls fail fast on bad
 * input and leave rate limits to the SDK.
 */
import type { ActivityOptions } from '@temporalio/workflow';
import { nonRetryableTypes } from '../domain/failure-types.js';

/**
 * MLflow recording runs on a queue of its own next to the main one, polled with a small
 * concurrency: a slow or unreachable MLflow then holds up only the records, never the
 * experiments or the strategy calls waiting for a worker slot.
 */
export const recordingQueue = (mainQueue: string): string => `${mainQueue}-recording`;

/**
 * How long a seed may wait for a worker of its queue. Seeds also wait here while every worker of
 * the queue is busy, so it is generous; the campaign's concurrency budget keeps that wait short
 * when workers exist.
 */
export const DEFAULT_SCHEDULE_TO_START_SECONDS = 1800;

export const presets = {
  /**
   * One seed of one configuration. startToClose is set per call from the experiment's timeout;
   * scheduleToStart bounds the wait for a worker polling the experiment's queue, so a spec on a
   * queue nobody polls fails instead of waiting forever.
   */
  experimentRun: (
    timeoutSeconds: number,
    heartbeatTimeoutSeconds: number,
    taskQueue: string,
    scheduleToStartSeconds: number = DEFAULT_SCHEDULE_TO_START_SECONDS,
  ): ActivityOptions => ({
    taskQueue,
    scheduleToStartTimeout: `${scheduleToStartSeconds}s`,
    startToCloseTimeout: `${Math.ceil(timeoutSeconds + 60)}s`,
    heartbeatTimeout: `${heartbeatTimeoutSeconds}s`,
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      // A worker that dies mid-run is retried elsewhere; an experiment that fails reports a
      // failed seed instead of throwing, so attempts here are for infrastructure only. Bad input
      // (an unknown experiment, invalid params) is not retried.
      maximumAttempts: 5,
      nonRetryableErrorTypes: nonRetryableTypes('experiment'),
    },
    cancellationType: 'WAIT_CANCELLATION_COMPLETED' as never,
  }),
  /**
   * A strategy's proposal step (LLM calls, Optuna, random). What no retry can fix (bad key,
   * unknown model price) comes back as the result's `fatalError`, so every throw is retried.
   * A retry reads the spend of the attempt before it from its heartbeat details.
   */
  strategyCall: (timeoutSeconds = 900): ActivityOptions => ({
    startToCloseTimeout: `${timeoutSeconds}s`,
    heartbeatTimeout: '2m',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 4,
      nonRetryableErrorTypes: nonRetryableTypes('strategy'),
    },
  }),
  /**
   * Resolving a code hypothesis's edits to a stored snapshot, on the experiment's queue (it
   * needs the experiment's definition). Edits that do not apply are a result, not a throw, so
   * attempts are for infrastructure (MLflow, a lost worker) only.
   */
  sourceResolve: (taskQueue: string, scheduleToStartSeconds: number): ActivityOptions => ({
    taskQueue,
    scheduleToStartTimeout: `${scheduleToStartSeconds}s`,
    startToCloseTimeout: '2m',
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '20s',
      maximumAttempts: 5,
      nonRetryableErrorTypes: nonRetryableTypes('experiment'),
    },
  }),
  /**
   * Drawing the secret verification seeds (activities/seeds.ts): instant on any worker of the
   * campaign's queue, retried until one answers.
   */
  drawSeeds: (): ActivityOptions => ({
    startToCloseTimeout: '30s',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' },
  }),
  /**
   * A campaign's webhook message (activities/notify.ts `sendWebhook`, 5 s per attempt): four
   * attempts, 1 s, 2 s and 4 s apart, all within a minute, so an endpoint that is down costs the
   * campaign a warning, never its end. A refusal (4xx) is not retried.
   */
  notify: (): ActivityOptions => ({
    startToCloseTimeout: '15s',
    scheduleToCloseTimeout: '1m',
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '4s',
      maximumAttempts: 4,
      nonRetryableErrorTypes: nonRetryableTypes('notify'),
    },
  }),
  /** MLflow recording: retried until MLflow is back. */
  recording: (mainQueue: string): ActivityOptions => ({
    taskQueue: recordingQueue(mainQueue),
    startToCloseTimeout: '2m',
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '20s' },
  }),
} as const;
