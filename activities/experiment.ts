/**
 * The activities that run seeds of a registered experiment on a worker: one seed, or a batch of
 * short seeds back to back in one slot. Progress becomes
 * heartbeats (so a dead worker's seed moves elsewhere), Temporal cancellation kills the
 * experiment's process group, and an experiment's own failure is a `failed` result, not an
 * activity failure: activity attempts are for infrastructure only.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { Config } from '../domain/schemas.js';
import { UnknownExperimentError, type ExperimentRegistry } from '../experiments/registry.js';
import { activityFailure } from './failures.js';
import { runSeed, type ProcessGroupGuard } from '../experiments/runner.js';
import { isCodeExperiment, runCodeSeed } from '../experiments/code.js';
import { createSourceActivities, SourceNotFoundError, SourceStore } from './sources.js';
import type { ProgressUpdate, SeedRunResult } from '../experiments/types.js';
import type { MlflowClient } from '../mlflow-ts-client/index.js';

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
  /** Where full seed logs are uploaded (the campaign's run, `logRunId`); kept on disk only without it. */
  mlflow?: MlflowClient;
  /** Largest log file uploaded whole; a larger one is uploaded as its last this many bytes. @default 8388608 */
  maxLogUploadBytes?: number;
  /** Where code trials' snapshots are read. @default a SourceStore on `mlflow` and the state folder */
  sources?: SourceStore;
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
  /**
   * Characters of log tail the result carries (the end of stdout and stderr); the full logs
   * are uploaded to `logRunId`'s artifacts when given. @default 4096
   */
  tailChars?: number;
  /** MLflow run that receives the full logs, as `logs/<trial>/seed-<n>/{stdout,stderr}.log`. */
  logRunId?: string;
  /**
   * Code experiments: the snapshot to run, by content hash (activities/sources.ts), fetched from
   * the worker's cache, else from `logRunId`'s `sources/`. Absent: the initial source.
   */
  sourceHash?: string;
}

/** What one seed produced: the domain's SeedResult plus where the full logs are (domain/trial.ts). */
import type { ExperimentSeedResult } from '../domain/schemas.js';
export type { ExperimentSeedResult };

/** Several seeds run one after another in one slot (runExperimentSeeds). */
export interface RunExperimentSeedsInput {
  /** In the order they run. */
  jobs: RunExperimentSeedInput[];
  /** Epoch ms from which a seed that has not started is not run (the campaign's deadline). */
  notAfterMs?: number;
}

/** When a batched seed ran, by the worker's clock (0 and 0 for a seed not run). */
export interface SeedTiming {
  startedMs: number;
  endedMs: number;
}

/** results[i] and timings[i] belong to jobs[i]. */
export interface SeedBatchResult {
  results: ExperimentSeedResult[];
  timings: SeedTiming[];
}

/** A batch's heartbeat: the seeds done so far, and the running seed's progress. */
interface SeedBatchHeartbeat {
  done: ExperimentSeedResult[];
  timings: SeedTiming[];
  current?: SeedHeartbeat;
}

/** Heartbeat details: the latest progress, so a retry or a UI can see how far the seed got. */
export interface SeedHeartbeat {
  fraction?: number;
  message?: string;
  metrics?: Record<string, number>;
}

/** Drawn once per worker process: folder names cannot be worked back to trial ids. */
const FOLDER_KEY = randomBytes(32);

/** A trial's working folder name: an HMAC of its id under a key the worker holds. */
function opaqueFolder(trialId: string): string {
  return `run-${createHmac('sha256', FOLDER_KEY).update(trialId).digest('hex').slice(0, 20)}`;
}

function safeSegment(s: string): string {
  const cleaned = s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
  return cleaned === '' || /^\.+$/.test(cleaned) ? '_' : cleaned;
}

export function createExperimentActivities(deps: ExperimentActivityDeps) {
  const heartbeatEvery = deps.heartbeatIntervalMs ?? 2000;
  const throttle = deps.progressThrottleMs ?? 1000;
  const sources = deps.sources ?? new SourceStore(deps.mlflow ? { mlflow: deps.mlflow } : {});

  return {
    // Resolving edits needs the experiment's definition: it runs where the experiment runs.
    ...createSourceActivities({ registry: deps.registry, store: sources }),
    async runExperimentSeed(input: RunExperimentSeedInput): Promise<ExperimentSeedResult> {
      const ctx = Context.current();
      const { result, logs } = await runOne(input, (d) => ctx.heartbeat(d));
      const logArtifact = await logs;
      return { ...result, ...(logArtifact ? { logArtifact } : {}) };
    },

    /**
     * Several seeds in one slot, one after another (workflows/campaign/runner.ts batches short
     * seeds so a slot does not wait a round trip between them). Each seed runs as
     * runExperimentSeed would; a seed's own invalid input (unknown experiment, bad params) is a
     * failed seed here, not a failed batch. Heartbeats carry the seeds done so far, so a retry
     * after a lost worker runs only the rest. Full logs upload in the background while the next
     * seed runs. A cancelled batch ends with a CancelledFailure whose details hold the seeds it
     * finished (a SeedBatchResult of those), so a stop loses only the seed it interrupted.
     */
    async runExperimentSeeds(input: RunExperimentSeedsInput): Promise<SeedBatchResult> {
      const ctx = Context.current();
      const prior = ctx.info.heartbeatDetails as SeedBatchHeartbeat | undefined;
      const done: ExperimentSeedResult[] = Array.isArray(prior?.done) ? [...prior.done] : [];
      const timings: SeedTiming[] = Array.isArray(prior?.timings) ? [...prior.timings] : [];
      const uploads: (Promise<string | undefined> | undefined)[] = done.map(() => undefined);
      const finished = async (): Promise<SeedBatchResult> => {
        const artifacts = await Promise.all(uploads);
        return {
          results: done.map((r, i) => (artifacts[i] ? { ...r, logArtifact: artifacts[i] } : r)),
          timings,
        };
      };
      try {
        await runJobs();
      } catch (err) {
        if (!ctx.cancellationSignal.aborted) throw err;
        const cancelled = err instanceof CancelledFailure ? err : null;
        throw new CancelledFailure(cancelled?.message ?? String(err), [await finished()]);
      }
      return finished();

      async function runJobs(): Promise<void> {
        for (let i = done.length; i < input.jobs.length; i++) {
          const job = input.jobs[i]!;
          if (input.notAfterMs !== undefined && Date.now() >= input.notAfterMs) {
            done.push({
              seed: job.seed,
              status: 'cancelled',
              metrics: {},
              durationSeconds: 0,
              error: 'not run: the campaign deadline passed before its turn',
            });
            timings.push({ startedMs: 0, endedMs: 0 });
            uploads.push(undefined);
            continue;
          }
          const startedMs = Date.now();
          const beat = (current: SeedHeartbeat) =>
            ctx.heartbeat({ done, timings, current } satisfies SeedBatchHeartbeat);
          try {
            const { result, logs } = await runOne(job, beat);
            done.push(result);
            uploads.push(logs);
          } catch (err) {
            // Only a seed's own bad input fails it alone; infrastructure errors retry the batch.
            if (!(err instanceof ApplicationFailure) || !err.nonRetryable) throw err;
            done.push({
              seed: job.seed,
              status: 'failed',
              metrics: {},
              durationSeconds: 0,
              error: err.message,
            });
            uploads.push(undefined);
          }
          timings.push({ startedMs, endedMs: Date.now() });
          ctx.heartbeat({ done, timings } satisfies SeedBatchHeartbeat);
          // A cancellation between two seeds ends the batch before the next one starts.
          if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        }
      }
    },
  };

  /**
   * Runs one seed: checks its input, runs it with heartbeats (progress, and a beat at least every
   * `heartbeatEvery` so cancellation gets through), and starts the upload of its full logs.
   */
  async function runOne(
    input: RunExperimentSeedInput,
    heartbeat: (details: SeedHeartbeat) => void,
  ): Promise<{ result: ExperimentSeedResult; logs: Promise<string | undefined> }> {
    const ctx = Context.current();
    let def;
    try {
      def = deps.registry.get(input.experiment);
    } catch (err) {
      if (err instanceof UnknownExperimentError)
        throw activityFailure('UnknownExperiment', err.message);
      throw err;
    }
    const params = Config.safeParse(input.params);
    if (!params.success)
      throw activityFailure(
        'InvalidParams',
        `invalid params: ${params.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    if (!Number.isInteger(input.seed))
      throw activityFailure('InvalidParams', `seed must be an integer, got ${input.seed}`);

    const attempt = ctx.info.attempt;
    // The trial's folder is named by an opaque digest, not its id: a function or command
    // experiment sees its folder (GAPLAB_OUTPUT_DIR), and a name such as `v0012` would tell a
    // verification run from a search run.
    const outDir = path.join(
      deps.workDir,
      safeSegment(input.campaignId ?? 'adhoc'),
      opaqueFolder(input.trialId ?? ctx.info.activityId),
      `seed-${input.seed}${attempt > 1 ? `-attempt-${attempt}` : ''}`,
    );

    const latest: SeedHeartbeat = {};
    let lastSent = 0;
    const beat = (): void => {
      lastSent = Date.now();
      heartbeat({ ...latest });
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
      const seedOpts = {
        seed: input.seed,
        outDir,
        signal: ctx.cancellationSignal,
        onProgress,
        objective: input.objective,
        ...(deps.guard ? { guard: deps.guard } : {}),
        ...(input.timeoutSeconds !== undefined ? { timeoutSeconds: input.timeoutSeconds } : {}),
      };
      if (input.sourceHash === undefined) result = await runSeed(def, params.data, seedOpts);
      else {
        if (!isCodeExperiment(def))
          throw activityFailure(
            'InvalidParams',
            `sourceHash: experiment ${input.experiment} has no editable source`,
          );
        let source;
        try {
          source = await sources.get(input.sourceHash, input.logRunId);
        } catch (err) {
          // Permanent: retrying the seed cannot bring back a snapshot that was never stored.
          if (err instanceof SourceNotFoundError)
            throw activityFailure('InvalidParams', err.message);
          throw err;
        }
        // The harness runs the candidate in the sandbox; without one the seed fails with
        // SandboxUnavailableError naming what is missing, never unsandboxed.
        result = await runCodeSeed(def, source, params.data, seedOpts);
      }
    } finally {
      clearInterval(timer);
    }
    if (result.status === 'cancelled' && ctx.cancellationSignal.aborted) {
      // Temporal's convention: a cancelled activity ends by rethrowing its CancelledFailure
      // (the signal's reason), not by returning as if it had finished.
      const reason: unknown = ctx.cancellationSignal.reason;
      throw reason instanceof Error ? reason : new CancelledFailure(String(reason));
    }
    const tailChars = input.tailChars ?? 4096;
    if (result.logTail && result.logTail.length > tailChars)
      result = { ...result, logTail: result.logTail.slice(-tailChars) };
    ctx.log.info('experiment seed finished', {
      experiment: input.experiment,
      seed: input.seed,
      status: result.status,
      durationSeconds: result.durationSeconds,
      ...(result.error ? { error: result.error } : {}),
    });
    return { result: { seed: input.seed, ...result }, logs: uploadLogs(input, result) };
  }

  /**
   * Uploads a seed's full stdout and stderr to the campaign's MLflow run; returns where
   * (`runs:/<run>/logs/<trial>/seed-<n>`), or undefined when there is nothing or nowhere to
   * upload. A failed upload keeps the logs on the worker's disk and never fails the seed.
   */
  async function uploadLogs(
    input: RunExperimentSeedInput,
    result: SeedRunResult,
  ): Promise<string | undefined> {
    if (!deps.mlflow || !input.logRunId || !result.stdoutPath) return undefined;
    const dir = `logs/${safeSegment(input.trialId ?? 'adhoc')}/seed-${input.seed}`;
    const max = deps.maxLogUploadBytes ?? 8 * 1024 * 1024;
    try {
      for (const [file, name] of [
        [result.stdoutPath, 'stdout.log'],
        [result.stderrPath, 'stderr.log'],
      ] as const) {
        if (!file) continue;
        const size = (await stat(file).catch(() => null))?.size;
        if (size === undefined) continue;
        const bytes = await readFile(file);
        await deps.mlflow.uploadArtifact(
          input.logRunId,
          `${dir}/${name}`,
          size > max ? bytes.subarray(size - max) : bytes,
          'text/plain; charset=utf-8',
        );
      }
      return `runs:/${input.logRunId}/${dir}`;
    } catch (err) {
      Context.current().log.warn('seed logs not uploaded (kept on the worker)', {
        error: (err as Error).message,
      });
      return undefined;
    }
  }
}
