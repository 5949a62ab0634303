/**
 * The gaplab worker: the one place that wires real clients into the activities. It polls the
 * main task queue (workflows, strategies, recording, experiments) and, optionally, extra queues
 * for experiments only (e.g. a GPU pool).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  bundleWorkflowCode,
  type LogEntry,
  type LogLevel,
  type WorkflowBundle,
  type WorkflowBundleOption,
} from '@temporalio/worker';
import { createActivities } from '../activities/index.js';
import { createRecordingActivities } from '../activities/recording.js';
import { recordingQueue } from '../workflows/options.js';
import { createExperimentActivities } from '../activities/experiment.js';
import { SourceStore } from '../activities/sources.js';
import { OptunaService } from '../activities/strategies/index.js';
import { loadRegistry, type ExperimentRegistry } from '../experiments/registry.js';
import { ensureHarnessSecret } from '../experiments/lib/secret.js';
import { MlflowClient } from '../mlflow-ts-client/index.js';
import { PROJECT_ROOT, STATE_DIR } from '../stack/paths.js';
import { mlflowCredentialsOption } from '../stack/mlflow-auth.js';
import { ProcessGuard } from './process-guard.js';
import { dataConverter } from '../temporal/data-converter.js';

export const DEFAULT_TASK_QUEUE = 'gaplab';
/** The workflow code, bundled from its sources by the worker (from the build too). */
export const WORKFLOWS_PATH = path.join(PROJECT_ROOT, 'workflows', 'index.ts');

export interface WorkerOptions {
  temporalAddress: string;
  /** @default 'default' */
  namespace?: string;
  /** Main queue: workflows and every activity. @default 'gaplab' */
  taskQueue?: string;
  /** Extra queues this worker runs experiments from (and nothing else). */
  experimentQueues?: string[];
  /** Also poll the main queue. Off for experiment-only workers. @default true */
  pollMain?: boolean;
  mlflowUri: string;
  /** Where experiment runs keep their files. @default <state>/runs */
  workDir?: string;
  /** Experiment runs at once on this worker (campaign budgets limit each campaign too). @default 16 */
  maxConcurrentActivities?: number;
  /** MLflow records written at once (their own queue, so a slow MLflow never blocks experiments). @default 4 */
  maxConcurrentRecordings?: number;
  /** Pre-built workflow bundle (tests bundle once per suite). */
  workflowBundle?: WorkflowBundleOption;
  registry?: ExperimentRegistry;
  /** Anthropic client factory; defaults to ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL from the environment. */
  anthropic?: () => Anthropic;
  identity?: string;
  /** Seconds a shutdown waits for running activities before cancelling them. @default 10 */
  shutdownGraceSeconds?: number;
  /** Worker log level. @default GAPLAB_WORKER_LOG_LEVEL or 'WARN' */
  logLevel?: LogLevel;
  /**
   * A file the worker's log lines (Temporal's SDK and the workflow bundler) are appended to, for
   * a program that keeps its own output clean (the demo). The first worker of a process decides.
   * @default stderr
   */
  logFile?: string;
  /**
   * Registry of live experiment process groups, shared by the workers of one machine: a worker
   * that starts kills what dead predecessors left behind. @default <state>/run/experiment-groups
   */
  processRegistryDir?: string;
}

/** "2026-01-01T00:00:00.000Z [WARN] message {meta}" appended to `file`. */
export function fileLogFunction(file: string): (entry: LogEntry) => void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return (entry) => {
    const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
    let meta = '';
    if (entry.meta && Object.keys(entry.meta).length > 0) {
      meta = ` ${JSON.stringify(entry.meta, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`;
    }
    fs.appendFileSync(file, `${time} [${entry.level}] ${entry.message}${meta}\n`);
  };
}

let runtimeInstalled = false;
/** Installs the SDK runtime once per process with the chosen log level (and file). */
function installRuntime(level: LogLevel, logFile: string | undefined): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      logger: logFile
        ? new DefaultLogger(level, fileLogFunction(logFile))
        : new DefaultLogger(level),
    });
  } catch {
    // Already installed by the embedding program: keep its logger.
  }
}

export interface RunningWorker {
  workers: Worker[];
  /** Resolves when every worker has stopped. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

let bundlePromise: Promise<WorkflowBundle> | undefined;
/** Bundles the workflow code once per process; its warnings go to `logFile` when given. */
export function workflowBundle(logFile?: string): Promise<WorkflowBundle> {
  bundlePromise ??= bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: logFile ? new DefaultLogger('WARN', fileLogFunction(logFile)) : quietLogger,
  });
  return bundlePromise;
}

const quietLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  installRuntime(
    opts.logLevel ?? (process.env.GAPLAB_WORKER_LOG_LEVEL as LogLevel | undefined) ?? 'WARN',
    opts.logFile,
  );
  // Created here if missing, so code experiments never start without it (experiments/lib/secret.ts).
  ensureHarnessSecret();
  const connection = await NativeConnection.connect({ address: opts.temporalAddress });
  const namespace = opts.namespace ?? 'default';
  const registry = opts.registry ?? (await loadRegistry());
  const workDir = opts.workDir ?? path.join(STATE_DIR, 'runs');
  // Experiment processes die with this worker, even on SIGKILL; see process-guard.ts.
  const guard = await ProcessGuard.start({
    registryDir: opts.processRegistryDir ?? path.join(STATE_DIR, 'run', 'experiment-groups'),
  });
  const identity = opts.identity ?? `gaplab-worker@${os.hostname()}:${process.pid}`;
  const mlflow = new MlflowClient({
    trackingUri: opts.mlflowUri,
    ...mlflowCredentialsOption(opts.mlflowUri),
  });
  const anthropic =
    opts.anthropic ??
    (() =>
      new Anthropic({
        ...(process.env.ANTHROPIC_API_KEY ? { apiKey: process.env.ANTHROPIC_API_KEY } : {}),
        ...(process.env.ANTHROPIC_BASE_URL ? { baseURL: process.env.ANTHROPIC_BASE_URL } : {}),
      }));
  const common = {
    connection,
    namespace,
    identity,
    dataConverter,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 16,
    shutdownGraceTime: `${opts.shutdownGraceSeconds ?? 10}s`,
    // Heartbeat details reach the server within 2 s: a strategy call records its spend in them
    // before each LLM request, and a retry after a timeout reads them back (the SDK's default
    // would hold them up to 60 s).
    maxHeartbeatThrottleInterval: '2s',
  } as const;

  const workers: Worker[] = [];
  // One long-lived Optuna process per worker, closed with it.
  const optuna = new OptunaService();
  if (opts.pollMain !== false) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: opts.taskQueue ?? DEFAULT_TASK_QUEUE,
        workflowBundle: opts.workflowBundle ?? (await workflowBundle(opts.logFile)),
        activities: createActivities({
          experiments: { registry, workDir, guard, mlflow },
          strategies: { anthropic, optuna, code: { registry, store: new SourceStore({ mlflow }) } },
          mlflow,
        }),
      }),
      await Worker.create({
        ...common,
        taskQueue: recordingQueue(opts.taskQueue ?? DEFAULT_TASK_QUEUE),
        maxConcurrentActivityTaskExecutions: opts.maxConcurrentRecordings ?? 4,
        activities: createRecordingActivities({ mlflow }),
      }),
    );
  }
  for (const queue of opts.experimentQueues ?? []) {
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: queue,
        activities: createExperimentActivities({ registry, workDir, guard, mlflow }),
      }),
    );
  }
  if (workers.length === 0) {
    guard.close();
    throw new Error(
      'the worker polls no task queue: enable the main queue or name experiment queues',
    );
  }

  const done = Promise.all(workers.map((w) => w.run()))
    .then(() => undefined)
    .finally(async () => {
      guard.close();
      await optuna.close();
      await connection.close();
    });
  return {
    workers,
    done,
    async shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done;
    },
  };
}
