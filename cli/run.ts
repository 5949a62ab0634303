/** Long-running processes: the worker and the API/UI server. */
import type { Command } from 'commander';
import { recordServerAddress, writeDevTokens } from './api.js';

export const defaults = {
  temporalAddress: () =>
    process.env.TEMPORAL_ADDRESS ?? `127.0.0.1:${process.env.GAPLAB_TEMPORAL_PORT ?? 7233}`,
  mlflowUri: () =>
    process.env.MLFLOW_TRACKING_URI ?? `http://127.0.0.1:${process.env.GAPLAB_MLFLOW_PORT ?? 5050}`,
};

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerRunCommands(program: Command): void {
  program
    .command('worker')
    .description('Run a worker: workflows, strategies, recording and experiments.')
    .option(
      '--temporal <address>',
      'Temporal frontend (default TEMPORAL_ADDRESS or 127.0.0.1:7233)',
    )
    .option(
      '--mlflow <uri>',
      'MLflow tracking server (default MLFLOW_TRACKING_URI or http://127.0.0.1:5050)',
    )
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
        temporal?: string;
        mlflow?: string;
        taskQueue: string;
        experimentQueue?: string[];
        main: boolean;
        maxActivities: number;
      }) => {
        // Loaded on use, so that `gaplab --help` and the API commands start fast.
        const { startWorker } = await import('../worker/index.js');
        const worker = await startWorker({
          temporalAddress: o.temporal ?? defaults.temporalAddress(),
          mlflowUri: o.mlflow ?? defaults.mlflowUri(),
          taskQueue: o.taskQueue,
          pollMain: o.main,
          maxConcurrentActivities: o.maxActivities,
          ...(o.experimentQueue ? { experimentQueues: o.experimentQueue } : {}),
        });
        const queues = [...(o.main ? [o.taskQueue] : []), ...(o.experimentQueue ?? [])];
        console.log(
          `worker polling ${queues.join(', ')} (Ctrl-C stops it; running experiments are cancelled after 10 s)`,
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
    .option('--temporal <address>', 'Temporal frontend')
    .option('--mlflow <uri>', 'MLflow tracking server')
    .option(
      '--dev-tokens',
      'generate one token per role, print them and save them for the local CLI',
    )
    .action(
      async (o: {
        host: string;
        port: number;
        temporal?: string;
        mlflow?: string;
        devTokens?: boolean;
      }) => {
        const { startServer } = await import('../server/server.js');
        const { ensureUiBuilt } = await import('./ui-build.js');
        await ensureUiBuilt((line) => console.log(line.trim()));
        const server = await startServer({
          config: {
            host: o.host,
            port: o.port,
            temporalAddress: o.temporal ?? defaults.temporalAddress(),
            mlflowUri: o.mlflow ?? defaults.mlflowUri(),
            ...(o.devTokens ? { devTokens: true } : {}),
          },
          handleSignals: true,
        });
        if (server.devTokens.length > 0) writeDevTokens(server.devTokens);
        recordServerAddress(server.url);
      },
    );
}
