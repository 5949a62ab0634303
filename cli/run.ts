/** Long-running processes: the worker and the API/UI server. */
import { Option, type Command } from 'commander';
import { recordServerAddress, writeDevTokens } from './api.js';

/**
 * Where the worker and the server find Temporal and MLflow unless told: the environment's, else
 * the local stack's (`gaplab stack up` on GAPLAB_TEMPORAL_PORT / GAPLAB_MLFLOW_PORT). Shown in
 * `--help` as the values the commands will use.
 */
export const defaults = {
  temporalAddress: () =>
    process.env.TEMPORAL_ADDRESS || `127.0.0.1:${process.env.GAPLAB_TEMPORAL_PORT || 7233}`,
  mlflowUri: () =>
    process.env.MLFLOW_TRACKING_URI || `http://127.0.0.1:${process.env.GAPLAB_MLFLOW_PORT || 5050}`,
};

/** Seconds a stopping worker lets running experiments finish (worker/index.ts's default). */
export const WORKER_SHUTDOWN_GRACE_SECONDS = 10;

const temporalOption = () =>
  new Option(
    '--temporal <address>',
    "Temporal frontend: TEMPORAL_ADDRESS, else the local stack's on GAPLAB_TEMPORAL_PORT (7233)",
  ).default(defaults.temporalAddress());
const mlflowOption = () =>
  new Option(
    '--mlflow <uri>',
    "MLflow tracking server: MLFLOW_TRACKING_URI, else the local stack's on GAPLAB_MLFLOW_PORT (5050)",
  ).default(defaults.mlflowUri());

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerRunCommands(program: Command): void {
  program
    .command('worker')
    .description('Run a worker: workflows, strategies, recording and experiments.')
    .addOption(temporalOption())
    .addOption(mlflowOption())
    .option('--task-queue <queue>', 'main task queue', 'gaplab')
    .option(
      '--experiment-queue <queue>',
      'also run experiments from this queue (repeatable)',
      collect,
    )
    .option('--no-main', 'poll only the experiment queues (e.g. a GPU pool)')
    .option('--max-activities <n>', 'experiment runs at once on this worker', (v) => Number(v), 16)
    .action(
      async (o: {
        temporal: string;
        mlflow: string;
        taskQueue: string;
        experimentQueue?: string[];
        main: boolean;
        maxActivities: number;
      }) => {
        // Loaded on use, so that `gaplab --help` and the API commands start fast.
        const { startWorker } = await import('../worker/index.js');
        const worker = await startWorker({
          temporalAddress: o.temporal,
          mlflowUri: o.mlflow,
          shutdownGraceSeconds: WORKER_SHUTDOWN_GRACE_SECONDS,
          taskQueue: o.taskQueue,
          pollMain: o.main,
          maxConcurrentActivities: o.maxActivities,
          ...(o.experimentQueue ? { experimentQueues: o.experimentQueue } : {}),
        });
        const queues = [...(o.main ? [o.taskQueue] : []), ...(o.experimentQueue ?? [])];
        console.log(
          `worker polling ${queues.join(', ')} (Ctrl-C stops it; running experiments are cancelled after ${WORKER_SHUTDOWN_GRACE_SECONDS} s)`,
        );
        const stop = () => void worker.shutdown();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await worker.done;
      },
    );

  program
    .command('server')
    .description('Run the HTTP API and web UI.')
    .option('--host <host>', 'address to bind (non-loopback needs tokens)', '127.0.0.1')
    .option('--port <port>', 'port', (v) => Number(v), 8700)
    .addOption(temporalOption())
    .addOption(mlflowOption())
    .option(
      '--dev-tokens',
      'generate one token per role, print them and save them for the local CLI',
    )
    .action(
      async (o: {
        host: string;
        port: number;
        temporal: string;
        mlflow: string;
        devTokens?: boolean;
      }) => {
        const { startServer } = await import('../server/server.js');
        const { ensureUiBuilt } = await import('./ui-build.js');
        await ensureUiBuilt((line) => console.log(line.trim()));
        const server = await startServer({
          config: {
            host: o.host,
            port: o.port,
            temporalAddress: o.temporal,
            mlflowUri: o.mlflow,
            ...(o.devTokens ? { devTokens: true } : {}),
          },
          handleSignals: true,
        });
        if (server.devTokens.length > 0) writeDevTokens(server.devTokens);
        recordServerAddress(server.url);
      },
    );
}
