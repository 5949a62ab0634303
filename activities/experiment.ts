/**
 * The activity that runs one seed of a registered experiment on a worker. Progress becomes
 * heartbeats (so a dead worker's seed moves elsewhere), Temporal cancellation kills the
 * experiment's process group, and an experiment's own failure is a `failed` result, not an
 * activity failure: activity attempts are for infrastructure only.
 */
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Config } from '../domain/schemas.js';
import { UnknownExperimentError, type ExperimentRegistry } from '../experiments/registry.js';
import { runSeed, type ProcessGroupGuard } from '../experiments/runner.js';
import type { ProgressUpdate, SeedRunResult } from '../experiments/types.js';

export interface ExperimentActivityDeps {
  registry: ExperimentRegistry;
  /** Root folder for seeds' params, metrics and logs: `<workDir>/<campaign>/<trial>/seed-<n>`. */
  workDir: string;
  /** Heartbeats are sent at least this often while a seed runs, progress or not. @default 2000 */
  heartbeatIntervalMs?: number;
  /** Progress heartbeats are sent at most this often. @default 1000 */
  progressThrottleMs?: number;
  /** Kills experiment process groups when the worker dies (the worker's ProcessGuard). */
  guard?: ProcessGroupGuard;
}

export interface RunExperimentSeedInput {
  experiment: string;
  params: Config;
  seed: number;
  /** The objective metric: a seed that does not report it failed. */
  objective: string;
  /** @default the experiment's defaultTimeoutSeconds */
  timeoutSeconds?: number;
  campaignId?: string;
  trialId?: string;
}

/** What one seed produced; the domain's SeedResult plus where the full logs are. */
export type ExperimentSeedResult = SeedRunResult & { seed: number };

/** Heartbeat details: the latest progress, so a retry or a UI can see how far the seed got. */
export interface SeedHeartbeat {
  fraction?: number;
  message?: string;
  metrics?: Record<string, number>;
}

function safeSegment(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
  return cleaned === '' || /^\.+$/.test(cleaned) ? '_' : cleaned;
}

export function createExperimentActivities(deps: ExperimentActivityDeps) {
  const heartbeatEvery = deps.heartbeatIntervalMs ?? 2000;
  const throttle = deps.progressThrottleMs ?? 1000;

  return {
    async runExperimentSeed(input: RunExperimentSeedInput): Promise<ExperimentSeedResult> {
      const ctx = Context.current();
      let def;
      try {
        def = deps.registry.get(input.experiment);
      } catch (err) {
        if (err instanceof UnknownExperimentError)
          throw ApplicationFailure.nonRetryable(err.message, 'UnknownExperiment');
        throw err;
      }
      const params = Config.safeParse(input.params);
      if (!params.success)
        throw ApplicationFailure.nonRetryable(
          `invalid params: ${params.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
          'InvalidParams',
        );
      if (!Number.isInteger(input.seed))
        throw ApplicationFailure.nonRetryable(
          `seed must be an integer, got ${input.seed}`,
          'InvalidParams',
        );

      const attempt = ctx.info.attempt;
      const outDir = path.join(
        deps.workDir,
        safeSegment(input.campaignId ?? 'adhoc'),
        safeSegment(input.trialId ?? ctx.info.activityId),
        `seed-${input.seed}${attempt > 1 ? `-attempt-${attempt}` : ''}`,
      );

      const latest: SeedHeartbeat = {};
      let lastSent = 0;
      const beat = (): void => {
        lastSent = Date.now();
        ctx.heartbeat({ ...latest });
      };
      const onProgress = (p: ProgressUpdate): void => {
        if (p.fraction !== undefined) latest.fraction = p.fraction;
        if (p.message !== undefined) latest.message = p.message;
        if (p.metrics) latest.metrics = { ...latest.metrics, ...p.metrics };
        if (Date.now() - lastSent >= throttle) beat();
      };
      beat();
      // Also beat without progress lines: a long silent seed must not look like a dead worker,
      // and cancellation only reaches activities that heartbeat.
      const timer = setInterval(beat, heartbeatEvery);
      let result: SeedRunResult;
      try {
        result = await runSeed(def, params.data, {
          seed: input.seed,
          outDir,
          signal: ctx.cancellationSignal,
          onProgress,
          objective: input.objective,
          ...(deps.guard ? { guard: deps.guard } : {}),
          ...(input.timeoutSeconds !== undefined ? { timeoutSeconds: input.timeoutSeconds } : {}),
        });
      } finally {
        clearInterval(timer);
      }
      if (result.status === 'cancelled' && ctx.cancellationSignal.aborted) {
        // Temporal's convention: a cancelled activity ends by rethrowing its CancelledFailure
        // (the signal's reason), not by returning as if it had finished.
        const reason: unknown = ctx.cancellationSignal.reason;
        throw reason instanceof Error ? reason : new CancelledFailure(String(reason));
      }
      ctx.log.info('experiment seed finished', {
        experiment: input.experiment,
        seed: input.seed,
        status: result.status,
        durationSeconds: result.durationSeconds,
        ...(result.error ? { error: result.error } : {}),
      });
      return { seed: input.seed, ...result };
    },
  };
}
