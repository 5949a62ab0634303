/**
 * What an experiment is, to the workers that run it. A problem spec only ever names an
 * experiment registered here; it can never make a worker run a command it does not know.
 */
import type { z } from 'zod';
import type { Config, SeedRun } from '../domain/schemas.js';

/** Keeps track of live experiment process groups (the worker's ProcessGuard). */
export interface ProcessGroupGuard {
  /** Called right after the command starts; its pid is its process group id. */
  register(pgid: number): void;
  /** Called once nothing of the group is left. */
  release(pgid: number): void;
}

/** A progress report from a running seed; becomes a Temporal heartbeat. */
export interface ProgressUpdate {
  /** Share of the work done, in [0, 1]. */
  fraction?: number;
  message?: string;
  /**
   * Intermediate metrics: merged into the final metrics unless overwritten; with `step`, a point
   * of each metric's learning curve instead (not merged).
   */
  metrics?: Record<string, number>;
  /** The step (epoch, iteration) `metrics` were measured at: a non-negative integer. */
  step?: number;
}

/** What a function experiment receives for one seed. */
export interface RunContext {
  seed: number;
  /** A folder this seed may write to (artifacts, logs); created before the run. */
  outDir: string;
  /** Aborted on cancellation or timeout: stop promptly (throwing is fine). */
  signal: AbortSignal;
  progress(p: ProgressUpdate): void;
  /**
   * Ends the seed as pruned at `stage` of a cascade (1 = the first) once the run returns: the
   * candidate scored `score` there, below the stage's threshold. The metrics returned are that
   * stage's; the objective need not be among them. The last call wins. runSeed gives it to
   * every function experiment.
   */
  prune?(stage: number, score: number | null): void;
  /** Told about each process group the run starts while it lives, so it dies with the worker. */
  guard?: ProcessGroupGuard;
}

export interface MetricInfo {
  name: string;
  description: string;
  direction?: 'maximize' | 'minimize';
}

/** A command experiment's argv after placeholders were resolved at load time. */
export interface CommandRunner {
  kind: 'command';
  /** Executable and arguments; no shell ever sees them. */
  argv: string[];
  /** Working directory. @default the experiment's folder */
  cwd?: string;
  /** Environment variables set for the command. */
  env?: Record<string, string>;
  /**
   * Names of worker environment variables the command needs (e.g. CUDA_VISIBLE_DEVICES); only
   * these and PATH, HOME, LANG, LC_ALL, TZ and TMPDIR are inherited.
   */
  passEnv?: string[];
}

export interface FunctionRunner {
  kind: 'function';
  run(params: Config, ctx: RunContext): Promise<Record<string, number>>;
}

export type Runner = FunctionRunner | CommandRunner;

export interface ExperimentDefinition {
  name: string;
  description: string;
  metrics: MetricInfo[];
  /** Per-seed time limit when the caller gives none. */
  defaultTimeoutSeconds: number;
  /** Task queue whose workers can run this experiment (e.g. a GPU pool); the default queue when absent. */
  taskQueue?: string;
  runner: Runner;
  /** Built-in problem spec and criteria (YAML file paths) shipped with the experiment. */
  problem?: { spec: string; criteria: string };
  /**
   * The parameters the experiment accepts, as a strict zod object. When given, a problem spec
   * whose space, baseline or configurations name any other parameter is refused at submission
   * (see experiments/params.ts), rather than every trial failing later.
   */
  params?: z.ZodObject;
}

/** An experiment as the registry holds it: the definition and where it came from. */
export interface RegisteredExperiment extends ExperimentDefinition {
  /** The experiment's folder. */
  dir: string;
  /** The definition file (experiment.yaml or experiment.ts). */
  source: string;
}

/** A seed's result as a runner returns it: the domain's `SeedRun` view of `SeedResult`. */
export type SeedRunResult = SeedRun;
