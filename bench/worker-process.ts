/**
 * A gaplab worker in a process of its own, so the benchmarks can measure its memory apart from
 * the client's. Started by bench/context.ts with its options as JSON in GAPLAB_BENCH_WORKER;
 * sends {type: 'ready'} over IPC once polling, answers {type: 'memory'} requests, and shuts down
 * on {type: 'shutdown'} or when the parent goes away.
 */
import { startWorker, type WorkerOptions } from '../worker/index.js';
import { benchRegistry } from './experiments.js';

export type WorkerProcessOptions = Pick<
  WorkerOptions,
  'temporalAddress' | 'mlflowUri' | 'taskQueue' | 'maxConcurrentActivities' | 'workDir'
>;

export type ParentMessage = { type: 'memory'; id: number } | { type: 'shutdown' };
export type ChildMessage =
  | { type: 'ready' }
  | { type: 'memory'; id: number; rss: number; heapUsed: number; external: number }
  | { type: 'error'; message: string };

const send = (m: ChildMessage): void => {
  process.send?.(m);
};

async function main(): Promise<void> {
  const raw = process.env.GAPLAB_BENCH_WORKER;
  if (!raw || !process.send)
    throw new Error(
      'bench/worker-process.ts is started by bench/context.ts (IPC and GAPLAB_BENCH_WORKER needed)',
    );
  const opts = JSON.parse(raw) as WorkerProcessOptions;
  const worker = await startWorker({
    ...opts,
    registry: await benchRegistry(),
    shutdownGraceSeconds: 2,
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await worker.shutdown();
    process.exit(0);
  };
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'shutdown') void stop();
    else if (m.type === 'memory') {
      const mem = process.memoryUsage();
      send({
        type: 'memory',
        id: m.id,
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        external: mem.external,
      });
    }
  });
  // The parent died without saying goodbye: do not linger.
  process.on('disconnect', () => void stop());
  send({ type: 'ready' });
  await worker.done;
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  console.error(err);
  process.exit(1);
});
